/**
 * knn against scikit-learn's NearestNeighbors (fixture from test/fixtures/make_knn_fixture.py) and against a
 * float64 brute force, on the CPU (float64, float32) and the GPU (float32, llvmpipe).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { knn, type KnnMetric } from '../../src/index.js';
import { hasGpu } from '../gpu/gpu-env.js';

interface Fixture {
  k: number;
  x: number[][];
  y: number[][];
  metrics: Record<KnnMetric, { indices: number[][]; distances: number[][] }>;
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/knn_sklearn.json', import.meta.url), 'utf8')) as Fixture;

type Place = { backend: 'cpu' | 'gpu'; dtype: 'float32' | 'float64' };
const PLACES: Place[] = [
  { backend: 'cpu', dtype: 'float64' },
  { backend: 'cpu', dtype: 'float32' },
  ...(hasGpu ? [{ backend: 'gpu', dtype: 'float32' } as Place] : []),
];

/** Brute-force float64 neighbours of a metric given as a JS function (stable sort: ties to the lowest index). */
function brute(x: number[][], y: number[][], k: number, d: (a: number[], b: number[]) => number) {
  return x.map((a) => y.map((b, j) => ({ j, v: d(a, b) })).sort((p, q) => p.v - q.v || p.j - q.j).slice(0, k));
}

for (const p of PLACES) {
  describe(`knn on ${p.backend} ${p.dtype}`, () => {
    for (const metric of ['euclidean', 'sqeuclidean', 'manhattan', 'cosine'] as const) {
      it(`${metric}: the neighbours and distances of scikit-learn`, async () => {
        const want = fx.metrics[metric];
        const got = await knn(fx.x, fx.y, fx.k, { metric, ...p });
        const k = fx.k;
        expect(got.indices.length).toBe(fx.x.length * k);
        for (let i = 0; i < fx.x.length; i++) {
          expect(Array.from(got.indices.subarray(i * k, (i + 1) * k))).toEqual(want.indices[i]);
          for (let t = 0; t < k; t++) {
            expect(got.distances[i * k + t]).toBeCloseTo(want.distances[i]![t]!, 10);
          }
        }
      });
    }

    it('a formula metric (Minkowski p = 3, cubed) against brute force; k = 1 and k = m', async () => {
      const x = fx.x.slice(0, 12);
      const y = fx.y.slice(0, 20);
      const cube = (a: number[], b: number[]) => a.reduce((s, v, c) => s + Math.abs(v - b[c]!) ** 3, 0);
      for (const k of [1, 20]) {
        const got = await knn(x, y, k, { metric: 'sum(abs(x - y)^3)', ...p });
        const want = brute(x, y, k, cube);
        expect(Array.from(got.indices)).toEqual(want.flatMap((r) => r.map((e) => e.j)));
        want.flat().forEach((e, t) => expect(got.distances[t]).toBeCloseTo(e.v, 10));
      }
    });

    it('cosine distances stay within [0, 2] as scikit-learn clips them: parallel vectors 0, not −2.2e-16; a zero vector 1', async () => {
      const pts = [[0, 0], [2, 3], [4, 6], [-2, -3]];
      const got = await knn(pts, pts, 4, { metric: 'cosine', ...p });
      for (const v of got.distances) expect(v >= 0 && v <= 2).toBe(true);
      // row 1: itself and its parallel twin at 0, the zero vector at 1, the opposite at 2
      expect(Array.from(got.distances.subarray(4, 8))).toEqual([0, 0, 1, 2]);
      expect(Array.from(got.indices.subarray(4, 8))).toEqual([1, 2, 0, 3]);
    });

    it('duplicate points: ties go to the lowest index', async () => {
      const y = [[0, 0], [1, 0], [0, 0], [1, 0], [0, 0]];
      const got = await knn([[0.1, 0], [0.9, 0]], y, 4, { ...p });
      expect(Array.from(got.indices)).toEqual([0, 2, 4, 1, 1, 3, 0, 2]);
    });
  });
}

describe('knn errors', () => {
  it('refuses bad k, an unknown metric, mismatched dimensions and unknown options, by name', async () => {
    await expect(knn(fx.x, fx.y, 0)).rejects.toThrow(/knn: k .* must be an integer ≥ 1/);
    await expect(knn(fx.x, fx.y.slice(0, 5), 6)).rejects.toThrow(/at most the 5 points of y/);
    await expect(knn(fx.x, fx.y, 65)).rejects.toThrow(/limit 64/);
    await expect(knn(fx.x, fx.y, 3, { metric: 'euclidian' })).rejects.toThrow(/unknown metric 'euclidian'; use one of euclidean/);
    // a name with a digit is a misspelt metric too, not a formula of an unknown symbol
    await expect(knn(fx.x, fx.y, 3, { metric: 'cosine2' })).rejects.toThrow(/unknown metric 'cosine2'; use one of euclidean/);
    await expect(knn(fx.x, fx.y, 3, { metric: 'sum(x)' })).rejects.toThrow(/must be a scalar using both x and y/);
    await expect(knn(fx.x, [[1, 2]], 1)).rejects.toThrow(/x has 4 columns but y has 2/);
    await expect(knn(fx.x, fx.y, 3, { metrik: 'cosine' } as never)).rejects.toThrow(/metrik/);
    await expect(knn([], fx.y, 3)).rejects.toThrow(/empty point set/);
  });
});
