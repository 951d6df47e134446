/**
 * Vector–Jacobian products of a kernel operator's product and solve (DESIGN.md "Gradients through a solve"):
 *   y = K v:             ∂L/∂v = Kᵀȳ, and ȳᵀ K v differentiated through K's points and parameters;
 *   x = (K + αI)⁻¹ b:    λ = (K + αI)⁻ᵀ x̄ (one adjoint solve, by the same solve policy and cached preconditioner),
 *                        ∂L/∂b = λ, ∂L/∂α = −λᵀx, and −λᵀ K x differentiated through K (pair-gradients.ts).
 * Vectors give vectors and blocks (n×k) give blocks, as the products and `solve` do.
 */
import type { Matrix } from 'ml-matrix';
import { CgNoConvergence, type CgResult } from '../krylov/cg.js';
import { Block } from '../operators/block.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import { matmatBlock, rmatmatBlock } from '../operators/linear-operator.js';
import type { BlockLike, VectorLike } from '../operators/types.js';
import { assertFiniteScalar, atLeastOneColumn, describeValue, toBlock, toVector } from '../operators/validate.js';
import type { MatvecVjpGradients, MatvecWithVjp, SolveVjpGradients, SolveWithVjp } from '../operators/vjp-types.js';
import { solveShifted, warnUnverifiedFloat32, type SolveOptions, type SolveResult } from '../preconditioners/solve.js';
import { pairGradients } from './pair-gradients.js';

const isBlockLike = (b: unknown): boolean =>
  (typeof b === 'object' && b !== null && 'columns' in b && 'rows' in b) || (Array.isArray(b) && b.length > 0 && Array.isArray(b[0]));

/** `value` as a Block of `rows` rows (a vector is one column), remembering which it was. */
function asBlock(value: VectorLike | BlockLike, rows: number, what: string): { block: Block; vector: boolean } {
  if (isBlockLike(value)) return { block: toBlock(value as BlockLike, rows, what), vector: false };
  const v = toVector(value as VectorLike, rows, what);
  return { block: new Block(v, rows, 1), vector: true };
}

/** The cotangent of a result of shape `like`: the same kind (vector or block) and the same shape, else an error naming both. */
function cotangent(value: VectorLike | BlockLike, like: { block: Block; vector: boolean }, what: string): Block {
  const rows = like.block.rows;
  if (like.vector && isBlockLike(value)) {
    throw new RangeError(`${what}: the result is a vector of length ${rows}, got a block (${describeValue(value)})`);
  }
  const { block } = asBlock(value, rows, what);
  if (block.cols !== like.block.cols) {
    throw new RangeError(`${what}: expected ${like.vector ? `a vector of length ${rows}` : `a ${rows}x${like.block.cols} block`}, got ${block.rows}x${block.cols}`);
  }
  return block;
}

/** Gradients with respect to points and parameters need a formula: a KernelOperator. */
function assertKernel(K: unknown, fn: string): void {
  if (!(K instanceof KernelOperator)) throw new TypeError(`${fn}: expected a KernelOperator, got ${describeValue(K)}`);
}

const out = (B: Block, vector: boolean): Float64Array | Matrix => (vector ? B.column(0).slice() : B.toMatrix());

/** y = K v and its VJP (see the module comment). */
export async function matvecWithVjp(K: KernelOperator, v: VectorLike | BlockLike): Promise<MatvecWithVjp> {
  assertKernel(K, 'matvecWithVjp');
  const input = asBlock(v, K.shape[1], 'matvecWithVjp (v)');
  const Y = await matmatBlock(K, input.block);
  const result = { block: Y, vector: input.vector };
  return {
    y: out(Y, input.vector),
    vjp: async (ybar): Promise<MatvecVjpGradients> => {
      const W = cotangent(ybar, result, 'matvecWithVjp vjp (ybar)');
      const gv = await rmatmatBlock(K, W);
      const pair = await pairGradients(K, W, input.block);
      return { v: out(gv, input.vector), ...pair };
    },
  };
}

type AnyResult = CgResult<Float64Array | Matrix, number[] | number[][]>;

/**
 * solveShifted with returnInfo; throws CgNoConvergence (the partial result) unless the caller asked for it — without
 * the plan, as `K.solve` throws it: the plan holds live operators (a preconditioner, a GPU device, pending promises),
 * so an error carrying it could not be cloned (structuredClone, a worker's postMessage, a test runner's report).
 */
async function solveChecked(K: KernelOperator, b: Float64Array | Matrix, alpha: number, options: SolveOptions, returnInfo: boolean): Promise<SolveResult> {
  const result = (await solveShifted(K, b, alpha, { ...options, returnInfo: true })) as SolveResult;
  if (!returnInfo && result.info !== 0) {
    const { plan: _plan, ...partial } = result;
    throw new CgNoConvergence(partial as AnyResult);
  }
  if (!returnInfo) warnUnverifiedFloat32(K, alpha, result);
  return result;
}

/** x = (K + αI)⁻¹ b and its VJP (see the module comment); `options` are `solve`'s. */
export async function solveWithVjp(K: KernelOperator, b: VectorLike | BlockLike, alpha = 0, options: SolveOptions = {}): Promise<SolveWithVjp> {
  assertKernel(K, 'solveWithVjp');
  assertFiniteScalar(alpha, 'solveWithVjp (alpha)');
  if (alpha < 0) throw new RangeError(`solveWithVjp: alpha must be ≥ 0 (K + αI with K positive semidefinite), got ${alpha}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`solveWithVjp: options must be an object, got ${describeValue(options)}`);
  const n = K.shape[0];
  const rhs = asBlock(b, n, 'solveWithVjp (b)');
  atLeastOneColumn(rhs.block, 'solveWithVjp');
  const returnInfo = options.returnInfo === true;
  const forward = await solveChecked(K, out(rhs.block, rhs.vector), alpha, options, returnInfo);
  const X = asBlock(forward.x as Float64Array | Matrix, n, 'solveWithVjp (x)').block;
  // the adjoint system (K + αI)ᵀ λ = x̄: K itself when symmetric, so its cached preconditioner and twin serve again
  const adjointOperator = K.symmetric ? K : (K.T as KernelOperator);
  const { x0: _x0, resume: _resume, ...adjointOptions } = options;
  return {
    x: forward.x as Float64Array | Matrix,
    ...(returnInfo ? { info: forward } : {}),
    vjp: async (xbar): Promise<SolveVjpGradients> => {
      const Xbar = cotangent(xbar, { block: X, vector: rhs.vector }, 'solveWithVjp vjp (xbar)');
      const adjoint = await solveChecked(adjointOperator, out(Xbar, rhs.vector), alpha, adjointOptions, returnInfo);
      const lambda = asBlock(adjoint.x as Float64Array | Matrix, n, 'solveWithVjp (λ)').block;
      const minusLambda = new Block(lambda.data.map((t) => -t), n, lambda.cols);
      let dot = 0;
      for (let t = 0; t < lambda.data.length; t++) dot += lambda.data[t]! * X.data[t]!;
      const pair = await pairGradients(K, minusLambda, X);
      return { b: out(lambda, rhs.vector), alpha: -dot, ...pair, ...(returnInfo ? { info: adjoint } : {}) };
    },
  };
}
