/**
 * kermac's distances and fused kernels through the formula layer: `cdist(x, y, { p })` is the dense matrix of
 * p-norm distances (torch.cdist, kermac.cdist), and a kernel descriptor { innerP, outerP, epilogue, bandwidth }
 * (kermac.run_kernel's inner norm, outer norm and Laplace/Gaussian epilogue) is a KernelOperator. Both are formulas,
 * so every backend compiles them as it compiles any kernel.
 */
import { Matrix } from 'ml-matrix';
import { Formula, Pm, Vi, Vj } from '../formula/builder.js';
import type { BoundData } from '../formula/ast.js';
import type { PointsLike } from '../formula/points.js';
import { collectVariables } from '../formula/analyze.js';
import { formatNumber } from '../formula/print.js';
import { defaultDenseCacheBytes } from '../cpu/memory-pool.js';
import { mm } from './falkon.js';
import { KernelOperator, assertDenseFits, refuseGpuFloat64, type KernelOperatorOptions } from './kernel-operator.js';
import {
  boolean, checkArgument, field, instanceOf, oneOf, optional, parseOptions, positiveNumber, withDefault, type OptionField,
} from './options.js';

const isPoints = (v: unknown): boolean =>
  Array.isArray(v) || Matrix.isMatrix(v) || (typeof v === 'object' && v !== null && 'data' in v && 'rows' in v && 'cols' in v);
const points: OptionField<PointsLike> = field<PointsLike>('points (number[][], number[], an ml-matrix Matrix or { data, rows, cols })', isPoints);
const bytes = field<number>('a number of bytes ≥ 0', (v) => typeof v === 'number', (v) => v >= 0);

/** Σ_k |x_k − y_k|^p as a formula: |t| for p = 1 and t² for p = 2 (no power instruction), |t|^p otherwise. */
function innerSum(x: Formula, y: Formula, p: number): Formula {
  const t = x.sub(y);
  if (p === 2) return t.sqnorm2();
  if (p === 1) return t.abs().sum();
  return t.abs().pow(p).sum();
}

/** s^(1/q): s for q = 1, √s for q = 2, the power otherwise. */
function outerRoot(s: Formula, q: number): Formula {
  if (q === 1) return s;
  if (q === 2) return s.sqrt();
  return s.pow(1 / q);
}

/**
 * (Σ_k |x_k − y_k|^p)^(1/q). For p = q = 2 on points whose squares may leave float64's range — √ of a sum of squares
 * past 1.8e308 was ∞ for points 1e155 apart, and 0 below 1e-154 — the range-safe norm2 (it rescales such sums; 1.3×
 * the cost of √Σt² at d = 3), else √Σt².
 */
function distance(x: Formula, y: Formula, sum: Formula, p: number, q: number, range: CoordinateRange): Formula {
  if (p === 2 && q === 2 && (powerSumMayOverflow(range.most, 2, x.dim) || (range.least > 0 && range.least < SQUARE_UNDERFLOW))) return x.sub(y).norm2();
  return outerRoot(sum, q);
}

/**
 * Coordinates below which a difference's square may underflow: a nonzero x_k − y_k is at least ulp(max(|x_k|, |y_k|)),
 * so only where a coordinate is below 2⁵²·1.5e-154 can every component of a difference square to a subnormal or 0.
 */
const SQUARE_UNDERFLOW = 1.5e-154 * 2 ** 52;

interface CoordinateRange {
  /** The largest |coordinate| (0 when all are 0). */
  readonly most: number;
  /** The smallest nonzero |coordinate| (0 when all are 0). */
  readonly least: number;
}

function coordinateRange(...sets: { data: ArrayLike<number> }[]): CoordinateRange {
  let most = 0;
  let least = Infinity;
  for (const { data } of sets) {
    for (let i = 0; i < data.length; i++) {
      const v = Math.abs(data[i]!);
      if (v > most) most = v;
      if (v > 0 && v < least) least = v;
    }
  }
  return { most, least: least === Infinity ? 0 : least };
}

/**
 * Whether Σ_k |x_k − y_k|^p can exceed float64's range for points whose coordinates are at most `most` in size
 * (|x_k − y_k| ≤ 2·most), d components: log d + p·log(2·most) > log(MAX_VALUE).
 */
function powerSumMayOverflow(most: number, p: number, d: number): boolean {
  return most > 0 && Math.log(d) + p * Math.log(2 * most) > Math.log(Number.MAX_VALUE);
}

/** ‖a − b‖_p^(p/q) in float64 by plain loops, the components scaled by the largest first: ∞ only where the value is. */
function scaledDistance(a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bj: number, d: number, p: number, q: number): number {
  let most = 0;
  for (let k = 0; k < d; k++) most = Math.max(most, Math.abs(a[ai + k]! - b[bj + k]!));
  if (most === 0) return 0;
  let s = 0;
  for (let k = 0; k < d; k++) s += (Math.abs(a[ai + k]! - b[bj + k]!) / most) ** p;
  // (most^p · s)^(1/q), as most^(p/q) · s^(1/q): the power of `most` alone is finite wherever the result is
  return most ** (p / q) * s ** (1 / q);
}

/** The point sets as formulas, and the coordinate range of their data (read from the formulas: converted once). */
function pointPair(fn: string, x: PointsLike, y: PointsLike | undefined): { x: Formula; y: Formula; xData: BoundData; yData: BoundData; range: CoordinateRange } {
  const xi = Vi(x, 'x');
  const yj = Vj(y ?? x, 'y');
  if (xi.dim !== yj.dim) throw new RangeError(`${fn}: x and y must have the same dimension, got x with d = ${xi.dim} and y with d = ${yj.dim}`);
  const xData = collectVariables(xi.node).i[0]!.value;
  const yData = y === undefined ? xData : collectVariables(yj.node).j[0]!.value;
  return { x: xi, y: yj, xData, yData, range: y === undefined ? coordinateRange(xData) : coordinateRange(xData, yData) };
}

export interface CdistOptions {
  /** The norm's p > 0 (default 2); p < 1 is the usual quasi-norm Σ|t|^p)^(1/p). p = ∞ is not supported (refused). */
  p?: number;
  /** Return Σ_k |x_k − y_k|^p without the p-th root (kermac's skip_epilogue): for p = 2 the squared distances. */
  skipEpilogue?: boolean;
  /** 'float64' (CPU default) or 'float32'; 'float32' entries are evaluated in float64 on the CPU and rounded. */
  dtype?: KernelOperatorOptions['dtype'];
  /** Where the entries are computed: 'cpu' (all cores, generated code), 'gpu' (products with unit blocks), 'auto'. */
  backend?: KernelOperatorOptions['backend'];
  /** Largest result accepted, in bytes of float64 entries (default `defaultDenseCacheBytes()`); beyond it, an error. */
  maxBytes?: number;
}

const CDIST_SPEC = {
  p: withDefault(positiveNumber, 2),
  skipEpilogue: withDefault(boolean, false),
  dtype: optional(oneOf('float32', 'float64')),
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  maxBytes: optional(bytes),
} satisfies Record<keyof CdistOptions, OptionField<unknown>>;

/**
 * The n×m matrix of distances ‖x_i − y_j‖_p = (Σ_k |x_ik − y_jk|^p)^(1/p) (y omitted: y = x), as a Matrix — a distance
 * matrix is dense by nature, so it is refused beyond `maxBytes` with its size named. p = 1 and p = 2 avoid powers.
 */
export async function cdist(x: PointsLike, y?: PointsLike, options: CdistOptions = {}): Promise<Matrix> {
  if (typeof options === 'object' && options !== null && options.p === Infinity) {
    throw new RangeError('cdist: p = Infinity (the Chebyshev distance) is not supported: the formula layer has no maximum over vector components');
  }
  const o = parseOptions('cdist', options, CDIST_SPEC);
  refuseGpuFloat64('cdist', o.backend, o.dtype);
  if (y !== undefined) points.check(y, 'cdist: y');
  const v = pointPair('cdist', points.check(x, 'cdist: x') as PointsLike, y);
  const s = innerSum(v.x, v.y, o.p);
  const f = o.skipEpilogue ? s : distance(v.x, v.y, s, o.p, o.p, v.range);
  const K = new KernelOperator(f, { dtype: o.dtype, backend: o.backend, denseCache: 'never', label: `cdist p=${formatNumber(o.p)}` });
  const maxBytes = o.maxBytes ?? defaultDenseCacheBytes();
  assertDenseFits('cdist', K, maxBytes);
  const D = K.backend === 'gpu' ? await denseByProducts(K) : await mm(K, { maxBytes });
  if (powerSumMayOverflow(v.range.most, o.p, v.xData.cols)) recomputeOverflows(D, v.xData, v.yData, o.p, o.skipEpilogue ? 1 : o.p);
  if (K.dtype === 'float32') D.apply((i, j) => { D.set(i, j, Math.fround(D.get(i, j))); });
  return D;
}

/**
 * Entries that came out +∞ from finite points — |x_k − y_k|^p past float64's range where the distance itself is
 * within it (p = 3 at 1e103 apart) — computed again with the components scaled (`scaledDistance`): ∞ remains only
 * where the value is beyond float64's range (a sum of powers without the root, skipEpilogue).
 */
function recomputeOverflows(D: Matrix, a: BoundData, b: BoundData, p: number, q: number): void {
  const d = a.cols;
  for (let i = 0; i < D.rows; i++) {
    for (let j = 0; j < D.columns; j++) {
      if (D.get(i, j) === Infinity) D.set(i, j, scaledDistance(a.data, i * d, b.data, j * d, d, p, q));
    }
  }
}

/** Columns of unit vectors per product when a dense block is read through products (GPU). */
const UNIT_BLOCK = 64;

/** K's n×m entries by products with blocks of unit vectors (the GPU's products are the way to its entries). */
async function denseByProducts(K: KernelOperator): Promise<Matrix> {
  const [n, m] = K.shape;
  const D = new Matrix(n, m);
  for (let c0 = 0; c0 < m; c0 += UNIT_BLOCK) {
    const c = Math.min(UNIT_BLOCK, m - c0);
    const E = Matrix.zeros(m, c);
    for (let t = 0; t < c; t++) E.set(c0 + t, t, 1);
    const P = await K.matmat(E);
    for (let i = 0; i < n; i++) for (let t = 0; t < c; t++) D.set(i, c0 + t, P.get(i, t));
  }
  return D;
}

/**
 * kermac's fused kernel (run_kernel's descriptor): d = (Σ_k |x_k − y_k|^innerP)^(1/outerP), then the epilogue —
 * 'laplace': exp(−d/bandwidth), 'gaussian': exp(−d²/(2·bandwidth²)) (the conventions of laplacianKernel and
 * gaussianKernel), 'none': d itself. innerP = 1 is kermac's abs(x), 2 its x·x; outerP = 1 its identity, 2 its sqrt,
 * innerP its pow(x, 1/p) (the default: a p-norm).
 */
export interface KernelDescriptor {
  innerP: number;
  outerP?: number;
  epilogue: 'laplace' | 'gaussian' | 'none';
  bandwidth?: number;
}

const DESCRIPTOR_SPEC = {
  innerP: positiveNumber,
  outerP: optional(positiveNumber),
  epilogue: oneOf('laplace', 'gaussian', 'none'),
  bandwidth: withDefault(positiveNumber, 1),
} satisfies Record<keyof KernelDescriptor, OptionField<unknown>>;

/** Whether `value` is a kernel descriptor (an object with `innerP`), for kernelOperator's dispatch. */
export function isKernelDescriptor(value: unknown): value is KernelDescriptor {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'innerP' in value;
}

export interface DescriptorKernelOptions extends KernelOperatorOptions {
  /** Second point set (omitted: y = x, and K is symmetric). */
  y?: PointsLike;
}

/** The formula of a descriptor on points x, y (`range`: their coordinates' — where squares may leave float64's range the Euclidean distance is norm2). */
export function descriptorFormula(descriptor: KernelDescriptor, x: Formula, y: Formula, range: CoordinateRange = { most: 0, least: 0 }): Formula {
  const d = parseOptions('kernel descriptor', descriptor, DESCRIPTOR_SPEC);
  checkArgument('descriptorFormula', 'x', x, instanceOf(Formula, 'Formula (e.g. Vi(points))'));
  checkArgument('descriptorFormula', 'y', y, instanceOf(Formula, 'Formula (e.g. Vj(points))'));
  const s = innerSum(x, y, d.innerP);
  const q = d.outerP ?? d.innerP;
  const dist = distance(x, y, s, d.innerP, q, range);
  const h = Pm(d.bandwidth, 'bandwidth');
  if (d.epilogue === 'laplace') return dist.div(h).neg().exp();
  // d² straight from the sum for q = 2 (no square of a square root)
  if (d.epilogue === 'gaussian') return (q === 2 ? s : dist.square()).div(h.square().mul(2)).neg().exp();
  return dist;
}

/**
 * A descriptor whose entries would come out ∞ where they are finite is refused, naming the cure: with epilogue 'none'
 * and an outer root (q > 1) other than the Euclidean norm's, Σ|x_k − y_k|^p can leave float64's range before the root
 * brings it back (innerP = 3 at 1e103 apart); a product cannot recompute such entries as `cdist` does. With a root of
 * q ≤ 1 the entry is beyond the range whenever the sum is, and the epilogues' exp(−·) of such distances is 0.
 */
function refuseHiddenOverflow(descriptor: KernelDescriptor, range: CoordinateRange, d: number): void {
  const p = descriptor.innerP;
  const q = descriptor.outerP ?? p;
  if (descriptor.epilogue !== 'none' || q <= 1 || (p === 2 && q === 2)) return;
  if (powerSumMayOverflow(range.most, p, d)) {
    throw new RangeError(`kernelOperator: the descriptor's Σ|x_k − y_k|^${formatNumber(p)} can exceed float64's range for points with coordinates up to ${range.most.toExponential(3)} (d = ${d}) ` +
      `where the distance itself does not; rescale the points (distances scale with them), or use cdist, which computes such entries again`);
  }
}

/** A KernelOperator from a kermac-style descriptor on points x (and `options.y`). */
export function kernelFromDescriptor(descriptor: KernelDescriptor, x: PointsLike, options: DescriptorKernelOptions = {}): KernelOperator {
  const { y, ...rest } = options;
  const v = pointPair('kernelOperator', points.check(x, 'kernelOperator: x') as PointsLike, y);
  refuseHiddenOverflow(descriptor, v.range, v.xData.cols);
  const f = descriptorFormula(descriptor, v.x, v.y, v.range);
  const label = `${descriptor.epilogue} innerP=${formatNumber(descriptor.innerP)} outerP=${formatNumber(descriptor.outerP ?? descriptor.innerP)} h=${formatNumber(descriptor.bandwidth ?? 1)}`;
  return new KernelOperator(f, { label, ...rest });
}
