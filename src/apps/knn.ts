/**
 * k-nearest neighbours by the k-min reduction of a distance formula (KeOps' argKmin): for every point x_i its
 * k closest y_j, without forming the n×m distance matrix (memory O((n + m)·d + n·k)), on the CPU or the GPU.
 */
import { Vi, Vj, type Formula } from '../formula/builder.js';
import { collectVariables } from '../formula/analyze.js';
import { compileScalarJs } from '../formula/emit-js.js';
import { FormulaError } from '../formula/errors.js';
import { parseFormulaIn } from '../formula/parse.js';
import { toBoundData, type PointsLike } from '../formula/points.js';
import { MAX_KMIN_K, type ReductionOptions } from '../formula/reduction.js';
import { checkArgument, integer, oneOf, optional, parseOptions, string, withDefault } from '../operators/options.js';
import { refuseGpuFloat64, scaleByPow2InPlace, timesPow2 } from '../operators/kernel-operator.js';
import { boundingBox } from '../cpu/points-prep.js';
import '../operators/reductions.js'; // the reductions' backends

export const KNN_METRICS = ['euclidean', 'sqeuclidean', 'manhattan', 'cosine'] as const;
export type KnnMetric = (typeof KNN_METRICS)[number];

const isBuiltIn = (metric: string): boolean => (KNN_METRICS as readonly string[]).includes(metric);

export interface KnnOptions {
  /**
   * 'euclidean' (default), 'sqeuclidean', 'manhattan', 'cosine' (1 − cos∠(x, y); a zero vector is at
   * distance 1 from everything), or a formula string in x (the query point) and y (a candidate), e.g.
   * 'sum(abs(x - y)^3)'. Neighbours are the smallest values of the metric.
   */
  metric?: KnnMetric | string;
  backend?: 'auto' | 'cpu' | 'gpu';
  dtype?: 'float32' | 'float64';
}

export interface KnnResult {
  /** n×k row-major: row i lists the indices into y of x_i's neighbours, nearest first (ties: lowest index). */
  readonly indices: Int32Array;
  /**
   * n×k row-major: the metric's value for each neighbour, ascending along the row, computed in float64 (rounded as
   * float64 rounds: a 'sqeuclidean' distance beyond its range is +∞, one below it 0 or subnormal).
   */
  readonly distances: Float64Array;
}

const KNN_SPEC = {
  metric: withDefault(string, 'euclidean'),
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  dtype: optional(oneOf('float32', 'float64')),
};

/** The exponent e with max|v| · 2^-e in (1/2, 1] (0 for max|v| = 0): the data's own binade, from its extent. */
function extentExponent(maxAbs: number): number {
  return maxAbs > 0 ? Math.ceil(Math.log2(maxAbs)) : 0;
}

/**
 * The row-major point sets, translated and scaled exactly, for metrics whose ranking a common translation and positive
 * scaling preserve (distances of translated points are the same; scaled by c, they are c times theirs). Why: squared
 * distances overflow to +∞ (coordinates ≳ 1e154) or underflow to 0 (≲ 1e-162; in float32, ≳ 1e19 and ≲ 1e-19) where
 * the distances themselves are representable, and every candidate then ties. Scaled by 2^-e, the largest coordinate
 * is ≤ 1 and the squares lie in range. Both steps are exact, so the float64 ranking is the unscaled one bit for bit
 * where that did not over- or underflow: 2^-e changes only the exponent, and the shift c per coordinate is the
 * coordinate's least value only where every value lies in [c, 2c] (or [2c, c] below 0), where x − c is exact
 * (Sterbenz) — elsewhere 0: a rounding shift could merge distinct close points far from it. The shift also keeps offset
 * data's float32 coordinates exact to their spread. Returns the scaled copies and e: distances are 2^e times theirs.
 */
export function exactlyScaled(sets: readonly Float64Array[], d: number): { sets: Float64Array[]; exponent: number } {
  const lo = new Float64Array(d).fill(Infinity);
  const hi = new Float64Array(d).fill(-Infinity);
  for (const data of sets) boundingBox(data, d, lo, hi);
  const shift = new Float64Array(d);
  for (let k = 0; k < d; k++) {
    if (lo[k]! > 0 && hi[k]! <= 2 * lo[k]!) shift[k] = lo[k]!;
    else if (hi[k]! < 0 && lo[k]! >= 2 * hi[k]!) shift[k] = hi[k]!;
  }
  let maxAbs = 0;
  const shifted = sets.map((data) => {
    const out = new Float64Array(data.length);
    for (let t = 0; t < data.length; t++) {
      out[t] = data[t]! - shift[t % d]!; // exact (see above)
      maxAbs = Math.max(maxAbs, Math.abs(out[t]!));
    }
    return out;
  });
  const exponent = extentExponent(maxAbs);
  for (const out of shifted) scaleByPow2InPlace(out, -exponent);
  return { sets: shifted, exponent };
}

/**
 * Each row scaled exactly by its own power of two to a largest coordinate ≤ 1: the cosine distance depends on the
 * directions alone, and |x|², x·y overflow or underflow at extreme scales (1e300 beside 1e-300 included) otherwise.
 */
function rowsScaled(data: Float64Array, d: number): Float64Array {
  const out = new Float64Array(data.length);
  for (let row = 0; row < data.length; row += d) {
    let maxAbs = 0;
    for (let k = 0; k < d; k++) maxAbs = Math.max(maxAbs, Math.abs(data[row + k]!));
    const e = extentExponent(maxAbs);
    for (let k = 0; k < d; k++) out[row + k] = timesPow2(data[row + k]!, -e);
  }
  return out;
}

/**
 * x and y as bound for the metric, and the power of two p with distance = 2^p · (the metric on them): exactly scaled
 * for the built-in metrics (see `exactlyScaled`, `rowsScaled`); a formula metric's ranking may change under scaling,
 * so its points are bound as given.
 */
function boundForMetric(metric: string, x: PointsLike, y: PointsLike): { x: Formula; y: Formula; power: number } {
  if (!isBuiltIn(metric)) return { x: Vi(x, 'x'), y: Vj(y, 'y'), power: 0 };
  const bx = toBoundData(x, 'x');
  const by = toBoundData(y, 'y');
  if (bx.cols !== by.cols) throw new FormulaError(`knn: x has ${bx.cols} columns but y has ${by.cols}`);
  const d = bx.cols;
  const bind = (xs: Float64Array, ys: Float64Array, power: number) => ({
    x: Vi({ data: xs, rows: bx.rows, cols: d }, 'x'), y: Vj({ data: ys, rows: by.rows, cols: d }, 'y'), power,
  });
  if (metric === 'cosine') return bind(rowsScaled(bx.data, d), rowsScaled(by.data, d), 0);
  const { sets: [xs, ys], exponent } = exactlyScaled([bx.data, by.data], d);
  return bind(xs!, ys!, metric === 'sqeuclidean' ? 2 * exponent : exponent);
}

/** The formula ranked by the reduction (monotone in the metric) and the metric's value itself. */
function metricFormulas(metric: string, x: Formula, y: Formula): { rank: Formula; value: Formula } {
  switch (metric) {
    case 'euclidean': {
      const sq = x.sub(y).sqnorm2(); // same order as the norm, no square root per pair (in range: see `exactlyScaled`)
      return { rank: sq, value: x.sub(y).norm2() };
    }
    case 'sqeuclidean': {
      const sq = x.sub(y).sqnorm2();
      return { rank: sq, value: sq };
    }
    case 'manhattan': {
      const l1 = x.sub(y).abs().sum();
      return { rank: l1, value: l1 };
    }
    case 'cosine': {
      const c = x.dot(y).mul(x.sqnorm2().rsqrt()).mul(y.sqnorm2().rsqrt()).neg().add(1);
      // the distance, as scikit-learn's cosine_distances, within [0, 2]: rounding left −2.2e-16 for parallel vectors
      return { rank: c, value: c.clamp(0, 2) };
    }
    default: {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(metric) && metric !== 'x' && metric !== 'y') {
        throw new FormulaError(`knn: unknown metric '${metric}'; use one of ${KNN_METRICS.join(', ')} or a formula string in x and y`);
      }
      const f = parseFormulaIn(metric, { x, y }, true); // a metric that ignores x or y is refused below, by name
      const vars = collectVariables(f.node);
      if (vars.i.length === 0 || vars.j.length === 0 || f.dim !== 1) {
        throw new FormulaError(`knn: the metric formula '${metric}' must be a scalar using both x and y`);
      }
      return { rank: f, value: f };
    }
  }
}

/**
 * The k nearest neighbours in `y` of every point of `x` under `metric` (see KnnOptions), 1 ≤ k ≤ min(m, 64).
 * The search runs in the backend's precision (float32 on the GPU); the reported distances of the neighbours
 * found are recomputed in float64 and each row re-sorted by them.
 * @throws RangeError where a formula metric leaves the floating-point range on the points as given, so that a row's
 * ranking is not determined: a reported neighbour's float64 value is ±∞ or NaN (every pair of a row at 1e200 gives
 * +∞ under 'sqnorm2(x - y)', and the reduction ranks ties), or the float32 ranking met ±∞ or NaN where float64 is
 * finite (the reduction's float64 twin, src/operators/reductions.ts). Scale the points, or use a built-in metric.
 */
export async function knn(x: PointsLike, y: PointsLike, k: number, options: KnnOptions = {}): Promise<KnnResult> {
  const o = parseOptions('knn', options, KNN_SPEC);
  refuseGpuFloat64('knn', o.backend, o.dtype);
  const { x: X, y: Y, power } = boundForMetric(o.metric, x, y);
  if (X.dim !== Y.dim) throw new FormulaError(`knn: x has ${X.dim} columns but y has ${Y.dim}`);
  const m = collectVariables(Y.node).j[0]!.value.rows;
  const kk = checkArgument('knn', `k (at most the ${m} points of y and the limit ${MAX_KMIN_K})`, k, integer({ min: 1, max: Math.min(m, MAX_KMIN_K) }));
  const { rank, value } = metricFormulas(o.metric, X, Y);
  const placement = { ...(o.backend ? { backend: o.backend } : {}), ...(o.dtype ? { dtype: o.dtype } : {}) };
  const indices = await rankedOrRefused(rank, kk, placement, o.metric);
  const f = compileScalarJs(value.node);
  const n = indices.length / kk;
  const distances = new Float64Array(indices.length);
  const order = Array.from({ length: kk }, (_, t) => t);
  const rowIdx = new Int32Array(kk);
  const rowDist = new Float64Array(kk);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < kk; t++) {
      const j = indices[i * kk + t]!;
      rowDist[t] = f(i, j);
      if (!Number.isFinite(rowDist[t]!)) throw undeterminedRow(o.metric, i, j, rowDist[t]!);
    }
    rowIdx.set(indices.subarray(i * kk, (i + 1) * kk));
    order.sort((a, b) => rowDist[a]! - rowDist[b]! || rowIdx[a]! - rowIdx[b]!);
    // sorted on the scaled values: scaled back, distinct distances may round to the same 0 or +∞
    order.forEach((t, r) => { indices[i * kk + r] = rowIdx[t]!; distances[i * kk + r] = timesPow2(rowDist[t]!, power); });
    order.sort((a, b) => a - b);
  }
  return { indices, distances };
}

/** What a refusal tells to do: a formula metric is evaluated on the points as given. */
const RANGE_ADVICE = `scale the points (a formula metric is evaluated on them as given), or use a built-in metric `
  + `(${KNN_METRICS.join(', ')}), which scales the points exactly`;

/**
 * The reduction's argKmin; a float32 range refusal of it (data beyond float32's range, or a ranking that met ±∞ or NaN
 * where the float64 twin is finite: src/operators/reductions.ts) is re-thrown naming knn and the metric formula.
 */
async function rankedOrRefused(
  rank: Formula, k: number, placement: ReductionOptions, metric: string,
): Promise<Int32Array> {
  try {
    return await rank.argKmin(k, 1, placement);
  } catch (error) {
    if (!(error instanceof RangeError) || isBuiltIn(metric)) throw error;
    throw new RangeError(`knn: with the metric formula '${metric}': ${error.message}; or ${RANGE_ADVICE}`, { cause: error });
  }
}

/**
 * The refusal of a row whose reported neighbour has a metric value that is not finite (the points always are: they are
 * checked when bound): the formula overflowed to ±∞, made NaN of ∞ − ∞, or met a singularity (log(0), 1/0), and the
 * reduction ranked ties among such values — the neighbours returned would be arbitrary.
 */
function undeterminedRow(metric: string, row: number, j: number, v: number): RangeError {
  const what = isBuiltIn(metric) ? `the metric '${metric}'` : `the metric formula '${metric}'`;
  return new RangeError(`knn: row ${row}: neighbour ${j} has the value ${v} under ${what} (in float64) though every point is finite: `
    + `the formula leaves float64's range on these points (overflow to ±∞, NaN from ∞ − ∞) or meets a singularity, so the row's `
    + `ranking among such values is not determined; ${RANGE_ADVICE}`);
}
