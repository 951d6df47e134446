import { EigenvalueDecomposition, Matrix, solve } from 'ml-matrix';
import { afterAll, describe, expect, it } from 'vitest';
import { concentricCircles, twoMoons } from '../../src/apps/datasets.js';
import { adjustedRandIndex } from '../../src/apps/metrics.js';
import { defaultSpectralSigma, spectralClustering } from '../../src/apps/spectral-clustering.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { hasGpu } from '../gpu/gpu-env.js';

afterAll(() => shutdownCpuPool());

const moons = twoMoons(3000, { noise: 0.06, seed: 1 });
const circles = concentricCircles(3000, { nCircles: 3, noise: 0.1, seed: 1 });

describe('spectralClustering (CPU)', () => {
  it('separates two noisy moons, n = 3,000: adjusted Rand index ≥ 0.95', async () => {
    const r = await spectralClustering(moons.points, { nClusters: 2, seed: 0, backend: 'cpu' });
    expect(adjustedRandIndex(r.labels, moons.labels)).toBeGreaterThanOrEqual(0.95);
    expect(r.labels).toBeInstanceOf(Int32Array);
    expect([r.embedding.rows, r.embedding.columns]).toEqual([3000, 2]);
    expect(r.sigma).toBe(defaultSpectralSigma(moons.points, { neighbors: 10, seed: 0 }));
    expect(r.eigenvalues[1]).toBeCloseTo(1, 6); // D^{1/2}·1 is the top eigenvector, eigenvalue exactly 1
  });

  it('separates three concentric noisy circles, n = 3,000: adjusted Rand index ≥ 0.95', async () => {
    const r = await spectralClustering(circles.points, { nClusters: 3, seed: 0, backend: 'cpu' });
    expect(adjustedRandIndex(r.labels, circles.labels)).toBeGreaterThanOrEqual(0.95);
    expect(new Set(r.labels).size).toBe(3);
  });

  it('gives the same labels for the same seed', async () => {
    const small = twoMoons(400, { seed: 5 });
    const a = await spectralClustering(small.points, { nClusters: 2, seed: 3 });
    const b = await spectralClustering(small.points, { nClusters: 2, seed: 3 });
    expect(b.labels).toEqual(a.labels);
    expect(b.sigma).toBe(a.sigma);
  });

  it('eigenvalues and embedding agree with a dense eigendecomposition of D^{-1/2}(K − I)D^{-1/2} (n = 300, float64)', async () => {
    const { points } = concentricCircles(300, { nCircles: 2, noise: 0.05, seed: 2 });
    const sigma = 0.3;
    const r = await spectralClustering(points, { nClusters: 2, sigma, seed: 0, dtype: 'float64', tol: 1e-8 });
    const n = points.length;
    const W = new Matrix(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      if (i !== j) W.set(i, j, Math.exp(-((points[i]![0]! - points[j]![0]!) ** 2 + (points[i]![1]! - points[j]![1]!) ** 2) / (2 * sigma * sigma)));
    }
    const s = W.sum('row').map((d) => 1 / Math.sqrt(d));
    const A = new Matrix(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A.set(i, j, s[i]! * W.get(i, j) * s[j]!);
    const e = new EigenvalueDecomposition(A, { assumeSymmetric: true });
    const order = e.realEigenvalues.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]).slice(-2);
    order.forEach(([v], t) => expect(r.eigenvalues[t]).toBeCloseTo(v, 7));
    // the same subspace: U_ours = U·Q (Q orthogonal), and row normalisation commutes with Q: E_ours = rownorm(U)·Q
    const U = e.eigenvectorMatrix.subMatrixColumn(order.map(([, i]) => i));
    const P = U.clone();
    for (let i = 0; i < n; i++) P.setRow(i, U.getRow(i).map((v) => v / Math.hypot(...U.getRow(i))));
    const Q = solve(P, r.embedding); // least squares
    expect(Q.transpose().mmul(Q).sub(Matrix.eye(2)).norm()).toBeLessThan(1e-5);
    expect(r.embedding.clone().sub(P.mmul(Q)).norm() / r.embedding.norm()).toBeLessThan(1e-5);
  });

  it('refuses bad options by name', async () => {
    const p = moons.points.slice(0, 50);
    await expect(spectralClustering(p, { nClusters: 2, affinity: 'knn', sigma: 0.3 })).rejects.toThrow(/sigma applies to affinity 'rbf' only/);
    await expect(spectralClustering(p, { nClusters: 2, affinity: 'nearest' as never })).rejects.toThrow(/affinity must be one of "rbf", "knn", got a string "nearest"/);
    await expect(spectralClustering(p, {} as never)).rejects.toThrow(/option 'nClusters' is required/);
    await expect(spectralClustering(p, { nClusters: 2, sigmaa: 1 } as never)).rejects.toThrow(/unknown option 'sigmaa'.*did you mean 'sigma'/);
    await expect(spectralClustering(p, { nClusters: 0 })).rejects.toThrow(/nClusters must be an integer ≥ 1, got/);
    await expect(spectralClustering(p, { nClusters: 60 })).rejects.toThrow(/nClusters \(60\) exceeds the number of points \(50\)/);
    await expect(spectralClustering(p, { nClusters: 2, sigma: -1 })).rejects.toThrow(/sigma must be a positive finite number/);
    await expect(spectralClustering(p, { nClusters: 2, blockSize: 1 })).rejects.toThrow(/blockSize \(1\) must be ≥ nClusters \(2\)/);
    await expect(spectralClustering(p, { nClusters: 2, sigma: 1e-6 })).rejects.toThrow(/σ = 0.000001 is too small: \d+ of 50 points have no neighbour/);
    await expect(spectralClustering([[0, 0]], { nClusters: 1 })).rejects.toThrow(/points has 1 row; at least 2 points are needed/);
    await expect(spectralClustering(p, { nClusters: 50, eigensolver: 'eigsh' })).rejects.toThrow(/eigensolver 'eigsh' needs nClusters < the number of points \(50\), got nClusters = 50/);
    await expect(spectralClustering(p.slice(0, 5), { nClusters: 2, affinity: 'knn' })).rejects.toThrow(/the default nNeighbors \(10\) exceeds the number of points \(5\)/);
    // duplicates: a σ of 0 refused naming the function the user called (it named defaultSpectralSigma and "3-th")
    const dup = [...Array.from({ length: 20 }, () => [0, 0]), [1, 1], [1, 1], [1, 1]];
    await expect(spectralClustering(dup, { nClusters: 2 })).rejects.toThrow(/^spectralClustering: most points lie at distance 0 from their 10th nearest neighbour \(duplicate points\).*give sigma, or a larger sigmaNeighbors$/);
    expect(() => defaultSpectralSigma(dup, { neighbors: 2 })).toThrow(/^defaultSpectralSigma: most points lie at distance 0 from their 2nd nearest neighbour/);
    await expect(spectralClustering(p, { nClusters: 2, sigma: 0.3, sigmaNeighbors: 5 })).rejects.toThrow('spectralClustering: sigmaNeighbors sets the heuristic σ; it does not apply with sigma given');
    const clustered = await spectralClustering(dup, { nClusters: 2, sigma: 1, seed: 0 });
    expect(adjustedRandIndex(clustered.labels, dup.map((p) => p[0]!))).toBe(1);
  });

  it("each eigensolver's own options are refused beside the other (they were ignored); maxiter bounds eigsh's restarts where given", async () => {
    const p = moons.points.slice(0, 80);
    await expect(spectralClustering(p, { nClusters: 2, ncv: 30 })).rejects.toThrow(/spectralClustering: ncv is eigsh's Lanczos basis size; it does not apply to eigensolver 'lobpcg'/);
    await expect(spectralClustering(p, { nClusters: 2, eigensolver: 'eigsh', blockSize: 8 })).rejects.toThrow(/spectralClustering: blockSize is LOBPCG's block size; it does not apply to eigensolver 'eigsh'/);
    // one restart cannot converge here: before, maxiter went to LOBPCG only and eigsh ran its own 300
    const m = twoMoons(400, { seed: 5 });
    const err = await spectralClustering(m.points, { nClusters: 2, eigensolver: 'eigsh', sigma: 0.3, ncv: 5, maxiter: 1, tol: 1e-12 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/eigsh: no convergence \(1 iterations/);
    expect((await spectralClustering(p, { nClusters: 2, eigensolver: 'eigsh', sigma: 1, ncv: 30, maxiter: 300 })).labels.length).toBe(80);
  });

  it("eigensolver 'eigsh' refuses a top eigenvalue it missed (groups well apart: a nearly repeated eigenvalue ≈ 1)", async () => {
    // two moons, n = 400: eigsh returned 0.99999907 and 0.99418 for 1 and 0.99999728 — converged at tol 1e-4, the
    // second group's direction missing — and the labels scored ARI 0.38 against LOBPCG's 1.00, in silence
    const m = twoMoons(400, { seed: 5 });
    await expect(spectralClustering(m.points, { nClusters: 2, eigensolver: 'eigsh', seed: 0 }))
      .rejects.toThrow(/^spectralClustering: eigensolver 'eigsh' missed an eigenvalue among the top 2: 0\.99\d+ lies above the 2nd found \(0\.99418\d+\).*use eigensolver 'lobpcg'/);
    expect(adjustedRandIndex((await spectralClustering(m.points, { nClusters: 2, seed: 0 })).labels, m.labels)).toBe(1);
    // where the top eigenvalues stand apart (a wide σ joins the groups), eigsh's pairs are LOBPCG's
    const a = await spectralClustering(m.points, { nClusters: 2, eigensolver: 'eigsh', sigma: 1, seed: 0 });
    const b = await spectralClustering(m.points, { nClusters: 2, sigma: 1, seed: 0 });
    a.eigenvalues.forEach((v, i) => expect(Math.abs(v - b.eigenvalues[i]!)).toBeLessThan(1e-3));
  });

  it("affinity 'knn': a graph of more components than nClusters is said (their grouping is arbitrary), as scikit-learn warns", async () => {
    // four tight groups far apart: the 10-NN graph falls into four components
    let seed = 9;
    const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const points: number[][] = [];
    const truth: number[] = [];
    for (let c = 0; c < 4; c++) for (let i = 0; i < 40; i++) { points.push([10 * c + 0.3 * rand(), 0.3 * rand()]); truth.push(c); }
    const warnings: string[] = [];
    const listen = (w: Error) => { warnings.push(`${(w as { code?: string }).code}: ${w.message}`); };
    process.on('warning', listen);
    try {
      const two = await spectralClustering(points, { nClusters: 2, affinity: 'knn', seed: 1 });
      const four = await spectralClustering(points, { nClusters: 4, affinity: 'knn', seed: 1 });
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect([two.components, four.components]).toEqual([4, 4]);
      expect(adjustedRandIndex(four.labels, truth)).toBe(1);
      expect(warnings).toEqual([
        'LAZYLINALG_DISCONNECTED_GRAPH: spectralClustering: the 10-nearest-neighbour graph has 4 connected components, more than nClusters = 2: ' +
          'which components share a cluster is arbitrary (every such split cuts no edge); raise nNeighbors, or ask for 4 clusters',
      ]);
    } finally {
      process.off('warning', listen);
    }
  });

  it('clusters tiny sets: nClusters = n (each point its own cluster, LOBPCG\'s dense path) and two far pairs', async () => {
    const p = moons.points.slice(0, 12);
    const all = await spectralClustering(p, { nClusters: 12, seed: 0 });
    expect(new Set(all.labels).size).toBe(12);
    const pairs = await spectralClustering([[0, 0], [0.1, 0], [5, 5], [5.1, 5]], { nClusters: 2, sigma: 1, seed: 0 });
    expect(adjustedRandIndex(pairs.labels, [0, 0, 1, 1])).toBe(1);
  });

  it('reports its stages with timings', async () => {
    const stages: string[] = [];
    await spectralClustering(twoMoons(300).points, { nClusters: 2, nInit: 2, onProgress: (p) => { stages.push(p.stage); expect(p.elapsedMs).toBeGreaterThanOrEqual(0); } });
    expect([...new Set(stages)]).toEqual(['sigma', 'degrees', 'eigsh', 'kmeans', 'done']);
  });
});

/** σ's heuristic by brute force on hypot distances (no square formed): median over all n ≤ 512 points of the k-th neighbour distance. */
function hypotSigma(points: number[][], k: number): number {
  const kth = points.map((a, i) => points.filter((_, j) => j !== i).map((b) => Math.hypot(...a.map((v, c) => v - b[c]!))).sort((u, v) => u - v)[k - 1]!);
  kth.sort((u, v) => u - v);
  const m = kth.length;
  return m % 2 ? kth[(m - 1) / 2]! : (kth[m / 2 - 1]! + kth[m / 2]!) / 2;
}

describe('spectralClustering at extreme coordinate scales (squared distances over- or underflow)', () => {
  const m = twoMoons(300, { seed: 3 });
  const sigma1 = defaultSpectralSigma(m.points);
  const scaled = (s: number) => m.points.map((r) => r.map((v) => v * s));

  it('the σ heuristic is scale-equivariant: σ(c·X) = c·σ(X), exactly for powers of two, and as brute force on hypot distances', () => {
    expect(sigma1).toBeCloseTo(hypotSigma(m.points, 10), 14);
    for (const s of [1e160, 1e-200, 1e300, 1e-300]) {
      const sigma = defaultSpectralSigma(scaled(s));
      expect(sigma / hypotSigma(scaled(s), 10), `×${s}`).toBeCloseTo(1, 12);
      expect(sigma / (s * sigma1), `×${s}`).toBeCloseTo(1, 12);
    }
    for (const e of [-1000, -700, 600, 1000]) expect(defaultSpectralSigma(scaled(2 ** e)), `×2^${e}`).toBe(sigma1 * 2 ** (e / 2) * 2 ** (e / 2));
  });

  it('labels at ×1e160 and ×1e-200 are those at ×1 (it refused: σ = Infinity, and "duplicate points")', async () => {
    const ref = await spectralClustering(m.points, { nClusters: 2, backend: 'cpu' });
    expect(adjustedRandIndex(ref.labels, m.labels)).toBeGreaterThanOrEqual(0.95);
    for (const s of [1e160, 1e-200]) {
      const r = await spectralClustering(scaled(s), { nClusters: 2, backend: 'cpu' });
      expect(r.labels, `×${s}`).toEqual(ref.labels);
      expect(r.sigma / (s * ref.sigma), `×${s}`).toBeCloseTo(1, 12);
    }
  });
});

describe.skipIf(!hasGpu)('spectralClustering (GPU backend, software adapter)', () => {
  it('separates two noisy moons and three circles, n = 3,000 each: ARI ≥ 0.95', async () => {
    const m = await spectralClustering(moons.points, { nClusters: 2, seed: 0, backend: 'gpu' });
    expect(adjustedRandIndex(m.labels, moons.labels)).toBeGreaterThanOrEqual(0.95);
    const c = await spectralClustering(circles.points, { nClusters: 3, seed: 0, backend: 'gpu' });
    expect(adjustedRandIndex(c.labels, circles.labels)).toBeGreaterThanOrEqual(0.95);
  }, 300_000);
});

describe('tol: 0 with LOBPCG', () => {
  it('is as tight as the products attain, not lobpcg\'s loose default (two moons, float32: ARI 0.015 and eigenvalues 0.907, 1 before)', async () => {
    const moons = twoMoons(600, { seed: 3 });
    const r = await spectralClustering(moons.points, { nClusters: 2, tol: 0, eigensolver: 'lobpcg' });
    expect(adjustedRandIndex(r.labels, moons.labels)).toBe(1);
    for (const v of r.eigenvalues) expect(v).toBeGreaterThan(0.9999);
  }, 60_000);
});

