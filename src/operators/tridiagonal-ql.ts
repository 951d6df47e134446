/**
 * The QL sweeps of the solvers' small tridiagonal eigenproblems (krylov/tridiagonal.ts) in WebAssembly where the host
 * runs it: like the Lanczos basis (basis.ts), where that work runs is the CPU backend's business
 * (cpu/tridiagonal-ql.ts), so the solvers, which know no backend, reach it here.
 */
export { prepareQl, qlInWasm, RESCUE_AFTER } from '../cpu/tridiagonal-ql.js';
