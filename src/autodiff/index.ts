/**
 * Gradients: vector–Jacobian products of kernel products and solves (the adjoint method), and the derivative
 * operators they are made of. `KernelOperator.matvecWithVjp/solveWithVjp` reach this module lazily
 * (src/operators/autodiff-bridge.ts).
 */
export { matvecWithVjp, solveWithVjp } from './vjp.js';
export { parameterDerivativeOperator, pointDerivativeOperators, differentiableParameters, pointScale } from './kernel-derivatives.js';
export { pairGradients } from './pair-gradients.js';
