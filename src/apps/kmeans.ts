/**
 * k-means on row-major typed arrays: greedy k-means++ seeding (scikit-learn's `_kmeans_plusplus`: 2 + ⌊ln k⌋ candidate
 * centres per step, the one that lowers the potential most kept) and Lloyd iterations, best inertia of `nInit` seeded
 * restarts.
 *
 * Why not ml-kmeans: its rows are arrays of arrays and every restart is a full run, which at 10⁶ spectral-embedding
 * rows cost more than the eigensolver (bench/spectral-stages.mjs). Here the rows are one typed array, and the restarts
 * run on a seeded subsample of at most RESTART_SAMPLE rows — they only choose the seeds, and 20,000 rows place k
 * well-separated centres as all rows do — then one Lloyd run on every row starts from the winner's centres.
 * Up to RESTART_SAMPLE rows this is scikit-learn's scheme (nInit full runs).
 */
import { mulberry32 } from '../krylov/random.js';

/** Most rows the k-means++ restarts run on; larger inputs are subsampled for them. */
export const RESTART_SAMPLE = 20000;

export interface KmeansOptions {
  /** Restarts (seeds seed, seed + 1, …); the least inertia wins. */
  readonly nInit: number;
  readonly seed: number;
  /** Lloyd iterations per run (default 300, as scikit-learn). */
  readonly maxIterations?: number;
  /** Stop when the centres move less than tol × the data's mean variance, squared (default 1e-4, as scikit-learn). */
  readonly tol?: number;
  /** Called after each restart (1-based) with its inertia on the rows it ran on. */
  readonly onRestart?: (restart: number, inertia: number) => void;
}

export interface KmeansResult {
  /** Cluster of each row, 0 … k − 1. */
  readonly labels: Int32Array;
  /** k×d row-major centres (the means of their rows). */
  readonly centroids: Float64Array;
  /** Sum of squared distances of the rows to their centres. */
  readonly inertia: number;
  /** Lloyd iterations of the final run. */
  readonly iterations: number;
}

/** Row-major n×d data. */
interface Rows { readonly data: Float64Array; readonly n: number; readonly d: number }

/** Best of nInit k-means++ restarts (on a subsample when n > RESTART_SAMPLE), refined on every row (see top). */
export function kmeans(rows: Rows, k: number, o: KmeansOptions): KmeansResult {
  if (!(k >= 1 && k <= rows.n)) throw new RangeError(`kmeans: k (${k}) must lie in [1, ${rows.n}]`);
  const maxIterations = o.maxIterations ?? 300;
  const tol = o.tol ?? 1e-4;
  const sample = rows.n > RESTART_SAMPLE ? subsample(rows, RESTART_SAMPLE, o.seed) : rows;
  let best: KmeansResult | undefined;
  for (let r = 0; r < o.nInit; r++) {
    const rand = mulberry32(o.seed + r);
    const run = lloyd(sample, kmeansPlusPlus(sample, k, rand), maxIterations, tol);
    o.onRestart?.(r + 1, run.inertia);
    if (best === undefined || run.inertia < best.inertia) best = run;
  }
  return sample === rows ? best! : lloyd(rows, best!.centroids, maxIterations, tol);
}

/** A seeded uniform sample of m rows without replacement (partial Fisher–Yates). */
function subsample(rows: Rows, m: number, seed: number): Rows {
  const { data, n, d } = rows;
  const rand = mulberry32(seed ^ 0x5bd1e995);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const out = new Float64Array(m * d);
  for (let t = 0; t < m; t++) {
    const j = t + Math.floor(rand() * (n - t));
    const v = order[j]!; order[j] = order[t]!; order[t] = v;
    out.set(data.subarray(v * d, v * d + d), t * d);
  }
  return { data: out, n: m, d };
}

function sqDist(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) {
    const t = a[i * d + c]! - b[j * d + c]!;
    s += t * t;
  }
  return s;
}

/** Greedy k-means++ (see top): k×d centres chosen among the rows. */
export function kmeansPlusPlus(rows: Rows, k: number, rand: () => number): Float64Array {
  const { data, n, d } = rows;
  const trials = 2 + Math.floor(Math.log(k));
  const centres = new Float64Array(k * d);
  const closest = new Float64Array(n);
  const trial = new Float64Array(n);
  const first = Math.floor(rand() * n);
  centres.set(data.subarray(first * d, first * d + d), 0);
  let potential = 0;
  for (let i = 0; i < n; i++) potential += closest[i] = sqDist(data, i, centres, 0, d);
  for (let c = 1; c < k; c++) {
    let bestPotential = Infinity;
    let bestRow = 0;
    let bestClosest: Float64Array | undefined;
    for (let t = 0; t < trials; t++) {
      const cand = sampleByWeight(closest, potential, rand);
      let p = 0;
      for (let i = 0; i < n; i++) p += trial[i] = Math.min(closest[i]!, sqDist(data, i, data, cand, d));
      if (p < bestPotential) { bestPotential = p; bestRow = cand; bestClosest = Float64Array.from(trial); }
    }
    centres.set(data.subarray(bestRow * d, bestRow * d + d), c * d);
    closest.set(bestClosest!);
    potential = bestPotential;
  }
  return centres;
}

/** An index drawn with probability ∝ w (uniform when all weights are 0: every row is a centre already). */
function sampleByWeight(w: Float64Array, total: number, rand: () => number): number {
  if (!(total > 0)) return Math.floor(rand() * w.length);
  let u = rand() * total;
  for (let i = 0; i < w.length; i++) {
    u -= w[i]!;
    if (u < 0) return i;
  }
  return w.length - 1;
}

/** Lloyd iterations from `start` (k×d) until no label changes or the centres settle, then the final labels. */
export function lloyd(rows: Rows, start: Float64Array, maxIterations: number, tol: number): KmeansResult {
  const { n, d } = rows;
  const k = start.length / d;
  const threshold = tol * meanVariance(rows);
  let centroids: Float64Array = Float64Array.from(start);
  const labels = new Int32Array(n).fill(-1);
  let iterations = 0;
  let inertia = assign(rows, centroids, labels).inertia;
  while (iterations < maxIterations) {
    iterations++;
    const next = means(rows, labels, centroids, k);
    let shift = 0;
    for (let t = 0; t < next.length; t++) shift += (next[t]! - centroids[t]!) ** 2;
    centroids = next;
    const a = assign(rows, centroids, labels);
    inertia = a.inertia;
    if (a.changed === 0 || shift <= threshold) break;
  }
  return { labels, centroids, inertia, iterations };
}

/** Each row to its nearest centre (ties: the lower index); the rows that changed cluster and the inertia. */
function assign(rows: Rows, centroids: Float64Array, labels: Int32Array): { changed: number; inertia: number } {
  const { data, n, d } = rows;
  const k = centroids.length / d;
  let changed = 0;
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = sqDist(data, i, centroids, 0, d);
    for (let c = 1; c < k; c++) {
      const s = sqDist(data, i, centroids, c, d);
      if (s < bestD) { bestD = s; best = c; }
    }
    if (labels[i] !== best) { labels[i] = best; changed++; }
    inertia += bestD;
  }
  return { changed, inertia };
}

/** The mean of each cluster's rows; an empty cluster takes the row farthest from its own centre (as scikit-learn). */
function means(rows: Rows, labels: Int32Array, old: Float64Array, k: number): Float64Array {
  const { data, n, d } = rows;
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    counts[c]++;
    for (let t = 0; t < d; t++) sums[c * d + t] += data[i * d + t]!;
  }
  for (let c = 0; c < k; c++) {
    if (counts[c]! > 0) {
      for (let t = 0; t < d; t++) sums[c * d + t] /= counts[c]!;
      continue;
    }
    let far = 0;
    let farD = -1;
    for (let i = 0; i < n; i++) {
      const s = sqDist(data, i, old, labels[i]!, d);
      if (s > farD) { farD = s; far = i; }
    }
    sums.set(data.subarray(far * d, far * d + d), c * d);
  }
  return sums;
}

/** The mean over columns of each column's variance (scikit-learn's scale of `tol`). */
function meanVariance(rows: Rows): number {
  const { data, n, d } = rows;
  let total = 0;
  for (let c = 0; c < d; c++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += data[i * d + c]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (data[i * d + c]! - mean) ** 2;
    total += v / n;
  }
  return total / d;
}
