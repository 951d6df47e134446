/**
 * Spectral clustering (Ng, Jordan & Weiss 2001) on a symbolic Gaussian affinity: the normalised affinity
 * A = D^{-1/2} (K − I) D^{-1/2} is a lazy composition of operators — K never stored by this module — its top
 * nClusters eigenvectors (eigsh, 'LA') embed the points, rows normalised to unit length, and k-means++
 * (kmeans.ts: several seeded restarts, best inertia) labels the embedded rows.
 *
 * Why K − I (the diagonal zeroed, as scikit-learn's `spectral_embedding` does through scipy's `laplacian`): with
 * self-loops, a point far from all others has degree ≈ 1 made only of its own loop, so it forms a cluster of its
 * own of conductance ≈ 0 and eigenvalue ≈ 1 — an outlier takes one of the nClusters eigenvectors. Without the
 * loop its conductance is 1 and it joins the cluster it is nearest to. A degree the products cannot tell from 0
 * (below the dtype's rounding of K·1) is floored there: such a point is isolated, and when many are, σ is too
 * small and we say so.
 */
import { Matrix } from 'ml-matrix';
import { toBoundData, type PointsLike } from '../formula/points.js';
import { eigsh, type EigshProgress } from '../krylov/eigsh.js';
import { lobpcg, lobpcgSolvesDensely } from '../krylov/lobpcg.js';
import { missedEigenvalue } from '../krylov/missed-eigenvalue.js';
import { mulberry32 } from '../krylov/random.js';
import { dtypeEps } from '../krylov/util.js';
import { DiagonalOperator } from '../operators/dense.js';
import { gaussianKernel } from '../operators/kernels.js';
import { ProductOperator, type LinearOperator } from '../operators/linear-operator.js';
import {
  checkArgument, field, func, integer, nonNegativeNumber, oneOf, optional, parseOptions, positiveInt, positiveNumber, withDefault,
  type OptionField,
} from '../operators/options.js';
import { refuseGpuFloat64, resolvePlacement, timesPow2, type BackendChoice } from '../operators/kernel-operator.js';
import type { Dtype } from '../operators/types.js';
import { settleCallback } from '../operators/validate.js';
import { MAX_KMIN_K } from '../formula/reduction.js';
import { PACKED_BLOCK_COLUMNS } from '../cpu/dense-product.js';
import { connectedComponents, knnConnectivity } from './knn-graph.js';
import { warn } from '../operators/warnings.js';
import { kmeans } from './kmeans.js';
import { kthNeighbourSqDistancesCpu, kthNeighbourSqDistancesReduced, type KthNeighbourProblem } from './kth-neighbour.js';
import { exactlyScaled } from './knn.js';

/** One stage's report: 'sigma' (the heuristic), 'degrees', 'eigsh' (each restart), 'kmeans' (each restart), 'done'. */
export interface SpectralProgress {
  readonly stage: 'sigma' | 'degrees' | 'eigsh' | 'kmeans' | 'done';
  /** Milliseconds since spectralClustering started. */
  readonly elapsedMs: number;
  /** Milliseconds this stage took so far. */
  readonly stageMs: number;
  /** eigsh's own report (restart, matvecs, converged pairs). */
  readonly eigsh?: EigshProgress;
  /** lobpcg's report (iteration, current eigenvalues, residual norms). */
  readonly lobpcg?: { iteration: number; eigenvalues: Float64Array; residualNorms: Float64Array; elapsedMs: number };
  /** k-means: the restart done (1-based) and its inertia (on the restarts' subsample beyond 20,000 points). */
  readonly restart?: number;
  readonly inertia?: number;
  readonly sigma?: number;
}

export interface SpectralClusteringOptions {
  /** Number of clusters k ≥ 1 (required). */
  nClusters: number;
  /** Gaussian bandwidth σ of the affinity exp(−|x − y|²/(2σ²)); omitted: `defaultSpectralSigma` (returned). */
  sigma?: number;
  /**
   * 'rbf' (default): the Gaussian affinity. 'knn': scikit-learn's 'nearest_neighbors' — the symmetric k-NN
   * connectivity graph (C + Cᵀ)/2, C_ij = 1 when j is among the `nNeighbors` nearest of i (itself included),
   * stored sparse (O(n·nNeighbors)); `sigma` does not apply to it and is refused.
   */
  affinity?: 'rbf' | 'knn';
  /** affinity 'knn' only: neighbours per point, the point itself included (default 10, as scikit-learn). */
  nNeighbors?: number;
  /** Seed of σ's sample, eigsh's start vector and the k-means restarts (default 0). */
  seed?: number;
  backend?: BackendChoice;
  /** Precision of the affinity's products (default 'float32': clustering needs no more, and it is 2–3× faster on the CPU). */
  dtype?: Dtype;
  /**
   * k-means++ restarts; the one of least inertia wins (default 10, as scikit-learn). Beyond RESTART_SAMPLE (20,000)
   * points the restarts run on a seeded subsample of that size and one Lloyd run on all points refines the winner.
   */
  nInit?: number;
  /**
   * Residual tolerance of the top nClusters eigenpairs (default 1e-4). k-means needs the invariant subspace only to a
   * few digits: its error is about tol / (1 − λ_{nClusters+1}), and the embedding's rows cluster the same. 0: as tight
   * as the products attain, with either eigensolver (eigsh's 2ε; lobpcg's 100·ε of the dtype).
   */
  tol?: number;
  /** eigsh's Lanczos basis size (default max(2·nClusters + 1, 40)); eigensolver 'eigsh' only. */
  ncv?: number;
  /** Neighbour rank of σ's heuristic (default `defaultNeighbors(n)` = max(10, ⌈n/300⌉)). */
  sigmaNeighbors?: number;
  /** 'lobpcg' (default): a block method; 'eigsh': single-vector Lanczos (see top: misses repeated eigenvalues). */
  eigensolver?: 'lobpcg' | 'eigsh';
  /** LOBPCG's block size (default `defaultBlockSize(nClusters)`: nClusters + 1 rounded up to a multiple of 4); eigensolver 'lobpcg' only. */
  blockSize?: number;
  /** LOBPCG iterations (default 500); with eigensolver 'eigsh', its restart cycles (default eigsh's own). */
  maxiter?: number;
  onProgress?: (p: SpectralProgress) => void;
}

export interface SpectralClusteringResult {
  /** Cluster of each point, 0 … nClusters − 1, numbered by first appearance. */
  readonly labels: Int32Array;
  /** The top nClusters eigenvalues of D^{-1/2}(K − I)D^{-1/2}, ascending (the largest is ≤ 1). */
  readonly eigenvalues: Float64Array;
  /** The n×nClusters row-normalised spectral embedding k-means ran on. */
  readonly embedding: Matrix;
  /** The σ used (given, or from the heuristic); NaN for affinity 'knn'. */
  readonly sigma: number;
  /** k-means inertia of the labels on the embedding. */
  readonly inertia: number;
  /** Products eigsh spent. */
  readonly matvecs: number;
  /**
   * Affinity 'knn': the connected components of the k-NN graph. More than nClusters leaves which components share a
   * cluster arbitrary (every such split cuts no edge): said by a warning, as scikit-learn does.
   */
  readonly components?: number;
}

const SPECTRAL_SPEC = {
  nClusters: positiveInt,
  sigma: optional(positiveNumber),
  affinity: withDefault(oneOf('rbf', 'knn'), 'rbf' as 'rbf' | 'knn'),
  nNeighbors: optional(integer({ min: 1, max: MAX_KMIN_K })),
  seed: withDefault(integer(), 0),
  backend: optional(oneOf('auto', 'cpu', 'gpu')),
  dtype: withDefault(oneOf('float32', 'float64'), 'float32' as Dtype),
  nInit: withDefault(integer({ min: 1, max: 1000 }), 10),
  tol: withDefault(nonNegativeNumber, 1e-4),
  ncv: optional(positiveInt),
  sigmaNeighbors: optional(positiveInt),
  eigensolver: withDefault(oneOf('lobpcg', 'eigsh'), 'lobpcg' as 'lobpcg' | 'eigsh'),
  blockSize: optional(positiveInt),
  maxiter: withDefault(positiveInt, 500),
  onProgress: optional(func),
} satisfies Record<keyof SpectralClusteringOptions, OptionField<unknown>>;

/**
 * The neighbour rank σ's heuristic uses by default: max(10, ⌈n/300⌉). A fixed share of n keeps σ about the same as the
 * data grow denser (a fixed rank would shrink σ like n^{-1/d}, and with it the spectral gap LOBPCG converges by, ∝ σ²);
 * the share is small enough that clusters of more than 1% of the points stay apart.
 */
export function defaultNeighbors(n: number): number {
  checkArgument('defaultNeighbors', 'n', n, positiveInt);
  return Math.max(10, Math.ceil(n / 300));
}

/** Points whose distances σ's heuristic measures. */
export const SIGMA_SAMPLE = 512;

/**
 * σ's heuristic: the median, over a seeded sample of SIGMA_SAMPLE points, of the distance from each to its
 * `neighbors`-th nearest neighbour among all n points (exact, O(SIGMA_SAMPLE·n·d): see kth-neighbour.ts). The affinity then links
 * each point to about its `neighbors` nearest with weight ≥ e^{-1/2}: local enough to follow curved clusters, wide
 * enough to keep each cluster connected; it shrinks as the data grow denser.
 */
export function defaultSpectralSigma(points: PointsLike, options: { neighbors?: number; seed?: number } = {}): number {
  const problem = sigmaProblem(points, options);
  return medianDistance(kthNeighbourSqDistancesCpu(problem), problem, 'defaultSpectralSigma', 'give sigma (it need not come from the data)');
}

/**
 * `defaultSpectralSigma` with the k-th neighbour distances found on `backend`: the CPU's filtered selection (the same
 * σ, bit for bit), or the GPU's count bisection and arg-k-min (float32 ranks re-ranked in float64: the same σ but
 * where float32 rounding reorders near-ties at the k-th neighbour).
 */
export async function spectralSigma(points: PointsLike, options: { neighbors?: number; seed?: number; backend: 'cpu' | 'gpu' }): Promise<number> {
  const problem = sigmaProblem(points, options);
  const r2 = options.backend === 'gpu' ? await kthNeighbourSqDistancesReduced(problem, 'gpu') : kthNeighbourSqDistancesCpu(problem);
  return medianDistance(r2, problem, 'spectralClustering', 'give sigma, or a larger sigmaNeighbors');
}

/**
 * The seeded sample (with replacement; all points when n ≤ SIGMA_SAMPLE) whose k-th neighbour distances σ takes the
 * median of, on the points exactly scaled by 2^-exponent (and shifted where exact: `exactlyScaled`): squared distances
 * of the points as given overflow to +∞ (σ = ∞ at 1e160) or underflow to 0 ("duplicate points" at 1e-200). σ is then
 * 2^exponent times the scaled points' σ: equivariant, σ(c·X) = c·σ(X), exactly so for powers of two.
 */
function sigmaProblem(points: PointsLike, options: { neighbors?: number; seed?: number }): KthNeighbourProblem & { exponent: number } {
  const k = checkArgument('defaultSpectralSigma', 'neighbors', options.neighbors, withDefault(positiveInt, 10));
  const seed = checkArgument('defaultSpectralSigma', 'seed', options.seed, withDefault(integer(), 0));
  const { data: given, rows: n, cols: d } = toBoundData(points, 'points');
  if (n <= k) throw new RangeError(`defaultSpectralSigma: needs more than ${k} points (neighbors), got ${n}`);
  const rand = mulberry32(seed);
  const m = Math.min(n, SIGMA_SAMPLE);
  const rows = Int32Array.from({ length: m }, (_, s) => (m === n ? s : Math.floor(rand() * n)));
  const { sets: [data], exponent } = exactlyScaled([given], d);
  return { data: data!, n, d, rows, k, exponent };
}

/**
 * The median of the k-th neighbour distances r2 (squared, of the scaled points), scaled back by 2^exponent; 0 (most
 * points have k duplicates) is refused by `fn`, with `remedy`, and so is a σ beyond float64's range.
 */
function medianDistance(r2: Float64Array, { k, exponent }: { k: number; exponent: number }, fn: string, remedy: string): number {
  const kth = r2.map(Math.sqrt).sort();
  const m = kth.length;
  const median = m % 2 ? kth[(m - 1) / 2]! : (kth[m / 2 - 1]! + kth[m / 2]!) / 2;
  if (!(median > 0)) {
    throw new RangeError(`${fn}: most points lie at distance 0 from their ${ordinal(k)} nearest neighbour (duplicate points), so the neighbour scale σ would be 0; ${remedy}`);
  }
  const sigma = timesPow2(median, exponent);
  // points spread near ±1.8e308: the median neighbour distance itself exceeds float64's range
  if (!Number.isFinite(sigma)) {
    throw new RangeError(`${fn}: the neighbour scale σ (${median}·2^${exponent}) exceeds float64's range; rescale the points or give sigma`);
  }
  return sigma;
}

/** 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st, … */
function ordinal(k: number): string {
  const tens = k % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][k % 10] ?? 'th');
  return `${k}${suffix}`;
}

/** Degrees below this many ulps of the row sum K·1 are rounding, not affinity: the point is isolated. */
const ISOLATED_ULPS = 64;
/** More isolated points than this fraction: σ is too small for the data, refused rather than clustered as noise. */
const MAX_ISOLATED_FRACTION = 0.01;

/**
 * Clusters `points` (n×d) into `nClusters` groups by spectral clustering on the Gaussian affinity. The affinity is
 * a symbolic kernel operator on the chosen backend; memory stays O(n·(d + nClusters)) besides what the kernel
 * operator itself may cache (its 'auto' dense cache, within its budget).
 *
 * @example
 * const { points } = twoMoons(3000, { noise: 0.06, seed: 1 });
 * const { labels, sigma, eigenvalues } = await spectralClustering(points, { nClusters: 2, seed: 0 });
 * @throws RangeError when σ is so small that more than 1% of the points have no neighbour within reach;
 *   EigshNoConvergence when Lanczos does not converge in its restarts.
 */
export async function spectralClustering(points: PointsLike, options: SpectralClusteringOptions): Promise<SpectralClusteringResult> {
  const o = parseSpectralOptions(options);
  const t0 = performance.now();
  const report = stageClock(t0, o.onProgress as SpectralClusteringOptions['onProgress']);
  const { rows: n } = toBoundData(points, 'spectralClustering: points');
  // as scikit-learn's: a neighbour scale, degrees and an embedding need a second point
  if (n < 2) throw new RangeError(`spectralClustering: points has ${n} row; at least 2 points are needed`);
  if (o.nClusters > n) throw new RangeError(`spectralClustering: nClusters (${o.nClusters}) exceeds the number of points (${n})`);

  if (o.affinity === 'knn') return knnSpectral(points, n, o, report);
  if (o.nNeighbors !== undefined) throw new RangeError("spectralClustering: nNeighbors applies to affinity 'knn' only");
  // it tunes the heuristic σ: beside a given sigma it was ignored
  if (o.sigma !== undefined && o.sigmaNeighbors !== undefined) throw new RangeError('spectralClustering: sigmaNeighbors sets the heuristic σ; it does not apply with sigma given');
  const backend = resolvePlacement(o.backend, o.dtype, n * n).backend;
  const sigma = o.sigma ?? await spectralSigma(points, { neighbors: Math.min(o.sigmaNeighbors ?? defaultNeighbors(n), n - 1), seed: o.seed, backend });
  await report('sigma', { sigma });
  const K = gaussianKernel(points, { sigma, dtype: o.dtype, backend: o.backend });
  K.expectRepeatedProducts(); // a K that fits the dense cache is stored at the degrees' product, not after it
  try {
    const scale = await inverseSqrtDegrees(K, n, sigma);
    await report('degrees');
    const S = new DiagonalOperator(scale);
    const A = new ProductOperator([S, K.shift(-1), S]); // D^{-1/2}(K − I)D^{-1/2}, applied right to left
    const eig = await topEigenvectors(A, scale, { points, sigma }, o, (p) => report('eigsh', p));
    const embedding = rowNormalised(eig.eigenvectors);
    const best = bestKmeans(embedding, o.nClusters, o.nInit, o.seed, (restart, inertia) => void report('kmeans', { restart, inertia }));
    await report('done');
    await report.settled();
    return { labels: best.labels, eigenvalues: eig.eigenvalues, embedding, sigma, inertia: best.inertia, matvecs: eig.matvecs };
  } finally {
    await K.dispose();
  }
}

type Parsed = ReturnType<typeof parseSpectralOptions>;

/** Default neighbours of the k-NN affinity (scikit-learn's n_neighbors). */
export const DEFAULT_KNN_NEIGHBORS = 10;

/** Spectral clustering on the sparse k-NN connectivity graph W: D^{-1/2} W D^{-1/2}, W's diagonal already 0. */
async function knnSpectral(points: PointsLike, n: number, o: Parsed, report: ReturnType<typeof stageClock>): Promise<SpectralClusteringResult> {
  if (o.sigma !== undefined) throw new RangeError("spectralClustering: sigma applies to affinity 'rbf' only (affinity 'knn' has no bandwidth)");
  const k = o.nNeighbors ?? DEFAULT_KNN_NEIGHBORS;
  if (k > n) {
    const given = o.nNeighbors === undefined ? `the default nNeighbors (${k})` : `nNeighbors (${k})`;
    throw new RangeError(`spectralClustering: ${given} exceeds the number of points (${n}); give nNeighbors ≤ ${n}`);
  }
  const W = await knnConnectivity(points, k, { ...(o.backend ? { backend: o.backend } : {}), dtype: o.dtype });
  const degrees = await W.matvec(new Float64Array(n).fill(1));
  const scale = degrees.map((d) => 1 / Math.sqrt(d)); // every point links to ≥ 1 other when k ≥ 2
  if (!scale.every(Number.isFinite)) throw new RangeError(`spectralClustering: nNeighbors = ${k} leaves points without a neighbour; use nNeighbors ≥ 2`);
  await report('degrees');
  const components = connectedComponents(W);
  if (components > o.nClusters) {
    warn(
      `spectralClustering: the ${k}-nearest-neighbour graph has ${components} connected components, more than nClusters = ${o.nClusters}: ` +
        `which components share a cluster is arbitrary (every such split cuts no edge); raise nNeighbors, or ask for ${components} clusters`,
      'LAZYLINALG_DISCONNECTED_GRAPH',
    );
  }
  const S = new DiagonalOperator(scale);
  const A = new ProductOperator([S, W, S]);
  const eig = await topEigenvectors(A, scale, undefined, o, (p) => report('eigsh', p)); // no Gaussian warm start for a graph
  const embedding = rowNormalised(eig.eigenvectors);
  const best = bestKmeans(embedding, o.nClusters, o.nInit, o.seed, (restart, inertia) => void report('kmeans', { restart, inertia }));
  await report('done');
  await report.settled();
  return { labels: best.labels, eigenvalues: eig.eigenvalues, embedding, sigma: NaN, inertia: best.inertia, matvecs: eig.matvecs, components };
}
function parseSpectralOptions(options: unknown) {
  const o = parseOptions('spectralClustering', options, SPECTRAL_SPEC);
  refuseGpuFloat64('spectralClustering', o.backend, o.dtype);
  // each of these is one eigensolver's: beside the other they were ignored
  if (o.eigensolver === 'lobpcg' && o.ncv !== undefined) {
    throw new RangeError("spectralClustering: ncv is eigsh's Lanczos basis size; it does not apply to eigensolver 'lobpcg' (the default) — give eigensolver 'eigsh', or blockSize for LOBPCG");
  }
  if (o.eigensolver === 'eigsh' && o.blockSize !== undefined) {
    throw new RangeError("spectralClustering: blockSize is LOBPCG's block size; it does not apply to eigensolver 'eigsh' — give ncv for its Lanczos basis");
  }
  // maxiter given with eigsh bounds its restart cycles (eigsh's own default otherwise); before, it was ignored there
  const eigshMaxiter = o.eigensolver === 'eigsh' && (options as { maxiter?: unknown }).maxiter !== undefined ? o.maxiter : undefined;
  return { ...o, eigshMaxiter };
}

/** The top nClusters eigenpairs of A (ascending), by LOBPCG on a block started from D^{1/2}·1 (A's top eigenvector), or by eigsh. */
async function topEigenvectors(
  A: LinearOperator, scale: Float64Array, data: { points: PointsLike; sigma: number } | undefined, o: Parsed, onProgress: (p: Partial<SpectralProgress>) => void,
) {
  const n = A.shape[0];
  const k = o.nClusters;
  if (o.eigensolver === 'eigsh') {
    // Lanczos (as ARPACK) finds fewer eigenpairs than the order; LOBPCG's dense path takes all
    if (k >= n) throw new RangeError(`spectralClustering: eigensolver 'eigsh' needs nClusters < the number of points (${n}), got nClusters = ${k}; use eigensolver 'lobpcg'`);
    const ncv = o.ncv ?? Math.min(n, Math.max(2 * k + 1, 40));
    const eig = await eigsh(A, k, {
      which: 'LA', tol: o.tol, seed: o.seed, symmetric: true, ncv, ...(o.eigshMaxiter !== undefined ? { maxiter: o.eigshMaxiter } : {}),
      onProgress: (p: EigshProgress) => onProgress({ eigsh: p }),
    });
    // Single-vector Lanczos holds one copy of a (nearly) repeated eigenvalue, and well-separated groups give the
    // normalised affinity an eigenvalue ≈ 1 per group: two moons (n = 400) came back with 0.99999907 and 0.99418 for
    // 1 and 0.99999728 — converged at tol 1e-4, the second direction missing, ARI 0.38 (LOBPCG: 1.00). A short Lanczos
    // run on A deflated of the pairs found shows a Ritz value beyond the k-th found by more than 10·tol (the found
    // values' own error is up to tol; a tie is not a miss): refused.
    const vectors = Array.from({ length: k }, (_, c) => Float64Array.from(eig.eigenvectors!.getColumn(c)));
    const found = Array.from(eig.eigenvalues);
    const margin = 10 * Math.max(o.tol, 1e-10) * Math.max(...found.map(Math.abs));
    const check = await missedEigenvalue(async (x) => (await A.matvec(x)) as Float64Array, vectors, found, 'LA', Math.min(n - k, Math.max(20, 2 * ncv)), margin, mulberry32(o.seed + 2));
    if (check.missed !== undefined) {
      throw new RangeError(`spectralClustering: eigensolver 'eigsh' missed an eigenvalue among the top ${k}: ${check.missed.toPrecision(8)} lies above the ${ordinal(k)} found (${Math.min(...found).toPrecision(8)}) — `
        + "a nearly repeated eigenvalue (groups well apart give one ≈ 1 each), of which single-vector Lanczos holds one copy; use eigensolver 'lobpcg' (the default), whose block holds them");
    }
    return { eigenvalues: eig.eigenvalues, eigenvectors: eig.eigenvectors!, matvecs: eig.matvecs + check.matvecs };
  }
  if (o.blockSize !== undefined && o.blockSize < k) throw new RangeError(`spectralClustering: blockSize (${o.blockSize}) must be ≥ nClusters (${k})`);
  const m = Math.max(k, Math.min(o.blockSize ?? defaultBlockSize(k), Math.floor(n / 5))); // tiny n: lobpcg's dense path
  const X0 = data && n >= 2 * WARM_START_SAMPLE ? await warmStart(data.points, data.sigma, scale, m, o) : startBlock(scale, m, o.seed);
  // only the top k must converge: the other m − k columns guard them (see lobpcg's `wanted`)
  // verify: false — the start block's seeded random columns (or the warm start's interpolated eigenvectors) reach every
  // eigenvector: the check's 20 one-vector products would cost as much as the iteration's block products on the GPU
  // maxiter only where lobpcg iterates (its dense path warns of a maxiter it cannot use)
  const maxiter = lobpcgSolvesDensely(n, m) ? {} : { maxiter: o.maxiter };
  const r = await lobpcg(A, X0, { largest: true, tol: lobpcgTol(o.tol, A.dtype), ...maxiter, wanted: k, verify: false, onProgress: (p) => onProgress({ lobpcg: p }) });
  if (!r.converged) {
    const worst = Math.max(...r.residualNorms.subarray(m - k));
    throw new Error(`spectralClustering: LOBPCG did not converge in ${o.maxiter} iterations (largest residual ${worst.toExponential(2)} > tol ${o.tol}); raise maxiter or tol, or give a larger sigma`);
  }
  const cols = Array.from({ length: k }, (_, j) => m - k + j);
  return { eigenvalues: Float64Array.from(cols, (c) => r.eigenvalues[c]!), eigenvectors: r.eigenvectors.subMatrixColumn(cols), matvecs: r.matvecs };
}


/**
 * LOBPCG's default block: nClusters + 1 columns (at least one guard vector) rounded up to a multiple of
 * PACKED_BLOCK_COLUMNS, the column group of a packed product over a stored K (a product takes whole groups; columns
 * left over run as a product of their own). Only the top nClusters must converge: at n = 20,000 (moons, circles)
 * 4 columns took ~30 iterations where 10–11 columns took ~20 of three passes over K (measured before a product
 * read K once for up to 12 columns).
 */
export function defaultBlockSize(nClusters: number): number {
  return PACKED_BLOCK_COLUMNS * Math.ceil((nClusters + 1) / PACKED_BLOCK_COLUMNS);
}

/**
 * The tolerance handed to lobpcg for the option's `tol`: itself, and for 0 the tightest the products attain (100·ε of
 * their dtype). Why: lobpcg reads 0 as scipy does, as its loose default n·√ε — 0.2 in float32 at n = 600, where two
 * moons came back with ARI 0.015 (eigenvalues 0.907 and 1 for 1 and 1) instead of eigsh's machine precision.
 */
function lobpcgTol(tol: number, dtype: Dtype): number {
  return tol > 0 ? tol : 100 * dtypeEps(dtype);
}

/** D^{1/2}·1 (A's top eigenvector, eigenvalue 1) and m − 1 seeded random columns. */
function startBlock(scale: Float64Array, m: number, seed: number): Matrix {
  const n = scale.length;
  const rand = mulberry32(seed);
  const X0 = new Matrix(n, m);
  for (let i = 0; i < n; i++) {
    X0.set(i, 0, 1 / scale[i]!);
    for (let j = 1; j < m; j++) X0.set(i, j, 2 * rand() - 1);
  }
  return X0;
}

/** Fewest points of the subsample whose embedding starts LOBPCG on large problems. */
export const WARM_START_SAMPLE = 2000;
/** The subsample is a quarter of the points, at least WARM_START_SAMPLE and at most WARM_START_MAX. */
const WARM_START_SHARE = 4;
/** Most points of the subsample: its stored K (packed float32, ≤ 50 MB) stays a constant, memory O(n·d). */
export const WARM_START_MAX = 5000;

/**
 * LOBPCG's start on n ≥ 2·WARM_START_SAMPLE points: the top m eigenvectors of the same normalised affinity on a seeded
 * subsample S of n/WARM_START_SHARE points (within [WARM_START_SAMPLE, WARM_START_MAX]) — itself started this way when large enough —
 * extended to every point by the Nyström formula u(x) ∝ d(x)^{-1/2} Σ_{s∈S} k(x, s) d_S(s)^{-1/2} u_S(s): one
 * product with the n×|S| cross kernel. The subsample's eigenvectors sample the same eigenfunctions, so the start
 * is already close and the full LOBPCG needs about half the iterations of a random start.
 */
async function warmStart(points: PointsLike, sigma: number, scale: Float64Array, m: number, o: Parsed): Promise<Matrix> {
  const { data, rows: n, cols: d } = toBoundData(points, 'spectralClustering: points');
  const size = Math.min(WARM_START_MAX, Math.max(WARM_START_SAMPLE, Math.floor(n / WARM_START_SHARE)));
  const rand = mulberry32(o.seed + 1);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const sample = new Float64Array(size * d);
  for (let t = 0; t < size; t++) { // partial Fisher–Yates: a uniform sample without replacement
    const j = t + Math.floor(rand() * (n - t));
    [order[t], order[j]] = [order[j]!, order[t]!];
    sample.set(data.subarray(order[t]! * d, order[t]! * d + d), t * d);
  }
  const S = { data: sample, rows: size, cols: d };
  const Ks = gaussianKernel(S, { sigma, dtype: o.dtype, backend: o.backend });
  const cross = gaussianKernel(points, { y: S, sigma, dtype: o.dtype, backend: o.backend });
  try {
    Ks.expectRepeatedProducts();
    const scaleS = await inverseSqrtDegrees(Ks, size, sigma, false);
    const Ds = new DiagonalOperator(scaleS);
    const X0 = size >= 2 * WARM_START_SAMPLE ? await warmStart(S, sigma, scaleS, m, o) : startBlock(scaleS, m, o.seed);
    // a start: a tenth of the final accuracy, and not-converged is no error here (the full LOBPCG checks)
    const sub = await lobpcg(new ProductOperator([Ds, Ks.shift(-1), Ds]), X0, { largest: true, tol: 10 * lobpcgTol(o.tol, Ks.dtype), ...(lobpcgSolvesDensely(size, m) ? {} : { maxiter: o.maxiter }), wanted: o.nClusters, verify: false });
    const W = sub.eigenvectors.clone();
    for (let i = 0; i < size; i++) for (let j = 0; j < m; j++) W.set(i, j, W.get(i, j) * scaleS[i]!);
    const V = await cross.matmat(W);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) V.set(i, j, V.get(i, j) * scale[i]!);
    return V;
  } finally {
    await Promise.all([Ks.dispose(), cross.dispose()]);
  }
}

/** A reporter that times each stage from the last report of the stage before it. */
function stageClock(t0: number, onProgress: ((p: SpectralProgress) => void) | undefined) {
  let stageStart = t0;
  let last = t0;
  let current: SpectralProgress['stage'] | undefined;
  // an async onProgress is awaited (its rejection rejects spectralClustering): by the caller, or for the k-means
  // restarts, which report from synchronous code, at `settled()` after them
  let pending: Promise<void>[] = [];
  const report = (stage: SpectralProgress['stage'], extra: Partial<SpectralProgress> = {}): Promise<void> => {
    const now = performance.now();
    if (stage !== current) stageStart = last;
    current = stage;
    last = now;
    const settled = settleCallback(onProgress?.({ stage, elapsedMs: now - t0, stageMs: now - stageStart, ...extra }));
    settled.catch(() => undefined); // handled here until `settled()` or the caller awaits it: never an unhandled rejection
    pending.push(settled);
    return settled;
  };
  return Object.assign(report, {
    settled: async (): Promise<void> => {
      const all = pending;
      pending = [];
      await Promise.all(all);
    },
  });
}

/** d^{-1/2} for the degrees d = (K − I)·1 of one product with the ones vector, isolated points floored (see top). */
async function inverseSqrtDegrees(
  K: { matvec(x: Float64Array): Promise<Float64Array>; dtype: Dtype }, n: number, sigma: number, refuseIsolated = true,
): Promise<Float64Array> {
  const rowSums = await K.matvec(new Float64Array(n).fill(1));
  const ulp = ISOLATED_ULPS * dtypeEps(K.dtype);
  let isolated = 0;
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const floor = ulp * rowSums[i]!;
    let degree = rowSums[i]! - 1;
    if (!(degree > floor)) {
      isolated++;
      degree = floor;
    }
    scale[i] = 1 / Math.sqrt(degree);
  }
  if (refuseIsolated && isolated > MAX_ISOLATED_FRACTION * n) {
    throw new RangeError(`spectralClustering: σ = ${sigma} is too small: ${isolated} of ${n} points have no neighbour within reach of the affinity; give a larger sigma`);
  }
  return scale;
}

/** Rows of U scaled to unit length (a zero row stays zero). */
function rowNormalised(U: Matrix): Matrix {
  const E = new Matrix(U.rows, U.columns);
  for (let i = 0; i < U.rows; i++) {
    let s = 0;
    for (let j = 0; j < U.columns; j++) s += U.get(i, j) ** 2;
    const r = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < U.columns; j++) E.set(i, j, U.get(i, j) * r);
  }
  return E;
}

/** k-means++ restarts (seeds seed, seed + 1, …; see kmeans.ts): the labelling of least inertia, clusters numbered by first appearance. */
function bestKmeans(E: Matrix, k: number, restarts: number, seed: number, onRestart: (restart: number, inertia: number) => void) {
  const n = E.rows;
  const d = E.columns;
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) data.set(E.getRow(i), i * d);
  const result = kmeans({ data, n, d }, k, { nInit: restarts, seed, onRestart });
  return { labels: firstAppearance(result.labels, k), inertia: result.inertia };
}

function firstAppearance(clusters: Int32Array, k: number): Int32Array {
  const names = new Int32Array(k).fill(-1);
  let next = 0;
  const out = new Int32Array(clusters.length);
  for (let i = 0; i < clusters.length; i++) {
    const c = clusters[i]!;
    if (names[c] === -1) names[c] = next++;
    out[i] = names[c]!;
  }
  return out;
}
