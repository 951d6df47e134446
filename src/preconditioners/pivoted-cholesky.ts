/**
 * Rank-r partial pivoted Cholesky (Harbrecht, Peters & Schneider 2012; GPyTorch's preconditioner):
 * K ≈ L Lᵀ with L n×r, pivots chosen greedily as the largest remaining diagonal of K − L Lᵀ. Each
 * step needs one column K e_p and O(n·k) work; nothing else of K is touched. With pivot set S,
 * L Lᵀ = K[:, S] K[S, S]⁻¹ K[S, :] — the Nyström approximation on the pivots as landmarks.
 *
 * The preconditioner is P = L Lᵀ + μI, inverted by Woodbury:
 *   P⁻¹ = (1/μ) (I − L (μI + LᵀL)⁻¹ Lᵀ),   with a Cholesky factor of the r×r middle matrix.
 */
import { blockFromTall, choleskySolveInPlace, choleskyUpper, cross, fillGaussian, gram, tall, tallFromBlock, toMatrix, type Tall } from './dense.js';
import { TallMatrix } from '../cpu/tall-product.js';
import { IdentityOperator } from '../operators/dense.js';
import { columnSource, restrictRows } from './kernel-access.js';
import { evaluateKernelDense } from '../cpu/reduce.js';
import { collectVariables } from '../formula/analyze.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import {
  Preconditioner,
  applyWoodbury,
  rademacher,
  rankBelow,
  shiftField,
  assertSymmetricOperator,
  squareOperator,
  storedFactor,
  type Factor,
  type OperatorLike,
} from './common.js';
import { checkArgument, finiteNumber, integer, parseOptions, withDefault } from '../operators/options.js';
import type { Matrix } from 'ml-matrix';
import { matmatBlock, type LinearOperator } from '../operators/linear-operator.js';

/** New columns of L gathered before they are written into its rows (eight doubles: one cache line per row). */
const FLUSH_COLUMNS = 8;

export interface PartialCholesky {
  /** n×rank row-major factor, K ≈ L Lᵀ. */
  L: Tall;
  /** Pivot (row) indices in the order chosen. */
  pivots: Int32Array;
  /** trace(K − L Lᵀ) after each step (entry 0: trace K): the error certificate of the factorization. */
  residualTrace: Float64Array;
}

export interface PivotedCholeskyOptions {
  /** Maximum rank r (1 ≤ r < n). */
  rank: number;
  /** Stop early once trace(K − LLᵀ) ≤ tol · trace(K) (default 0: always take `rank` steps unless K is exhausted). */
  tol?: number;
}

const tolField = withDefault(finiteNumber({ min: 0, below: 1 }), 0);

/** PivotedCholeskyOptions & { shift }, checked by `parseOptions`, for an n×n A. */
function pivotedCholeskySpec(n: number) {
  return { rank: rankBelow(n), tol: tolField, shift: shiftField } satisfies Record<keyof PivotedCholeskyOptions | 'shift', unknown>;
}

/**
 * The factorization alone (also used to pick landmarks). Stops before `rank` when the residual
 * diagonal is exhausted (K has lower numerical rank: max residual ≤ n·eps·max K_ii) or `tol` is met.
 */
export async function partialPivotedCholesky(A: LinearOperator, rank: number, tol = 0, fn = 'partialPivotedCholesky'): Promise<PartialCholesky> {
  return (await factorize(A, rank, tol, fn)).chol;
}

/** Columns of a block that the factor's memory has room for from the start (the preconditioner's block products). */
const RESERVED_COLUMNS = 64;

/** The factorization, and L in its WASM memory where no step stopped it early (`stored`, for LᵀL and the factor's products). */
async function factorize(A: LinearOperator, rank: number, tol: number, fn: string): Promise<{ chol: PartialCholesky; stored?: TallMatrix }> {
  const n = A.shape[0];
  checkArgument(fn, 'rank', rank, integer({ min: 1, max: n }));
  checkArgument(fn, 'tol', tol, tolField);
  const source = columnSource(A);
  const d = Float64Array.from(await source.diagonal());
  let trace = 0;
  let dmax = 0;
  for (let i = 0; i < n; i++) {
    const v = d[i]!;
    if (!Number.isFinite(v) || v < 0) {
      throw new RangeError(`${fn}: diag(A)[${i}] = ${v}; a pivoted Cholesky needs a positive semidefinite A with a finite diagonal`);
    }
    trace += v;
    dmax = Math.max(dmax, v);
  }
  const floor = n * Number.EPSILON * dmax;
  const r = rank;
  // L in its WASM memory (written once, by setColumns), its flushed columns times row p of L the O(n·k) part of step k
  const stored = TallMatrix.zeros(n, r, Math.max(RESERVED_COLUMNS, Math.ceil((r * r) / n) + 1));
  const L = stored.view();
  // the newest columns (after `flushed`), column after column, until FLUSH_COLUMNS of them go to L in one row-wise pass
  const recent = new Float64Array(n * Math.min(FLUSH_COLUMNS, r));
  let flushed = 0;
  const pivots: number[] = [];
  const residual: number[] = [trace];
  let remaining = trace;
  for (let k = 0; k < r; k++) {
    let p = 0;
    for (let i = 1; i < n; i++) if (d[i]! > d[p]!) p = i;
    const dp = d[p]!;
    if (!(dp > floor) || remaining <= tol * trace) break;
    const col = await source.column(p);
    const s = Math.sqrt(dp);
    const prior = flushed > 0 ? await stored.mul(L.slice(p * r, p * r + r), 1, flushed) : new Float64Array(n);
    for (let c = 0; c < k - flushed; c++) {
      const lc = recent.subarray(c * n, (c + 1) * n);
      const w = lc[p]!;
      for (let i = 0; i < n; i++) prior[i]! += w * lc[i]!;
    }
    const lk = recent.subarray((k - flushed) * n, (k - flushed + 1) * n);
    for (let i = 0; i < n; i++) {
      const v = col[i]! - prior[i]!;
      if (!Number.isFinite(v)) throw new Error(`${fn}: column ${p} of A has a non-finite value at row ${i}`);
      const l = v / s;
      lk[i] = l;
      d[i] = Math.max(0, d[i]! - l * l); // round-off may push a residual below 0
    }
    if (k + 1 - flushed === recent.length / n) {
      await stored.setColumns(flushed, k + 1 - flushed, recent); // writes L's columns too
      flushed = k + 1;
    }
    d[p] = 0; // exactly eliminated
    pivots.push(p);
    remaining = 0;
    for (let i = 0; i < n; i++) remaining += d[i]!;
    residual.push(remaining);
  }
  if (pivots.length > flushed) await stored.setColumns(flushed, pivots.length - flushed, recent);
  const k = pivots.length;
  if (k === 0) throw new RangeError(`${fn}: A has a zero diagonal (max ${dmax}); nothing to factor`);
  const chol = { pivots: Int32Array.from(pivots), residualTrace: Float64Array.from(residual) };
  if (k === r) return { chol: { L: tall(n, r, L), ...chol }, stored };
  const trimmed = new Float64Array(n * k);
  for (let i = 0; i < n; i++) trimmed.set(L.subarray(i * r, i * r + k), i * k);
  return { chol: { L: tall(n, k, trimmed), ...chol } };
}

/**
 * Columns of D per dense panel of `productWithFactor`: at n = 5,000 (2 threads) panels of 64, 128, 256 and 512 columns
 * evaluated D in 1.45, 1.06, 1.36 and 3.17 s (wide outputs cost fresh memory and its copy).
 */
const PANEL_COLUMNS = 128;

/**
 * D·L (n×r): for a symmetric float64 CPU KernelOperator D by dense panels D[:, J] (generated code over the pool) times
 * Lᵀ — (D L)[J, :] = (Lᵀ D[:, J])ᵀ — a WASM GEMM that reuses each loaded row of L across the panel's columns, where a
 * kernel product of r right-hand sides streams them all past every row; else one product of D with L's columns.
 */
async function productWithFactor(D: LinearOperator, L: Tall, factor: Factor): Promise<Tall> {
  const { rows: n, cols: r } = L;
  if (!(D instanceof KernelOperator && D.backend === 'cpu' && D.dtype === 'float64' && D.symmetric)) {
    return tallFromBlock(await matmatBlock(D, blockFromTall(L)));
  }
  const DL = new Float64Array(n * r);
  const b = PANEL_COLUMNS;
  for (let c0 = 0; c0 < n; c0 += b) {
    const w = Math.min(b, n - c0);
    const node = restrictRows(D.formula.node, { j: Array.from({ length: w }, (_, c) => c0 + c) });
    const panel = await evaluateKernelDense(node, collectVariables(node), n, w, { dtype: 'float64' });
    const T = (await factor.applyT(tall(n, w, panel))).data; // r×w
    for (let t = 0; t < r; t++) for (let c = 0; c < w; c++) DL[(c0 + c) * r + t] = T[t * w + c]!;
  }
  return tall(n, r, DL);
}

export class PivotedCholeskyPreconditioner extends Preconditioner {
  readonly rank: number;
  readonly pivots: Int32Array;
  readonly residualTrace: Float64Array;
  private readonly factor: Factor;
  private readonly Lt: Tall;
  private readonly R: Float64Array;

  private readonly LtL: Float64Array;

  /**
   * `LtL`: LᵀL where the caller has it (the factory forms it by the factor's WASM product), else formed here; `stored`:
   * L already in a TallMatrix (the factorization's), for the factor's products.
   */
  constructor(chol: PartialCholesky, shift: number, LtL?: Float64Array, stored?: TallMatrix) {
    super(chol.L.rows, shift);
    this.rank = chol.L.cols;
    this.pivots = chol.pivots;
    this.residualTrace = chol.residualTrace;
    this.Lt = chol.L;
    this.factor = storedFactor(chol.L, stored);
    this.LtL = LtL ?? gram(chol.L);
    const S = Float64Array.from(this.LtL);
    for (let t = 0; t < this.rank; t++) S[t * this.rank + t]! += shift;
    const R = choleskyUpper(S, this.rank);
    if (!R) throw new Error(`pivotedCholeskyPreconditioner: μI + LᵀL is not positive definite (shift ${shift})`);
    this.R = R;
  }

  /** The factor L (n×rank) as a Matrix: K ≈ L Lᵀ. */
  get L(): Matrix {
    return toMatrix(this.Lt);
  }

  protected override applyBlock(X: Tall): Promise<Tall> {
    return applyWoodbury(this.factor, this.R, this.mu, X);
  }

  /** log det(L Lᵀ + μI) = (n − r) log μ + log det(μI + LᵀL), the r×r determinant from its Cholesky factor. */
  override logdet(): number {
    const r = this.rank;
    let s = (this.shape[0] - r) * Math.log(this.mu);
    for (let t = 0; t < r; t++) s += 2 * Math.log(this.R[t * r + t]!);
    return s;
  }

  /** tr(P⁻¹D) = (tr D − tr(S⁻¹ LᵀD L))/μ, S = μI + LᵀL; LᵀD L from one product of D with L (r columns) unless D = I. */
  override async traceInverseProduct(D?: LinearOperator, products = false): Promise<number | undefined> {
    const r = this.rank;
    const n = this.shape[0];
    const identity = D === undefined || D instanceof IdentityOperator;
    if (!identity && !products) return undefined;
    let trD = n;
    let LDL: Float64Array;
    if (identity) LDL = Float64Array.from(this.LtL);
    else {
      const diag = await D.diagonal();
      trD = diag.reduce((s, v) => s + v, 0);
      LDL = (await this.factor.applyT(await productWithFactor(D, this.Lt, this.factor))).data as Float64Array;
    }
    choleskySolveInPlace(this.R, r, LDL, r);
    let t = 0;
    for (let a = 0; a < r; a++) t += LDL[a * r + a]!;
    return (trD - t) / this.mu;
  }

  /** z = L g + √μ ε (g Gaussian in R^r, ε Rademacher in R^n): E[z zᵀ] = L Lᵀ + μI = P. L g by the stored factor's product. */
  override async sampleProbes(k: number, rng: () => number): Promise<Tall> {
    const g = fillGaussian(new Float64Array(this.rank * k), rng);
    const z = await this.factor.apply(tall(this.rank, k, g));
    const e = rademacher(this.shape[0], k, rng);
    const s = Math.sqrt(this.mu);
    for (let t = 0; t < z.data.length; t++) z.data[t]! += s * e.data[t]!;
    return z;
  }

  protected override describe(): string {
    return `PivotedCholeskyPreconditioner(rank=${this.rank}, shift=${this.mu})`;
  }
}

/**
 * P⁻¹ = (L Lᵀ + shift·I)⁻¹ with L the rank-r partial pivoted Cholesky factor of A. Columns come
 * from the kernel formula for a KernelOperator (one row's worth of evaluations each), else from
 * one product with e_p each (then r products: prefer 'nystrom' for non-kernel operators).
 */
export async function pivotedCholeskyPreconditioner(A: OperatorLike, options: PivotedCholeskyOptions & { shift: number }): Promise<PivotedCholeskyPreconditioner> {
  const fn = 'pivotedCholeskyPreconditioner';
  const op = squareOperator(A, fn);
  const { rank, tol, shift: mu } = parseOptions(fn, options, pivotedCholeskySpec(op.shape[0]));
  await assertSymmetricOperator(op, fn);
  const t0 = performance.now();
  const { chol, stored } = await factorize(op, rank, tol, fn);
  const { cols: r, data } = chol.L;
  const M = stored ?? new TallMatrix(data as Float64Array, chol.L.rows, r);
  const P = new PivotedCholeskyPreconditioner(chol, mu, await M.gram(), M);
  P.buildMs = performance.now() - t0;
  return P;
}
