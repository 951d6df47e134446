/**
 * The Krylov layer: solvers that touch an operator only through matvec/matmat.
 * `LinearOperator.eigsh/solve` reach this module lazily (src/operators/krylov-bridge.ts).
 */
export { cg, CgNoConvergence, type CgBreakdown, type CgOptions, type CgResult, type IterationProgress } from './cg.js';
export { refinedCg, DEFAULT_INNER_RTOL, MAX_REFINEMENT_CONTRACTION, type RefinedCgOptions, type RefinedCgResult, type RefinementProgress } from './refine.js';
export { minres, type MinresOptions, type MinresResult } from './minres.js';
export { eigsh, EigshNoConvergence, type EigshOptions, type EigshProgress, type EigshResult, type Which } from './eigsh.js';
export { lobpcg, type LobpcgOptions, type LobpcgResult } from './lobpcg.js';
export { SingularShiftError } from './shift-invert.js';
export {
  tridiagonalEigen,
  symmetricEigen,
  TridiagonalNoConvergence,
  type TridiagonalEigenOptions,
  type TridiagonalEigenResult,
} from './tridiagonal.js';
export { mulberry32 } from './random.js';
