/**
 * knn against scikit-learn's NearestNeighbors (fixture from test/fixtures/make_knn_fixture.py) and against a
 * float64 brute force, on the CPU (float64, float32) and the GPU (float32, llvmpipe).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { knn, type KnnMetric } from '../../src/index.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { mulberry32 } from '../../src/krylov/random.js';

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

/** Float64 brute force on the points as given, with hypot-style distances (no square formed): the independent reference. */
function bruteScaled(x: number[][], y: number[][], k: number, metric: 'euclidean' | 'sqeuclidean' | 'manhattan' | 'cosine') {
  const dist = (a: number[], b: number[]): number => {
    if (metric === 'manhattan') return a.reduce((s, v, c) => s + Math.abs(v - b[c]!), 0);
    if (metric === 'cosine') {
      const na = Math.hypot(...a), nb = Math.hypot(...b);
      return 1 - a.reduce((s, v, c) => s + (v / na) * (b[c]! / nb), 0);
    }
    const e = Math.hypot(...a.map((v, c) => v - b[c]!));
    return metric === 'euclidean' ? e : e * e;
  };
  return x.map((a) => y.map((b, j) => ({ j, v: dist(a, b) })).sort((p, q) => p.v - q.v || p.j - q.j).slice(0, k));
}

describe('knn at extreme coordinate scales', () => {
  // the 3 nearest of point 0 are 0, 2 (0.1 away), 4 (0.2 away); squared distances over- or underflow at these scales
  const base = [[0, 0], [5, 5], [0.1, 0], [3, 3], [0.2, 0]];
  const cases: [number, 'float32' | 'float64'][] = [
    [1e160, 'float64'], [1e-170, 'float64'], [1e300, 'float64'], [1e-300, 'float64'],
    [1e20, 'float32'], [1e-25, 'float32'], [1e100, 'float32'], [1e-100, 'float32'],
  ];
  for (const [s, dtype] of cases) {
    it(`×${s} in ${dtype}: the neighbours of scale 1, distances scaled by the same factor`, async () => {
      const p = base.map((r) => r.map((v) => v * s));
      for (const metric of ['euclidean', 'manhattan', 'sqeuclidean'] as const) {
        const got = await knn([p[0]!], p, 3, { metric, dtype, backend: 'cpu' });
        expect(Array.from(got.indices), metric).toEqual([0, 2, 4]);
        // float64 brute force on hypot distances; sqeuclidean beyond float64's range is its rounding, +∞ (1e318 at 1e160)
        const want = bruteScaled([p[0]!], p, 3, metric)[0]!.map((e) => e.v);
        want.forEach((v, t) => {
          if (Number.isFinite(v)) expect(Math.abs(got.distances[t]! - v), `${metric} ${t}`).toBeLessThanOrEqual(1e-12 * v + 4 * Number.MIN_VALUE);
          else expect(got.distances[t], `${metric} ${t}`).toBe(v);
        });
      }
    });
  }

  it('offset data: translation by an exactly representable shift keeps the float64 ranking, and fixes float32\'s', async () => {
    // points at 1e8 + small offsets: float32 cannot tell them apart without centring
    const y = [[1e8, 1e8], [1e8 + 3, 1e8], [1e8 + 1, 1e8], [1e8 + 2, 1e8 + 2], [1e8 + 1.5, 1e8]];
    const want = bruteScaled([y[0]!], y, 4, 'euclidean');
    for (const dtype of ['float64', 'float32'] as const) {
      const got = await knn([y[0]!], y, 4, { dtype, backend: 'cpu' });
      expect(Array.from(got.indices), dtype).toEqual(want[0]!.map((e) => e.j));
      want[0]!.forEach((e, t) => expect(got.distances[t]).toBe(e.v));
    }
  });

  it('cosine: each vector at its own scale (1e300 and 1e-300 together), as in float64 brute force on hypot norms', async () => {
    const x = [[1e300, 2e300]];
    const y = [[1e-300, 2.1e-300], [3e300, -1e300], [2e-300, 3e-300], [-1e-200, -2e-200], [5e150, 9e150]];
    const want = bruteScaled(x, y, 5, 'cosine');
    for (const dtype of ['float64', 'float32'] as const) {
      const got = await knn(x, y, 5, { metric: 'cosine', dtype, backend: 'cpu' });
      expect(Array.from(got.indices), dtype).toEqual(want[0]!.map((e) => e.j));
      want[0]!.forEach((e, t) => expect(got.distances[t]).toBeCloseTo(Math.max(0, e.v), 12));
    }
  });

  it('random data over scales 1e-300 … 1e300: the same neighbours as at scale 1 (power-of-two factors: bit for bit)', async () => {
    const rand = mulberry32(5);
    const y = Array.from({ length: 60 }, () => [rand() - 0.5, rand() - 0.5, rand() - 0.5]);
    const x = y.slice(0, 7);
    for (const metric of ['euclidean', 'sqeuclidean', 'manhattan', 'cosine'] as const) {
      const ref = await knn(x, y, 8, { metric, backend: 'cpu', dtype: 'float64' });
      for (const e of [-990, -560, 530, 1000]) {
        const s = 2 ** e;
        const got = await knn(x.map((r) => r.map((v) => v * s)), y.map((r) => r.map((v) => v * s)), 8, { metric, backend: 'cpu', dtype: 'float64' });
        expect(Array.from(got.indices), `${metric} 2^${e}`).toEqual(Array.from(ref.indices));
        const pow = metric === 'cosine' ? 0 : metric === 'sqeuclidean' ? 2 * e : e;
        const back = Array.from(got.distances, (v) => v * 2 ** (-pow / 2) * 2 ** (-pow / 2));
        if (Math.abs(pow) < 1000) expect(back, `${metric} 2^${e}`).toEqual(Array.from(ref.distances));
      }
    }
  });
});
