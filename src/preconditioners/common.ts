/**
 * What every preconditioner shares: argument checks with messages that quote the value, the
 * operator base class (a symmetric LinearOperator applying P⁻¹ blockwise), and the Woodbury
 * inverse of a low-rank-plus-shift matrix.
 */
import type { CholeskySolver } from '../cpu/dense-cholesky.js';
import type { Block } from '../operators/block.js';
import { LinearOperator, matmatBlock } from '../operators/linear-operator.js';
import { aslinearoperator } from '../operators/aslinearoperator.js';
import { describeValue, formatShape } from '../operators/validate.js';
import { blockFromTall, choleskySolveInPlace, cross, mulSmall, tall, tallFromBlock, type Tall } from './dense.js';

export type OperatorLike = Parameters<typeof aslinearoperator>[0];

/** A value as it appears in messages: numbers verbatim (NaN, -2, 1.5), anything else described. */
export function show(v: unknown): string {
  return typeof v === 'number' ? String(v) : describeValue(v);
}

export function squareOperator(A: OperatorLike, fn: string): LinearOperator {
  if (A === undefined || A === null) throw new TypeError(`${fn}: expected an operator A, got ${String(A)}`);
  const op = A instanceof LinearOperator ? A : aslinearoperator(A);
  if (op.shape[0] !== op.shape[1]) {
    throw new RangeError(`${fn}: A must be square, got shape ${formatShape(op.shape)} (${op})`);
  }
  return op;
}

export function positiveShift(shift: unknown, fn: string): number {
  if (typeof shift !== 'number' || !Number.isFinite(shift) || shift <= 0) {
    throw new RangeError(`${fn}: shift must be a positive finite number (P approximates A + shift·I), got ${show(shift)}`);
  }
  return shift;
}

/** An integer rank with 1 ≤ rank < n (rank = n is a dense factorisation, not a preconditioner). */
export function checkRank(rank: unknown, n: number, fn: string, what = 'rank'): number {
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank >= n) {
    throw new RangeError(`${fn}: ${what} must be an integer with 1 ≤ ${what} < n = ${n}, got ${show(rank)}`);
  }
  return rank;
}

export function checkSeed(seed: unknown, fn: string): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new RangeError(`${fn}: seed must be an integer, got ${show(seed)}`);
  }
  return seed;
}

const onesEstimates = new WeakMap<LinearOperator, Promise<number>>();

/**
 * λ̂ = ‖A1‖/‖1‖, a lower bound on λ_max of a symmetric positive semi-definite A, from one product —
 * made once per operator (operators are immutable) and shared by the 'auto' CG bound, the
 * device-landmark shift and a GPU kernel operator's choice of compensated products in `solve`.
 */
export function onesRayleighEstimate(A: LinearOperator): Promise<number> {
  let p = onesEstimates.get(A);
  if (!p) {
    const n = A.shape[1];
    p = A.matvec(new Float64Array(n).fill(1)).then((y) => {
      let s2 = 0;
      for (let i = 0; i < y.length; i++) s2 += y[i]! * y[i]!;
      return Math.sqrt(s2 / n);
    });
    onesEstimates.set(A, p);
    p.catch(() => onesEstimates.delete(A));
  }
  return p;
}

export function checkPositive(v: unknown, fn: string, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${fn}: ${what} must be a positive finite number, got ${show(v)}`);
  }
  return v;
}

export function assertFiniteBlock(A: Tall, fn: string, what: string): void {
  const d = A.data;
  for (let t = 0; t < d.length; t++) {
    if (!Number.isFinite(d[t]!)) {
      throw new Error(`${fn}: ${what} has the non-finite value ${d[t]} at row ${Math.floor(t / A.cols)}, column ${t % A.cols}`);
    }
  }
}

/**
 * A preconditioner: the symmetric positive definite operator P⁻¹ ≈ (A + shift·I)⁻¹ (what `cg`'s
 * `M` applies). Subclasses implement `applyBlock` on row-major blocks; one code path serves
 * matvec and matmat (block CG applies M to all unconverged columns at once).
 */
export abstract class Preconditioner extends LinearOperator {
  /** μ, the shift: P approximates A + μI. */
  readonly mu: number;
  /** Wall time of the build in milliseconds. */
  buildMs = 0;

  constructor(n: number, shift: number) {
    super([n, n], 'float64', { symmetric: true });
    this.mu = shift;
  }

  /** P⁻¹ R for an n×k row-major block R (R is not modified). */
  protected abstract applyBlock(R: Tall): Promise<Tall>;

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    return (await this.applyBlock(tall(x.length, 1, x))).data;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    return blockFromTall(await this.applyBlock(tallFromBlock(X)));
  }
}

/**
 * A factor F (n×r) of a low-rank term, applied as F·Z and Fᵀ·R on row-major blocks: either
 * stored, or symbolic (kernel operators, never materialised).
 */
export interface Factor {
  readonly rank: number;
  apply(Z: Tall): Promise<Tall>; //   F Z   (r×k → n×k)
  applyT(R: Tall): Promise<Tall>; //  Fᵀ R  (n×k → r×k)
}

export function storedFactor(F: Tall): Factor {
  return {
    rank: F.cols,
    apply: async (Z) => mulSmall(F, Z.data, Z.cols),
    applyT: async (R) => tall(F.cols, R.cols, cross(F, R)),
  };
}

/** A factor given as an n×r operator (products of F and of Fᵀ, one for all columns). */
export function operatorFactor(F: LinearOperator, FT: LinearOperator): Factor {
  const run = async (op: LinearOperator, Z: Tall): Promise<Tall> => tallFromBlock(await matmatBlock(op, blockFromTall(Z)));
  return {
    rank: F.shape[1],
    apply: (Z) => run(F, Z),
    applyT: (R) => run(FT, R),
  };
}

/**
 * (F C Fᵀ + μI)⁻¹ by Woodbury, given the Cholesky factor R (upper) of S = μC⁻¹ + FᵀF:
 *   (μI + F C Fᵀ)⁻¹ = (1/μ) (I − F S⁻¹ Fᵀ).
 * With C = I this is the pivoted-Cholesky preconditioner (S = μI + LᵀL); with F = K_nm and
 * C = K_mm⁻¹ the landmark one (S = μK_mm + K_mn K_nm) — K_mm⁻¹ itself is never formed.
 */
export async function applyWoodbury(F: Factor, R: Float64Array | CholeskySolver, mu: number, X: Tall): Promise<Tall> {
  const T = await F.applyT(X);
  // S⁻¹: the JS substitution for small factors, the WASM one held in its memory for large ones
  if (R instanceof Float64Array) choleskySolveInPlace(R, F.rank, T.data as Float64Array, X.cols);
  else R.solveInPlace(T.data as Float64Array, X.cols);
  const FT = await F.apply(T);
  const out = new Float64Array(X.data.length);
  const x = X.data;
  const f = FT.data;
  for (let t = 0; t < out.length; t++) out[t] = (x[t]! - f[t]!) / mu;
  return tall(X.rows, X.cols, out);
}
