/**
 * Gradients: vector–Jacobian products of kernel products and solves (the adjoint method), and the derivative
 * operators they are made of. `KernelOperator.matvecWithVjp/solveWithVjp` reach this module lazily
 * (src/operators/autodiff-bridge.ts).
 */
export { matvecWithVjp, solveWithVjp } from './vjp.js';
export { parameterDerivativeOperator, pointDerivativeOperators, differentiableParameters, pointScale } from './kernel-derivatives.js';
export { pairGradients } from './pair-gradients.js';
// log-determinants (a dense Cholesky, or stochastic Lanczos quadrature) and the Gaussian-process likelihood (with gradients)
export {
  logdet, inverseQuadLogdet, logdetPreconditioner, LOGDET_PRECONDITIONERS, LOGDET_AUTO_MIN_N, SlqNoConvergence,
  type LogdetOptions, type LogdetResult, type InverseQuadLogdetOptions, type InverseQuadLogdetResult, type LogdetPreconditionerChoice,
  type SlqPartialResult,
} from './slq.js';
export { gpNegativeLogMarginalLikelihood, type GpOptions, type GpResult } from './gp.js';
export { logdetRoute, GP_DENSE_MAX_N, type GpMethod } from './policy.js';
