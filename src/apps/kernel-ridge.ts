/**
 * Kernel ridge regression / kernel interpolation, as scikit-learn's `KernelRidge`: `fit` solves (K + αI) a = y on the
 * symbolic kernel of the training points (`K.solve`: the solve policy of src/preconditioners/solve.ts — a dense
 * factor where it pays, else preconditioned CG); `predict` applies the cross kernel K(t, x) to a — a product,
 * never a stored matrix. α → 0 interpolates; α > 0 smooths noisy data.
 */
import { Matrix } from 'ml-matrix';
import { toBoundData, type PointsLike } from '../formula/points.js';
import { refuseGpuFloat64, type BackendChoice, type KernelOperator } from '../operators/kernel-operator.js';
import { cauchyKernel, gaussianKernel, laplacianKernel, maternKernel } from '../operators/kernels.js';
import {
  field, nonNegativeNumber, oneOf, optional, parseOptions, positiveNumber, withDefault, type OptionField,
} from '../operators/options.js';
import type { BlockLike, Dtype, VectorLike } from '../operators/types.js';
import { describeValue, isBlockLike, isVectorLike } from '../operators/validate.js';
import type { SolveOptions } from '../preconditioners/solve.js';

export type RidgeKernel = 'gaussian' | 'laplacian' | 'matern' | 'cauchy';

/** Targets: vectors and blocks as everywhere, and integer typed arrays (class labels, as scikit-learn takes them). */
export type TargetsLike = VectorLike | BlockLike | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array;

export interface KernelRidgeOptions {
  /** The kernel of r = |x − y|: 'gaussian' (default) exp(−r²/(2σ²)), 'laplacian' exp(−r/σ), 'matern' (ν), 'cauchy' 1/(1 + r²/σ²). */
  kernel?: RidgeKernel;
  /** Length scale σ > 0 (default 1). scikit-learn's rbf `gamma` is 1/(2σ²). */
  sigma?: number;
  /** Ridge α ≥ 0 (required): the system is (K + αI) a = y; 0 interpolates (K must then be positive definite). */
  alpha: number;
  /** Matérn smoothness ν ∈ {0.5, 1.5, 2.5} (default 1.5); only with kernel 'matern'. */
  nu?: 0.5 | 1.5 | 2.5;
  backend?: BackendChoice;
  /** Precision of the kernel products (default: the backend's, float64 on the CPU). */
  dtype?: Dtype;
  /** Options of `K.solve` (rtol, preconditioner, method, maxiter, onProgress, …), checked there. */
  solveOptions?: Omit<SolveOptions, 'returnInfo'>;
}

const plainObject = field<Record<string, unknown>>('an object', (v) => typeof v === 'object' && v !== null && !Array.isArray(v));

const KERNEL_RIDGE_SPEC = {
  kernel: withDefault(oneOf('gaussian', 'laplacian', 'matern', 'cauchy'), 'gaussian' as RidgeKernel),
  sigma: withDefault(positiveNumber, 1),
  alpha: nonNegativeNumber,
  nu: optional(oneOf(0.5, 1.5, 2.5)),
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  dtype: optional(oneOf('float32', 'float64')),
  solveOptions: optional(plainObject),
} satisfies Record<keyof KernelRidgeOptions, OptionField<unknown>>;

type Points = { data: Float64Array; rows: number; cols: number };
interface Fitted { readonly x: Points; readonly K: KernelOperator; readonly dualCoef: Float64Array | Matrix }

/**
 * Kernel ridge regression with a symbolic kernel. Outputs: one (y a vector → predictions a Float64Array) or several
 * (y an n×k block → an m×k Matrix).
 *
 * @example
 * const model = await new KernelRidge({ kernel: 'gaussian', sigma: 0.5, alpha: 1e-3 }).fit(x, y);
 * const yHat = await model.predict(t);       // Float64Array
 * const r2 = await model.score(t, yTrue);     // coefficient of determination
 */
export class KernelRidge {
  readonly kernel: RidgeKernel;
  readonly sigma: number;
  readonly alpha: number;
  readonly nu: 0.5 | 1.5 | 2.5 | undefined;
  private readonly options: ReturnType<typeof parseKernelRidgeOptions>;
  private fitted: Fitted | undefined;

  constructor(options: KernelRidgeOptions) {
    const o = parseKernelRidgeOptions(options);
    this.options = o;
    this.kernel = o.kernel;
    this.sigma = o.sigma;
    this.alpha = o.alpha;
    this.nu = o.kernel === 'matern' ? (o.nu ?? 1.5) : undefined;
  }

  /** Solves (K + αI) a = y for the training points x (n×d) and targets y (n values, or n×k). Resolves to this model. */
  async fit(x: PointsLike, y: TargetsLike): Promise<this> {
    const points = toBoundData(x, 'KernelRidge.fit: x') as Points;
    const targets = asTargets(y, points.rows, 'KernelRidge.fit');
    const K = this.makeKernel(points);
    const solveOptions = (this.options.solveOptions ?? {}) as SolveOptions;
    let dualCoef: Float64Array | Matrix;
    try {
      dualCoef = await K.solve(targets, this.alpha, { ...solveOptions, returnInfo: false }) as Float64Array | Matrix;
    } catch (error) {
      // without the ridge K alone must be positive definite, which repeated points break (scikit-learn warns and falls
      // back to least squares; here the solve's error stands, with what to do)
      if (this.alpha === 0 && error instanceof Error) error.message += '; KernelRidge: alpha = 0 needs K numerically positive definite — repeated or nearly repeated training points, or a length scale long beside their spacing (a smooth kernel), make it singular: give alpha > 0';
      throw error;
    }
    if (this.fitted) await this.fitted.K.dispose();
    this.fitted = { x: points, K, dualCoef };
    return this;
  }

  /** The dual coefficients a of the last fit (Float64Array, or an n×k Matrix for several outputs). */
  get dualCoef(): Float64Array | Matrix {
    return this.model('dualCoef').dualCoef;
  }

  /** Predictions at t (m×d): K(t, x)·a, a product with the cross kernel. */
  async predict(t: PointsLike): Promise<Float64Array | Matrix> {
    const { x, dualCoef } = this.model('predict');
    const points = toBoundData(t, 'KernelRidge.predict: t') as Points;
    if (points.cols !== x.cols) {
      throw new RangeError(`KernelRidge.predict: t has d = ${points.cols} columns but the model was fitted on d = ${x.cols}`);
    }
    const cross = this.makeKernel(points, x);
    try {
      return dualCoef instanceof Float64Array ? await cross.matvec(dualCoef) : await cross.matmat(dualCoef);
    } finally {
      await cross.dispose();
    }
  }

  /**
   * The coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of the predictions at t, as scikit-learn's
   * `r2_score` (several outputs: their uniform average; a constant y scores 1 if predicted exactly, else 0).
   */
  async score(t: PointsLike, y: TargetsLike): Promise<number> {
    this.model('score'); // named as score's, not predict's
    const points = toBoundData(t, 'KernelRidge.score: t');
    const truth = asTargets(y, points.rows, 'KernelRidge.score');
    return r2Score(truth, await this.predict(t));
  }

  /** Releases what the fitted kernel caches (its dense store, preconditioners); the model stays usable. */
  async dispose(): Promise<void> {
    await this.fitted?.K.dispose();
  }

  toString(): string {
    const nu = this.nu === undefined ? '' : ` ν=${this.nu}`;
    return `<KernelRidge ${this.kernel}${nu} σ=${this.sigma} α=${this.alpha}${this.fitted ? ` fitted on ${this.fitted.x.rows}x${this.fitted.x.cols}` : ''}>`;
  }

  private model(what: string): Fitted {
    if (!this.fitted) throw new Error(`KernelRidge.${what}: the model is not fitted yet; call await model.fit(x, y) first`);
    return this.fitted;
  }

  private makeKernel(x: Points, y?: Points): KernelOperator {
    const o = { sigma: this.sigma, backend: this.options.backend, dtype: this.options.dtype, ...(y ? { y } : {}) };
    switch (this.kernel) {
      case 'gaussian': return gaussianKernel(x, o);
      case 'laplacian': return laplacianKernel(x, o);
      case 'cauchy': return cauchyKernel(x, o);
      case 'matern': return maternKernel(x, { ...o, nu: this.nu });
    }
  }
}

function parseKernelRidgeOptions(options: unknown) {
  const o = parseOptions('KernelRidge', options, KERNEL_RIDGE_SPEC);
  refuseGpuFloat64('KernelRidge', o.backend, o.dtype);
  // the model keeps the coefficients, not a solver's result object: refused by name, not overridden in silence
  if (o.solveOptions && Object.hasOwn(o.solveOptions, 'returnInfo')) {
    throw new RangeError("KernelRidge: solveOptions.returnInfo is not supported (fit keeps the coefficients; for the solver's result call K.solve(y, alpha, { returnInfo: true }) on the kernel)");
  }
  if (o.nu !== undefined && o.kernel !== 'matern') {
    throw new RangeError(`KernelRidge: nu is an option of kernel 'matern' only, got nu = ${o.nu} with kernel '${o.kernel}'`);
  }
  return o;
}

/** y as a Float64Array (one output) or an n×k Matrix, with n rows checked. */
function asTargets(y: TargetsLike, n: number, what: string): Float64Array | Matrix {
  const { columns, block } = targetColumns(y, what, 'y');
  const rows = columns[0]!.length;
  if (rows !== n) throw new RangeError(`${what}: y has ${rows} ${block ? 'rows' : 'values'} but there are ${n} points`);
  if (!block) return columns[0]!;
  const M = new Matrix(rows, columns.length);
  columns.forEach((c, j) => M.setColumn(j, c));
  return M;
}

/** What `TargetsLike` admits, in words (the refusals of fit, score and r2Score). */
const TARGETS_EXPECTED = 'a vector (Float64Array, Int32Array or another numeric typed array, number[]) or an n×k block (Matrix, number[][])';

/** Integer targets (class labels as an Int32Array, as twoMoons gives them) are numbers too, as scikit-learn takes them. */
function isNumericTypedArray(v: unknown): v is ArrayLike<number> {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
}

/**
 * scikit-learn's r2_score (multioutput 'uniform_average', force_finite): 1 − Σ(y − p)² / Σ(y − ȳ)² per output,
 * averaged; a constant output scores 1 if predicted exactly, else 0. Vectors (Float64Array, Float32Array, number[]) or
 * n×k blocks (Matrix, number[][]); a vector and a one-column block compare. Refused by name, where scikit-learn raises
 * or returns NaN: shapes that differ, fewer than two samples (R² is not defined: sklearn warns and returns NaN), and
 * non-finite values.
 */
export function r2Score(truth: TargetsLike, predicted: TargetsLike): number {
  const a = targetColumns(truth, 'r2Score', 'truth').columns;
  const b = targetColumns(predicted, 'r2Score', 'predicted').columns;
  const shape = (c: Float64Array[]) => `${c[0]!.length}x${c.length}`;
  if (a.length !== b.length || a[0]!.length !== b[0]!.length) {
    throw new RangeError(`r2Score: truth (${shape(a)}) and predicted (${shape(b)}) differ in shape`);
  }
  if (a[0]!.length < 2) throw new RangeError(`r2Score: R² is not defined for fewer than two samples, got ${a[0]!.length}`);
  let sum = 0;
  for (let j = 0; j < a.length; j++) {
    const y = a[j]!;
    const p = b[j]!;
    const mean = y.reduce((s, v) => s + v, 0) / y.length;
    let res = 0;
    let tot = 0;
    for (let i = 0; i < y.length; i++) {
      res += (y[i]! - p[i]!) ** 2;
      tot += (y[i]! - mean) ** 2;
    }
    sum += tot === 0 ? (res === 0 ? 1 : 0) : 1 - res / tot;
  }
  return sum / a.length;
}

/**
 * The columns of targets (a vector: one column), every entry checked as given to be a finite number (another type: a
 * TypeError quoting it with its type; NaN, ±∞: a RangeError) — fit's and score's y and r2Score's arguments, refused in
 * the same words: `${fn}: ${name}'s entry at position i …` (a block's: at row i, column j).
 */
function targetColumns(v: TargetsLike, fn: string, name: string): { columns: Float64Array[]; block: boolean } {
  let columns: Float64Array[];
  const block = isBlockLike(v);
  // each entry checked as given, before any conversion: Float64Array.from and ml-matrix made null, '' and a Date 0,
  // true 1, '0x10' 16 and [3] 3 in silence (or said "Input data contains non-numeric values", naming no entry)
  const refuse = (given: unknown, at: string): never => {
    const what = typeof given === 'number' ? String(given) : Array.isArray(given) && given.length <= 4
      ? `${describeValue(given)} (${JSON.stringify(given)})` : describeValue(given);
    const message = `${fn}: ${name}'s entry at ${at} is ${what}, not a finite number`;
    throw typeof given === 'number' ? new RangeError(message) : new TypeError(message);
  };
  if (block) {
    const rows = Matrix.isMatrix(v) ? undefined : (v as unknown[]);
    for (let i = 0; rows && i < rows.length; i++) {
      const row = rows[i];
      // ml-matrix's own message ("Inconsistent array dimensions") names no row
      if (!Array.isArray(row) || row.length !== (rows[0] as unknown[]).length) {
        throw new RangeError(`${fn}: ${name}'s row ${i} is ${describeValue(row)}, not an array of ${(rows[0] as unknown[]).length} numbers as row 0`);
      }
      row.forEach((e: unknown, j) => { if (typeof e !== 'number' || !Number.isFinite(e)) refuse(e, `row ${i}, column ${j}`); });
    }
    const M = Matrix.isMatrix(v) ? (v as Matrix) : new Matrix(v as number[][]);
    columns = Array.from({ length: M.columns }, (_, j) => Float64Array.from(M.getColumn(j)));
    if (columns.length === 0) throw new RangeError(`${fn}: ${name} has ${M.rows} rows of no values; give at least one column`);
    columns.forEach((c, j) => c.forEach((e, i) => { if (!Number.isFinite(e)) refuse(e, `row ${i}, column ${j}`); })); // a Matrix's NaN, ±∞
  } else if (isVectorLike(v) || isNumericTypedArray(v)) {
    const given = v as ArrayLike<unknown>;
    for (let i = 0; i < given.length; i++) {
      const e = given[i];
      if (typeof e !== 'number' || !Number.isFinite(e)) refuse(e, `position ${i}`);
    }
    columns = [Float64Array.from(v as ArrayLike<number>)];
  } else {
    throw new TypeError(`${fn}: ${name} must be ${TARGETS_EXPECTED}, got ${describeValue(v)}`);
  }
  return { columns, block };
}

