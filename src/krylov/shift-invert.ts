/**
 * The shift-invert operator OP = (A − σI)⁻¹ of eigsh, and how it is applied.
 *
 * Where A − σI has a cheap dense form that fits the memory budget, it is materialised once and factored once —
 * Cholesky (WASM SIMD, src/cpu/dense-cholesky.ts) when positive definite, else LU with partial pivoting
 * (src/cpu/dense-lu.ts), as scipy's eigsh factors a dense A (LAPACK getrf) — and every application of OP is two
 * triangular solves: exact to rounding, so the outer Lanczos tolerance can be the dtype's. Otherwise each
 * application is an inner minres solve (cg on request) to a tolerance that follows the outer one, as scipy's
 * iterative OPinv does. Either way a singular A − σI (σ an eigenvalue of A) is reported, never solved silently
 * in the least-squares sense.
 */
import { CholeskySolver, choleskyUpperWasm } from '../cpu/dense-cholesky.js';
import { luFactor, luSolve } from '../cpu/dense-lu.js';
import { defaultDenseCacheBytes } from '../cpu/memory-pool.js';
import { DenseOperator, DiagonalOperator, IdentityOperator, ZeroOperator } from '../operators/dense.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import {
  ScaledOperator, ShiftedOperator, SumOperator, TransposedOperator, type LinearOperator,
} from '../operators/linear-operator.js';
import { matrixToRowMajor } from '../operators/validate.js';
import { cg } from './cg.js';
import { minres } from './minres.js';
import { applyColumns } from './util.js';

export type SigmaSolver = 'auto' | 'dense' | 'cg' | 'minres';

/** Operators whose products are generic (no cheap dense form) are materialised by products only up to this order. */
export const MATERIALISE_BY_PRODUCTS_MAX_N = 1024;

/** Inner iterative solves stop after this many iterations at most (a restart stays bounded). */
export const INNER_MAXITER_CAP = 2000;

/** The dense factorisation keeps about four n×n float64 arrays alive at its peak (A − σI, the WASM copy, R, the solver's copy). */
const DENSE_FACTOR_COPIES = 4;

export interface ShiftInvert {
  /** y = (A − σI)⁻¹ x. */
  apply(x: Float64Array): Promise<Float64Array>;
  /** 'cholesky' | 'lu' (dense factor) or 'cg' | 'minres' (inner iterative solves). */
  readonly kind: 'cholesky' | 'lu' | 'cg' | 'minres';
  /** Products with A spent so far (materialisation by products, inner iterations). */
  innerMatvecs(): number;
  /** ‖A − σI‖_∞ (≥ its 2-norm) where the matrix was materialised: eigsh checks true residuals against it. */
  readonly normBound?: number;
}

/** A − σI is singular: σ is (to working precision) an eigenvalue of A. */
export class SingularShiftError extends Error {
  constructor(message: string, readonly sigma: number) {
    super(message);
    this.name = 'SingularShiftError';
  }
}

/** A's dense row-major form from its structure (dense, diagonal, kernel entries and their algebra), or undefined. */
async function structuralDense(A: LinearOperator): Promise<Float64Array | undefined> {
  const n = A.shape[0];
  if (A instanceof ShiftedOperator || A instanceof ScaledOperator) {
    const base = await structuralDense(A.base);
    if (!base) return undefined;
    if (A instanceof ScaledOperator) for (let i = 0; i < base.length; i++) base[i]! *= A.factor;
    else for (let i = 0; i < n; i++) base[i * n + i]! += A.alpha;
    return base;
  }
  if (A instanceof SumOperator) {
    let sum: Float64Array | undefined;
    for (const part of A.parts) {
      const d = await structuralDense(part);
      if (!d) return undefined;
      if (!sum) sum = d;
      else for (let i = 0; i < d.length; i++) sum[i]! += d[i]!;
    }
    return sum;
  }
  if (A instanceof TransposedOperator) {
    const d = await structuralDense(A.original);
    if (!d) return undefined;
    const t = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = d[i * n + j]!;
    return t;
  }
  const cheap = A instanceof DenseOperator || A instanceof DiagonalOperator || A instanceof IdentityOperator
    || A instanceof ZeroOperator || A instanceof KernelOperator;
  return cheap ? matrixToRowMajor(await A.toDense()) : undefined;
}

/** Whether A − σI is materialised and factored (the 'dense' solver): it must fit the budget, and have a cheap dense form or a small order. */
function denseFits(n: number): boolean {
  return n * n * 8 * DENSE_FACTOR_COPIES <= defaultDenseCacheBytes();
}

/** A as row-major n×n: from its structure, else by products with the identity (n of them, counted). */
async function materialise(A: LinearOperator, n: number, allowProducts: boolean, counter: { matvecs: number }): Promise<Float64Array | undefined> {
  const d = await structuralDense(A);
  if (d || !allowProducts) return d;
  const out = new Float64Array(n * n);
  const block = 64;
  for (let j0 = 0; j0 < n; j0 += block) {
    const cols = Array.from({ length: Math.min(block, n - j0) }, (_, c) => {
      const e = new Float64Array(n);
      e[j0 + c] = 1;
      return e;
    });
    const ys = await applyColumns(A, cols);
    counter.matvecs += cols.length;
    ys.forEach((y, c) => { for (let i = 0; i < n; i++) out[i * n + j0 + c] = y[i]!; });
  }
  return out;
}

function singular(fn: string, sigma: number, detail: string): SingularShiftError {
  return new SingularShiftError(
    `${fn}: A − σI is singular for sigma = ${sigma} (${detail}): sigma is an eigenvalue of A; move sigma off it (e.g. by a relative 1e-8)`,
    sigma,
  );
}

/** Factors A − σI once (Cholesky, else pivoted LU); throws SingularShiftError on an exactly zero pivot. */
async function denseShiftInvert(fn: string, M: Float64Array, n: number, sigma: number, counter: { matvecs: number }): Promise<ShiftInvert> {
  for (let i = 0; i < n; i++) M[i * n + i]! -= sigma;
  // symmetrise against rounding in the materialisation (the caller checked A's symmetry)
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) M[i * n + j] = M[j * n + i] = 0.5 * (M[i * n + j]! + M[j * n + i]!);
  let normBound = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(M[i * n + j]!);
    normBound = Math.max(normBound, s);
  }
  const R = await choleskyUpperWasm(M, n);
  if (R) {
    const solver = await CholeskySolver.create(R, n);
    return { kind: 'cholesky', normBound, innerMatvecs: () => counter.matvecs, apply: async (x) => solver.solveInPlace(Float64Array.from(x), 1) };
  }
  const out = luFactor(M, n);
  if ('singularColumn' in out) throw singular(fn, sigma, `the LU factor's pivot ${out.singularColumn} is exactly zero`);
  const { factors } = out;
  return {
    kind: 'lu',
    normBound,
    innerMatvecs: () => counter.matvecs,
    apply: async (x) => {
      const y = luSolve(factors, x);
      if (!y.every(Number.isFinite)) throw singular(fn, sigma, 'the solve with its LU factor overflowed');
      return y;
    },
  };
}

export interface ShiftInvertOptions {
  solver: SigmaSolver;
  /** Relative tolerance of the inner iterative solves. */
  innerRtol: number;
}

/** OP = (A − σI)⁻¹ for eigsh: a dense factor where it fits, else inner iterative solves (see the module comment). */
export async function shiftInvert(fn: string, A: LinearOperator, n: number, sigma: number, options: ShiftInvertOptions): Promise<ShiftInvert> {
  const counter = { matvecs: 0 };
  const { solver, innerRtol } = options;
  if (solver === 'dense' || (solver === 'auto' && denseFits(n))) {
    const M = await materialise(A, n, solver === 'dense' || n <= MATERIALISE_BY_PRODUCTS_MAX_N, counter);
    if (M) return denseShiftInvert(fn, M, n, sigma, counter);
    if (solver === 'dense') throw new RangeError(`${fn}: sigmaSolver 'dense' could not materialise ${A}`);
  }
  const maxiter = Math.min(10 * n, INNER_MAXITER_CAP);
  const shifted = A.shift(-sigma);
  if (solver === 'cg') {
    return {
      kind: 'cg',
      innerMatvecs: () => counter.matvecs,
      apply: async (x) => {
        const r = await cg(shifted, x, { rtol: innerRtol, maxiter });
        counter.matvecs += r.matvecs;
        if (r.info !== 0) {
          throw new Error(`${fn}: inner cg solve of (A − ${sigma}·I) y = v failed (info ${r.info}: ${r.message}); A − σI may be indefinite or singular: use sigmaSolver 'minres' or 'dense'`);
        }
        return r.x;
      },
    };
  }
  // minres's estimate of ‖A − σI‖, the largest seen: eigsh checks true residuals against it
  let anorm = 0;
  return {
    kind: 'minres',
    innerMatvecs: () => counter.matvecs,
    get normBound() {
      return anorm > 0 ? anorm : undefined;
    },
    apply: async (x) => {
      const r = await minres(A, x, { shift: sigma, rtol: innerRtol, maxiter });
      counter.matvecs += r.matvecs;
      anorm = Math.max(anorm, r.anorm);
      // istop 1 (a solution) or 3 (accuracy at eps); 2 (least squares), 4/5 (cond ≥ 0.1/eps) mean a singular A − σI
      if (r.istop === 2 || r.istop === 4 || r.istop === 5) throw singular(fn, sigma, `inner minres: ${r.message}`);
      // istop 3 with info > 0: the residual is at the accuracy float64 attains (‖A − σI‖·‖y‖·eps), above an rtol of 2·eps
      if (r.info !== 0 && r.istop !== 3) {
        throw new Error(`${fn}: inner minres solve of (A − ${sigma}·I) y = v did not converge (${r.message}, ${r.iterations} iterations, rtol ${innerRtol}); A − σI may be nearly singular: try sigmaSolver 'dense', a larger tol, or sigma further from the eigenvalues`);
      }
      return r.x;
    },
  };
}
