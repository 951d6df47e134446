/**
 * The shapes of the vector–Jacobian products of a kernel operator (src/autodiff implements them; DESIGN.md
 * "Gradients through a solve"). Here, below autodiff, so that KernelOperator's conveniences are typed.
 */
import type { Matrix } from 'ml-matrix';
import type { SolveResultLike } from './krylov-bridge.js';
import type { BlockLike, VectorLike } from './types.js';

/** ∂L/∂(what K is made of): its points and its parameters. */
export interface KernelGradients {
  /** ∂L/∂x (n×d), in the coordinates of the points as given; for a symmetric K (y omitted: y is x) both roles added. */
  x: Matrix;
  /** ∂L/∂y (m×d), for a K with its own y. */
  y?: Matrix;
  /** ∂L/∂θ for every differentiable parameter: 'sigma' (kernels of r/σ) and each scalar Pm by name. */
  params: Record<string, number>;
}

export interface MatvecVjpGradients extends KernelGradients {
  /** ∂L/∂v = Kᵀ ȳ (a vector, or m×k for a block v). */
  v: Float64Array | Matrix;
}

export interface MatvecWithVjp<Y extends Float64Array | Matrix = Float64Array | Matrix> {
  /** y = K v. */
  y: Y;
  /** The gradients of L given ȳ = ∂L/∂y (y's shape). */
  vjp(ybar: VectorLike | BlockLike): Promise<MatvecVjpGradients>;
}

export interface SolveVjpGradients extends KernelGradients {
  /** ∂L/∂b = λ = (K + αI)⁻ᵀ x̄. */
  b: Float64Array | Matrix;
  /** ∂L/∂α = −λᵀx. */
  alpha: number;
  /** The adjoint solve's result (with `returnInfo`). */
  info?: SolveResultLike;
}

export interface SolveWithVjp<X extends Float64Array | Matrix = Float64Array | Matrix> {
  /** x = (K + αI)⁻¹ b. */
  x: X;
  /** The forward solve's result (with `returnInfo`). */
  info?: SolveResultLike;
  /** The gradients of L given x̄ = ∂L/∂x (x's shape): one adjoint solve with the forward solve's preconditioner. */
  vjp(xbar: VectorLike | BlockLike): Promise<SolveVjpGradients>;
}
