/**
 * What every preconditioner shares: the option fields their specs are made of (`parseOptions`), the
 * operator base class (a symmetric LinearOperator applying P⁻¹ blockwise), and the Woodbury
 * inverse of a low-rank-plus-shift matrix.
 */
import type { CholeskySolver } from '../cpu/dense-cholesky.js';
import { TallMatrix } from '../cpu/tall-product.js';
import { requireSymmetric } from '../krylov/symmetry.js';
import type { Block } from '../operators/block.js';
import { LinearOperator, matmatBlock } from '../operators/linear-operator.js';
import { aslinearoperator } from '../operators/aslinearoperator.js';
import { describeValue, formatShape } from '../operators/validate.js';
import { field, integer, OptionRangeError, positiveNumber, withDefault, type OptionField } from '../operators/options.js';
import { blockFromTall, choleskySolveInPlace, cross, mulSmall, tall, tallFromBlock, type Tall } from './dense.js';

export type OperatorLike = Parameters<typeof aslinearoperator>[0];

/** A value in a message: an operator by its description, anything else by its type and value. */
export function describeOperand(A: unknown): string {
  return A instanceof LinearOperator ? String(A) : describeValue(A);
}

export function squareOperator(A: OperatorLike, fn: string): LinearOperator {
  if (A === undefined || A === null) throw new TypeError(`${fn}: expected an operator A, got ${describeValue(A)}`);
  const op = A instanceof LinearOperator ? A : aslinearoperator(A);
  if (op.shape[0] !== op.shape[1]) {
    throw new RangeError(`${fn}: A must be square, got shape ${formatShape(op.shape)} (${op})`);
  }
  return op;
}

/**
 * Refuses a non-symmetric A — the low-rank preconditioners assume a symmetric one (they read A's columns as its rows): decided
 * by the structure, else by one seeded probe of three columns (src/krylov/symmetry.ts), within solve's tolerance.
 */
export function assertSymmetricOperator(op: LinearOperator, fn: string): Promise<void> {
  return requireSymmetric(op, fn, 'it approximates (A + shift·I)⁻¹ of a symmetric positive semidefinite A');
}

/** The shift μ > 0 of a preconditioner: P approximates A + μI. */
export const shiftField = positiveNumber;

/** A seed of a seeded choice (default 0). */
export const seedField = withDefault(integer(), 0);

/** A rank or a landmark count of an n×n operator: an integer with 1 ≤ r < n (r = n is a dense factorisation). */
export function rankBelow(n: number): OptionField<number> {
  return field<number>(`an integer with 1 ≤ r < n = ${n}`, (v) => typeof v === 'number', (v) => Number.isInteger(v) && v >= 1 && v < n);
}

/** The solve's right-hand side handed to a build (a Float64Array of length n). */
export function rhsField(n: number): OptionField<Float64Array> {
  return field<Float64Array>(`a Float64Array of length n = ${n}`, (v) => v instanceof Float64Array, (v) => v.length === n);
}

/** A byte budget ≥ 0. */
export const bytesField = field<number>('a number of bytes ≥ 0', (v) => typeof v === 'number', (v) => v >= 0);

/**
 * Refuses options that the chosen variant would ignore ("… applies to method 'landmarks' only"): each key of
 * `keys` given (not undefined) in `given`.
 */
export function refuseInapplicable(fn: string, given: Record<string, unknown>, keys: readonly string[], onlyFor: string): void {
  for (const key of keys) {
    if (given[key] !== undefined) throw new OptionRangeError(`${fn}: option '${key}' applies to ${onlyFor} only, got ${describeValue(given[key])}`, key);
  }
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

  /**
   * log det P, P the matrix whose inverse this applies, where its structure gives it exactly (the preconditioned
   * log-determinant estimator adds it to its estimate of log det P^{-1/2}(A + μI)P^{-1/2}); undefined where it does not.
   */
  logdet(): number | undefined {
    return undefined;
  }

  /**
   * tr(P⁻¹D) exactly (D = I where omitted): the control variate of stochastic trace estimates of tr(A⁻¹D). Where it
   * costs products with D (a low-rank P: D times its n×r factor, one pass of r columns), only when `products` is true;
   * undefined where unsupported.
   */
  async traceInverseProduct(_D?: LinearOperator, _products = false): Promise<number | undefined> {
    return undefined;
  }

  /**
   * k probes z (n×k) with E[z zᵀ] = P, for preconditioned stochastic estimators; undefined where unsupported. A
   * promise where the factor lives on a device.
   */
  sampleProbes(_k: number, _rng: () => number): Tall | Promise<Tall> | undefined {
    return undefined;
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    return (await this.applyBlock(tall(x.length, 1, x))).data;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    return blockFromTall(await this.applyBlock(tallFromBlock(X)));
  }
}

/**
 * c·P for a preconditioner P of B + μI: the preconditioner of c·B + cμ·I (an output scale, GPyTorch's ScaleKernel),
 * with P's structure carried over — log det(cP) = n·log c + log det P, probes √c·z, tr((cP)⁻¹D) = tr(P⁻¹D)/c. It
 * does not own P (a cache's, disposed there): the log-determinant of 2·(K + 0.1·I) took no preconditioner before,
 * with 30–100× the standard error of K + 0.1·I's at n = 1,001–1,500.
 */
export class ScaledPreconditioner extends Preconditioner {
  constructor(readonly inner: Preconditioner, readonly factor: number) {
    if (!(factor > 0 && Number.isFinite(factor))) throw new RangeError(`ScaledPreconditioner: the scale must be a positive finite number, got ${describeValue(factor)}`);
    super(inner.shape[0], factor * inner.mu);
  }

  protected override async applyBlock(R: Tall): Promise<Tall> {
    const Y = tallFromBlock(await matmatBlock(this.inner, blockFromTall(R)));
    const data = Float64Array.from(Y.data, (v) => v / this.factor);
    return tall(Y.rows, Y.cols, data);
  }

  override logdet(): number | undefined {
    const inner = this.inner.logdet();
    return inner === undefined ? undefined : inner + this.shape[0] * Math.log(this.factor);
  }

  override async traceInverseProduct(D?: LinearOperator, products = false): Promise<number | undefined> {
    const inner = await this.inner.traceInverseProduct(D, products);
    return inner === undefined ? undefined : inner / this.factor;
  }

  override sampleProbes(k: number, rng: () => number): Tall | Promise<Tall> | undefined {
    const scaled = (Z: Tall): Tall => tall(Z.rows, Z.cols, Float64Array.from(Z.data, (v) => v * Math.sqrt(this.factor)));
    const Z = this.inner.sampleProbes(k, rng);
    return Z === undefined ? undefined : Z instanceof Promise ? Z.then(scaled) : scaled(Z);
  }

  protected override describe(): string {
    return `${this.factor}·${this.inner}`;
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

/** F stored in a WebAssembly memory (M, where the caller has F there already): products in WASM SIMD over the worker pool (`TallMatrix`). */
export function storedFactor(F: Tall, M = new TallMatrix(F.data as Float64Array, F.rows, F.cols)): Factor {
  return {
    rank: F.cols,
    apply: async (Z) => tall(F.rows, Z.cols, await M.mul(Z.data as Float64Array, Z.cols)),
    applyT: async (R) => tall(F.cols, R.cols, await M.crossT(R.data as Float64Array, R.cols)),
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

/** An n×k block of independent ±1 entries (Rademacher: identity covariance, the least variance for trace estimates). */
export function rademacher(n: number, k: number, rng: () => number): Tall {
  const out = new Float64Array(n * k);
  for (let t = 0; t < out.length; t++) out[t] = rng() < 0.5 ? -1 : 1;
  return tall(n, k, out);
}
