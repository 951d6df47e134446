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
import { NORM2_SAFE } from '../formula/norm2-range.js';
import { FLOAT32_MAX, KERNEL_OPERATOR_SPEC, KernelOperator, assertDenseFits, refuseGpuFloat64, resolvePlacement, type KernelOperatorOptions } from './kernel-operator.js';
import type { Dtype } from './types.js';
import {
  boolean, checkArgument, field, instanceOf, oneOf, optional, parseOptions, positiveNumber, rejectUnknownKeys, withDefault, type OptionField,
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
 * (Σ_k |x_k − y_k|^p)^(1/q): the plain formula where the points prove the power sum within the safe range of the
 * operator's dtype (`powerSumOutOfRange`), else the range-safe `scaledPowerDistance`. The plain power sum gave 0 for
 * distinct points 1e-110 apart at p = 3 (float64) or 1e-25 apart at p = 2 (float32), and ∞ past the top.
 */
function distance(x: Formula, y: Formula, sum: Formula, p: number, q: number, safe: Dtype | undefined): Formula {
  return safe === undefined ? outerRoot(sum, q) : scaledPowerDistance(x, y, p, q, safe);
}

/** The bounds of a dtype: the safe range of a power sum (norm2's), the unit roundoff, and the normal/finite extremes. */
const FORMAT: Readonly<Record<Dtype, { tiny: number; huge: number; unit: number; least: number; most: number }>> = {
  // float64's least is its smallest subnormal: a pair whose norm is subnormal still divides by itself
  float64: { ...NORM2_SAFE.float64, unit: 2 ** -53, least: Number.MIN_VALUE, most: Number.MAX_VALUE },
  // float32's is its smallest normal: GPUs may flush subnormal constants to 0 (0/0 at distance 0)
  float32: { ...NORM2_SAFE.float32, unit: 2 ** -24, least: 2 ** -126, most: FLOAT32_MAX },
};

/**
 * m^(p/q)·(Σ_k (|x_k − y_k|/m)^p)^(1/q) with m = ‖x − y‖₂ (norm2 is range-safe on every backend), clamped into the
 * dtype's finite range: the p-norm is scale-equivariant, and |t_k|/m ∈ [0, 1] with the largest ≥ 1/√d, so the power
 * sum lies in [d^(−p/2), d] whatever the scale of the pair. The clamp keeps 0/0 (m = 0: every |t_k|/m is then 0) and
 * ∞/∞ (a norm beyond the range) out. p = q = 2 is norm2 itself. Written with |t| (not t) so that the formula stays
 * structurally symmetric.
 */
function scaledPowerDistance(x: Formula, y: Formula, p: number, q: number, dtype: Dtype): Formula {
  const t = x.sub(y);
  if (p === 2 && q === 2) return t.norm2();
  const { least, most } = FORMAT[dtype];
  const m = t.norm2().clamp(least, most);
  const r = t.abs().div(m);
  const sum = p === 1 ? r.sum() : p === 2 ? r.sqnorm2() : r.pow(p).sum();
  return (p === q ? m : m.pow(p / q)).mul(outerRoot(sum, q));
}

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
 * Whether Σ_k |x_k − y_k|^p may leave the safe range of `dtype` (norm2's [tiny, huge): no term overflowed, and the
 * terms that underflowed lose less than a rounding of the sum) for some pair of these points — then the distance
 * takes the range-safe form. Above: d·(2·max|coordinate|)^p ≥ huge. Below (p > 1 only: for p ≤ 1 the sum is at least
 * max|t_k| and never underflows where the distance does not): the largest |t_k| of a pair of distinct points is at
 * least the smallest gap between two distinct values of one coordinate — first bounded by the ulp of the smallest
 * nonzero coordinate, and only where that bound fails computed (sorted coordinates, in the dtype's rounding).
 */
function powerSumOutOfRange(a: BoundData, b: BoundData, p: number, dtype: Dtype): boolean {
  const f = FORMAT[dtype];
  const round = dtype === 'float32' ? Math.fround : (v: number) => v;
  const sets = a === b ? [a] : [a, b];
  const range = coordinateRange(...sets);
  const [most, least] = [round(range.most), round(range.least)];
  if (most === 0) return false;
  if (Math.log2(a.cols) + p * Math.log2(2 * most) >= Math.log2(f.huge)) return true;
  if (p <= 1 || p * Math.log2(least * f.unit) >= Math.log2(f.tiny)) return false;
  return p * Math.log2(smallestGap(sets, a.cols, round)) < Math.log2(f.tiny);
}

/** The smallest positive difference between two values of one coordinate over the point sets (∞ if none). */
function smallestGap(sets: readonly BoundData[], d: number, round: (v: number) => number): number {
  let gap = Infinity;
  const rows = sets.reduce((r, s) => r + s.rows, 0);
  const column = new Float64Array(rows);
  for (let k = 0; k < d; k++) {
    let n = 0;
    for (const { data } of sets) for (let i = k; i < data.length; i += d) column[n++] = round(data[i]!);
    column.sort();
    // differences of two float32 values are exact in float64
    for (let i = 1; i < rows; i++) if (column[i]! > column[i - 1]!) gap = Math.min(gap, column[i]! - column[i - 1]!);
  }
  return gap;
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

/**
 * The dtype the operator on these points will run in (resolved as KernelOperator resolves it), where their power sums
 * may leave its range (`powerSumOutOfRange`): the distance then takes the range-safe form; else undefined.
 */
function rangeSafeDtype(v: ReturnType<typeof pointPair>, p: unknown, backend: KernelOperatorOptions['backend'], dtype: Dtype | undefined): Dtype | undefined {
  // a bad p, backend or dtype is refused by name where the descriptor or the options are parsed
  if (typeof p !== 'number' || !(p > 0)) return undefined;
  if (!(backend === undefined || backend === 'auto' || backend === 'cpu' || backend === 'gpu')) return undefined;
  if (!(dtype === undefined || dtype === 'float32' || dtype === 'float64')) return undefined;
  const placed = resolvePlacement(backend, dtype, v.xData.rows * v.yData.rows).dtype;
  return powerSumOutOfRange(v.xData, v.yData, p, placed) ? placed : undefined;
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
  // without the root the sum is the value asked for: an underflow there is the value's own (∞ is recomputed below)
  const f = o.skipEpilogue ? s : distance(v.x, v.y, s, o.p, o.p, rangeSafeDtype(v, o.p, o.backend, o.dtype));
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

/**
 * The formula of a descriptor on points x, y. `rangeSafe`: the dtype in whose range the distance must not under- or
 * overflow for any pair (the range-safe form, `scaledPowerDistance`); omitted, the plain power sum (kernelOperator and
 * cdist choose from the points).
 */
export function descriptorFormula(descriptor: KernelDescriptor, x: Formula, y: Formula, rangeSafe?: Dtype): Formula {
  const d = parseOptions('kernel descriptor', descriptor, DESCRIPTOR_SPEC);
  checkArgument('descriptorFormula', 'x', x, instanceOf(Formula, 'Formula (e.g. Vi(points))'));
  checkArgument('descriptorFormula', 'y', y, instanceOf(Formula, 'Formula (e.g. Vj(points))'));
  checkArgument('descriptorFormula', 'rangeSafe', rangeSafe, optional(oneOf('float32', 'float64')));
  const s = innerSum(x, y, d.innerP);
  const q = d.outerP ?? d.innerP;
  const dist = distance(x, y, s, d.innerP, q, rangeSafe);
  const h = Pm(d.bandwidth, 'bandwidth');
  if (d.epilogue === 'laplace') return dist.div(h).neg().exp();
  if (d.epilogue === 'gaussian') {
    // d² straight from the sum for q = 2 (no square of a square root), where the sum is in range and so is 2h²
    // (h = 2^-1000 made 2h² = 0, and 0/0 = NaN on the diagonal); else (d/h)²/2, in range wherever the kernel is not 0 or 1
    const h2 = 2 * d.bandwidth ** 2;
    if (rangeSafe === undefined && h2 >= 2 ** -100 && h2 <= 2 ** 100) return (q === 2 ? s : dist.square()).div(h.square().mul(2)).neg().exp();
    return dist.div(h).square().div(2).neg().exp();
  }
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
  // its own options by name, y among them (refused as an unknown key of kernelOperator's, whose list left y out)
  if (options !== null && typeof options === 'object') rejectUnknownKeys('kernelFromDescriptor', options, [...Object.keys(KERNEL_OPERATOR_SPEC), 'y']);
  const { y, ...rest } = options;
  // the descriptor first: innerP = ∞ was blamed on the points' range by refuseHiddenOverflow
  parseOptions('kernel descriptor', descriptor, DESCRIPTOR_SPEC);
  const v = pointPair('kernelOperator', points.check(x, 'kernelOperator: x') as PointsLike, y);
  refuseHiddenOverflow(descriptor, v.range, v.xData.cols);
  const f = descriptorFormula(descriptor, v.x, v.y, rangeSafeDtype(v, descriptor.innerP, rest.backend, rest.dtype));
  const label = `${descriptor.epilogue} innerP=${formatNumber(descriptor.innerP)} outerP=${formatNumber(descriptor.outerP ?? descriptor.innerP)} h=${formatNumber(descriptor.bandwidth ?? 1)}`;
  return new KernelOperator(f, { label, ...rest });
}
