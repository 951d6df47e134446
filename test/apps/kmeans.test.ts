import { kmeans as mlKmeans } from 'ml-kmeans';
import { describe, expect, it } from 'vitest';
import { kmeans, RESTART_SAMPLE } from '../../src/apps/kmeans.js';
import { adjustedRandIndex } from '../../src/apps/metrics.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** Rows like a row-normalised spectral embedding of k clusters: one-hot rows plus Gaussian noise, unit length. */
function embeddingRows(n: number, k: number, noise: number, seed: number) {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const data = new Float64Array(n * k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = Math.floor(rand() * k);
    let s = 0;
    for (let c = 0; c < k; c++) { const v = (labels[i] === c ? 1 : 0) + noise * gauss(); data[i * k + c] = v; s += v * v; }
    for (let c = 0; c < k; c++) data[i * k + c]! /= Math.sqrt(s);
  }
  return { data, labels };
}

/** ml-kmeans' best inertia over the restarts seed 0 … restarts − 1 (the former implementation). */
function mlKmeansBest(data: Float64Array, n: number, d: number, k: number, restarts: number) {
  const rows = Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * d, i * d + d)));
  let best = Infinity;
  let labels = new Int32Array(n);
  for (let r = 0; r < restarts; r++) {
    const res = mlKmeans(rows, k, { initialization: 'kmeans++', seed: r, maxIterations: 300, tolerance: 1e-8 });
    let inertia = 0;
    rows.forEach((x, i) => x.forEach((v, c) => { inertia += (v - res.centroids[res.clusters[i]!]![c]!) ** 2; }));
    if (inertia < best) { best = inertia; labels = Int32Array.from(res.clusters); }
  }
  return { inertia: best, labels };
}

describe('kmeans (typed arrays, k-means++ restarts)', () => {
  it(`n = 30,000 > RESTART_SAMPLE (${RESTART_SAMPLE}) rows, k = 4: inertia ≤ ml-kmeans' best of 10 restarts (+1e-6 relative), ARI against the truth no worse than ml-kmeans' − 1e-3`, () => {
    const n = 30000;
    const { data, labels } = embeddingRows(n, 4, 0.25, 1);
    const ours = kmeans({ data, n, d: 4 }, 4, { nInit: 10, seed: 0 });
    const ref = mlKmeansBest(data, n, 4, 4, 10);
    expect(ours.inertia).toBeLessThanOrEqual(ref.inertia * (1 + 1e-6));
    expect(adjustedRandIndex(ours.labels, labels)).toBeGreaterThanOrEqual(Math.max(0.95, adjustedRandIndex(ref.labels, labels) - 1e-3));
  }, 60_000);

  it('ends at a Lloyd fixed point: each row at its nearest centre, each centre the mean of its rows, inertia their sum (brute force)', () => {
    const n = 3000;
    const k = 5;
    const { data } = embeddingRows(n, 3, 0.6, 2);
    const r = kmeans({ data, n, d: 3 }, k, { nInit: 3, seed: 1, tol: 0 });
    let inertia = 0;
    const sums = new Float64Array(k * 3);
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const dist = Array.from({ length: k }, (_, c) => [0, 1, 2].reduce((s, t) => s + (data[i * 3 + t]! - r.centroids[c * 3 + t]!) ** 2, 0));
      expect(dist[r.labels[i]!]).toBe(Math.min(...dist));
      inertia += dist[r.labels[i]!]!;
      counts[r.labels[i]!]++;
      for (let t = 0; t < 3; t++) sums[r.labels[i]! * 3 + t] += data[i * 3 + t]!;
    }
    for (let c = 0; c < k; c++) for (let t = 0; t < 3; t++) expect(r.centroids[c * 3 + t]).toBeCloseTo(sums[c * 3 + t]! / counts[c]!, 12);
    expect(r.inertia).toBeCloseTo(inertia, 9);
  });

  it('is deterministic for a seed, reports each restart, and puts k = n distinct rows in clusters of their own', () => {
    const { data } = embeddingRows(500, 3, 0.3, 3);
    const seen: number[] = [];
    const a = kmeans({ data, n: 500, d: 3 }, 3, { nInit: 4, seed: 9, onRestart: (r) => seen.push(r) });
    const b = kmeans({ data, n: 500, d: 3 }, 3, { nInit: 4, seed: 9 });
    expect(b.labels).toEqual(a.labels);
    expect(seen).toEqual([1, 2, 3, 4]);
    const tiny = Float64Array.from([0, 0, 1, 0, 0, 1, 1, 1, 5, 5]);
    const t = kmeans({ data: tiny, n: 5, d: 2 }, 5, { nInit: 2, seed: 0 });
    expect(new Set(t.labels).size).toBe(5);
    expect(t.inertia).toBe(0);
    expect(() => kmeans({ data: tiny, n: 5, d: 2 }, 6, { nInit: 1, seed: 0 })).toThrow(/k \(6\) must lie in \[1, 5\]/);
  });
});
