/**
 * k-nearest neighbours by the k-min reduction of a distance formula (KeOps' argKmin): for every point x_i its
 * k closest y_j, without forming the n×m distance matrix (memory O((n + m)·d + n·k)), on the CPU or the GPU.
 */
import { Vi, Vj, type Formula } from '../formula/builder.js';
import { collectVariables } from '../formula/analyze.js';
import { compileScalarJs } from '../formula/emit-js.js';
import { FormulaError } from '../formula/errors.js';
import { parseFormulaIn } from '../formula/parse.js';
import type { PointsLike } from '../formula/points.js';
import { MAX_KMIN_K } from '../formula/reduction.js';
import { checkArgument, integer, oneOf, optional, parseOptions, string, withDefault } from '../operators/options.js';
import { refuseGpuFloat64 } from '../operators/kernel-operator.js';
import '../operators/reductions.js'; // the reductions' backends

export const KNN_METRICS = ['euclidean', 'sqeuclidean', 'manhattan', 'cosine'] as const;
export type KnnMetric = (typeof KNN_METRICS)[number];

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
  /** n×k row-major: the metric's value for each neighbour, ascending along the row, computed in float64. */
  readonly distances: Float64Array;
}

const KNN_SPEC = {
  metric: withDefault(string, 'euclidean'),
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  dtype: optional(oneOf('float32', 'float64')),
};

/** The formula ranked by the reduction (monotone in the metric) and the metric's value itself. */
function metricFormulas(metric: string, x: Formula, y: Formula): { rank: Formula; value: Formula } {
  switch (metric) {
    case 'euclidean': {
      const sq = x.sub(y).sqnorm2(); // same order as the norm, no square root per pair
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
 */
export async function knn(x: PointsLike, y: PointsLike, k: number, options: KnnOptions = {}): Promise<KnnResult> {
  const o = parseOptions('knn', options, KNN_SPEC);
  refuseGpuFloat64('knn', o.backend, o.dtype);
  const X = Vi(x, 'x');
  const Y = Vj(y, 'y');
  if (X.dim !== Y.dim) throw new FormulaError(`knn: x has ${X.dim} columns but y has ${Y.dim}`);
  const m = collectVariables(Y.node).j[0]!.value.rows;
  const kk = checkArgument('knn', `k (at most the ${m} points of y and the limit ${MAX_KMIN_K})`, k, integer({ min: 1, max: Math.min(m, MAX_KMIN_K) }));
  const { rank, value } = metricFormulas(o.metric, X, Y);
  const placement = { ...(o.backend ? { backend: o.backend } : {}), ...(o.dtype ? { dtype: o.dtype } : {}) };
  const indices = await rank.argKmin(kk, 1, placement);
  const f = compileScalarJs(value.node);
  const n = indices.length / kk;
  const distances = new Float64Array(indices.length);
  const order = Array.from({ length: kk }, (_, t) => t);
  const rowIdx = new Int32Array(kk);
  const rowDist = new Float64Array(kk);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < kk; t++) rowDist[t] = f(i, indices[i * kk + t]!);
    rowIdx.set(indices.subarray(i * kk, (i + 1) * kk));
    order.sort((a, b) => rowDist[a]! - rowDist[b]! || rowIdx[a]! - rowIdx[b]!);
    order.forEach((t, r) => { indices[i * kk + r] = rowIdx[t]!; distances[i * kk + r] = rowDist[t]!; });
    order.sort((a, b) => a - b);
  }
  return { indices, distances };
}
