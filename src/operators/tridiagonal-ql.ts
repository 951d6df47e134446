/**
 * The small dense kernels of the solvers' projected eigenproblems (krylov/tridiagonal.ts: QL sweeps, the sort,
 * Householder reduction, the thick restart's rotation) in WebAssembly where the host
 * runs it: like the Lanczos basis (basis.ts), where that work runs is the CPU backend's business
 * (cpu/tridiagonal-ql.ts), so the solvers, which know no backend, reach it here.
 */
export { householderInWasm, prepareQl, qlInWasm, RESCUE_AFTER, unrotateInWasm } from '../cpu/tridiagonal-ql.js';
