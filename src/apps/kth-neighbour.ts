/**
 * The squared distance from each of a few query points to its k-th nearest neighbour among n points, exactly, for
 * k far beyond the k-min reductions' buffer (σ's heuristic asks for k = ⌈n/300⌉, 3,334 at n = 10⁶).
 *
 * CPU: one pass per query over the n points keeps only the distances below a threshold, taken from a strided pilot
 * subset so that about twice k points pass it; the k-th is selected among those (or, when the pilot misjudged, among
 * all n). GPU: the threshold is bisected with count reductions until fewer than MAX_KMIN_K points lie between it and
 * the k-th, which one arg-k-min reduction above the threshold then finds; its candidates are re-ranked in float64.
 */
import { Pm, Vi, Vj } from '../formula/builder.js';
import { MAX_KMIN_K } from '../formula/reduction.js';
import '../operators/reductions.js'; // the reductions' backends

/** Points of the strided pilot a CPU query first measures to place its threshold. */
const PILOT = 16384;
/** Fewer points than this are selected among directly, without a pilot. */
const MIN_PILOTED = 4096;
/** The pilot's threshold aims at this many times k points under it: the filter then rarely misses. */
const PILOT_MARGIN = 2;

/**
 * Row-major points and the query rows whose k-th neighbour (the query itself excluded) is asked for. The squared
 * distances are formed as such: pass points scaled to coordinates of about 1 (knn.ts's `exactlyScaled`, exact), else
 * they overflow to +∞ or underflow to 0 where the distances are representable (and the GPU's float32 and OUT_OF_RACE
 * bound them further).
 */
export interface KthNeighbourProblem {
  readonly data: Float32Array | Float64Array;
  readonly n: number;
  readonly d: number;
  /** Indices of the query points (repeats allowed). */
  readonly rows: Int32Array;
  /** Neighbour rank, 1 ≤ k < n. */
  readonly k: number;
}

/** Squared float64 distance of points i and j, summed over the coordinates in order (the one rounding every path uses). */
function sqDistance(data: Float32Array | Float64Array, d: number, i: number, j: number): number {
  let r2 = 0;
  for (let c = 0; c < d; c++) {
    const t = data[i * d + c]! - data[j * d + c]!;
    r2 += t * t;
  }
  return r2;
}

/** The k-th smallest (1-based) of a[0 … len), in place (Hoare quickselect, median-of-three pivots). */
export function kthSmallest(a: Float64Array, len: number, k: number): number {
  let lo = 0;
  let hi = len - 1;
  const target = k - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!; a[i] = a[j]!; a[j] = t;
        i++; j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/** Exact k-th neighbour squared distances on the CPU (see top), one per query row. */
export function kthNeighbourSqDistancesCpu(p: KthNeighbourProblem): Float64Array {
  const { n, rows, k } = p;
  const data = Float64Array.from(p.data); // one element type in the hot loop
  const stride = n >= MIN_PILOTED ? Math.max(2, Math.floor(n / PILOT)) : 0; // every other point at least
  const cap = Math.min(n, 4 * PILOT_MARGIN * k + 1024);
  const cand = new Float64Array(cap);
  const pilot = new Float64Array(stride ? Math.ceil(n / stride) : 0);
  const all = new Float64Array(n);
  const out = new Float64Array(rows.length);
  // the query is among the n at distance 0: its k-th neighbour is the (k+1)-th of all n distances
  for (let s = 0; s < rows.length; s++) {
    const i = rows[s]!;
    const count = stride ? scanBelow(data, p.d, n, i, pilotThreshold(data, p, i, stride, pilot), cand) : -1;
    if (count > k) out[s] = kthSmallest(cand, count, k + 1);
    else {
      scanBelow(data, p.d, n, i, Infinity, all);
      out[s] = kthSmallest(all, n, k + 1);
    }
  }
  return out;
}

/**
 * The squared distances from point i to every point (itself included) that are ≤ t, into `out`; −1 when more than
 * out.length are. Unrolled for d = 2 and 3; each sum adds the coordinates' squares in order from 0, as sqDistance.
 */
function scanBelow(data: Float64Array, d: number, n: number, i: number, t: number, out: Float64Array): number {
  const cap = out.length;
  let count = 0;
  if (d === 3) {
    const x0 = data[3 * i]!, x1 = data[3 * i + 1]!, x2 = data[3 * i + 2]!;
    for (let o = 0; o < 3 * n; o += 3) {
      const a = x0 - data[o]!, b = x1 - data[o + 1]!, c = x2 - data[o + 2]!;
      const r2 = a * a + b * b + c * c;
      if (r2 <= t) { if (count === cap) return -1; out[count++] = r2; }
    }
  } else if (d === 2) {
    const x0 = data[2 * i]!, x1 = data[2 * i + 1]!;
    for (let o = 0; o < 2 * n; o += 2) {
      const a = x0 - data[o]!, b = x1 - data[o + 1]!;
      const r2 = a * a + b * b;
      if (r2 <= t) { if (count === cap) return -1; out[count++] = r2; }
    }
  } else {
    for (let j = 0; j < n; j++) {
      const r2 = sqDistance(data, d, i, j);
      if (r2 <= t) { if (count === cap) return -1; out[count++] = r2; }
    }
  }
  return count;
}

/** A squared distance below which about PILOT_MARGIN·k of the n points lie, from every stride-th point. */
function pilotThreshold(data: Float64Array, p: KthNeighbourProblem, i: number, stride: number, work: Float64Array): number {
  const { n, d, k } = p;
  let m = 0;
  for (let j = 0; j < n; j += stride) work[m++] = sqDistance(data, d, i, j);
  const q = Math.min(m, Math.ceil((PILOT_MARGIN * k) / stride) + 8);
  return kthSmallest(work, m, q);
}

/** Stands in for +∞ (finite in float32) for the distances below the threshold: far above those of scaled points (≤ 4d). */
const OUT_OF_RACE = 1e30;

/** Bisection rounds of the GPU threshold before it gives up (each halves every row's bracket). */
const MAX_BISECTIONS = 64;

/**
 * Exact k-th neighbour squared distances with the reductions of `backend` (the GPU's float32 ranks, re-ranked in
 * float64; see top): counts bisect each query's bracket [lo, hi) until k − count(r² < lo) ≤ MAX_KMIN_K, then the
 * arg-k-min of the distances ≥ lo names the candidates.
 */
export async function kthNeighbourSqDistancesReduced(p: KthNeighbourProblem, backend: 'cpu' | 'gpu'): Promise<Float64Array> {
  const { data, n, d, rows, k } = p;
  const m = rows.length;
  const queries = new Float64Array(m * d);
  for (let s = 0; s < m; s++) for (let c = 0; c < d; c++) queries[s * d + c] = data[rows[s]! * d + c]!;
  const X = Vi({ data: queries, rows: m, cols: d }, 'x');
  const Y = Vj({ data, rows: n, cols: d }, 'y');
  const r2 = X.sub(Y).sqnorm2();
  const place = { backend };
  // the query itself is at distance 0 among the n: its k-th neighbour is the (k+1)-th of the distances
  const rank = k + 1;
  const lo = new Float64Array(m); // count(r² < lo) < rank
  const below = new Float64Array(m); // count(r² < lo)
  let hi: Float64Array | undefined; // count(r² < hi) ≥ rank
  for (let round = 0; round < MAX_BISECTIONS; round++) {
    const open = Array.from({ length: m }, (_, s) => s).filter((s) => rank - below[s]! > MAX_KMIN_K);
    if (open.length === 0) break;
    hi ??= Float64Array.from(await r2.max(1, place), (v) => v * 2 + 1);
    const mid = Float64Array.from(lo, (v, s) => (v + hi![s]!) / 2);
    const T = Vi({ data: mid, rows: m, cols: 1 }, 't');
    const atLeast = await r2.sub(T).step().sum(1, place); // count(r² ≥ mid)
    for (const s of open) {
      const under = n - atLeast[s]!;
      if (under < rank) { lo[s] = mid[s]!; below[s] = under; } else hi![s] = mid[s]!;
    }
  }
  // rows the bisection could not narrow (more than MAX_KMIN_K float32 ties at the k-th): exactly on the CPU
  const stuck = Int32Array.from(Array.from(rows.keys()).filter((s) => rank - below[s]! > MAX_KMIN_K));
  const out = new Float64Array(m);
  if (stuck.length > 0) {
    const cpu = kthNeighbourSqDistancesCpu({ ...p, rows: Int32Array.from(stuck, (s) => rows[s]!) });
    stuck.forEach((s, t) => { out[s] = cpu[t]!; below[s] = rank - 1; }); // below: keep these rows out of `want`
  }
  const L = Vi({ data: lo, rows: m, cols: 1 }, 'lo');
  const above = r2.sub(L).ifelse(r2, Pm(OUT_OF_RACE, 'inf')); // r² where r² ≥ lo, else out of the race
  const want = Math.max(...Array.from(below, (b) => rank - b));
  const idx = await above.argKmin(want, 1, place);
  const row = new Float64Array(want);
  const done = new Set(stuck);
  for (let s = 0; s < m; s++) {
    if (done.has(s)) continue;
    const i = rows[s]!;
    let c = 0;
    for (let t = 0; t < want; t++) {
      const j = idx[s * want + t]!;
      if (j >= 0) row[c++] = j === i ? 0 : sqDistance(data, d, i, j); // −1: fewer than `want` points at or above lo
    }
    out[s] = kthSmallest(row, c, rank - below[s]!);
  }
  return out;
}
