/**
 * knn with a formula metric on points where the formula leaves the floating-point range: the built-in metrics bind
 * exactly scaled points, a formula metric is evaluated on the points as given, so at 1e200 every pair of
 * 'sqnorm2(x - y)' is +∞ and argKmin ranks ties — refused by name rather than returned. References: float64 brute
 * force in this file, on the points scaled down by an exact power of two.
 */
import { describe, expect, it } from 'vitest';
import { knn } from '../../src/index.js';
import { mulberry32 } from '../../src/krylov/random.js';
import { hasGpu } from '../gpu/gpu-env.js';

const rand = mulberry32(16);
/** 50 random points in [-1/2, 1/2)³. */
const base = Array.from({ length: 50 }, () => [rand() - 0.5, rand() - 0.5, rand() - 0.5]);
const K = 5;

const sqDist = (a: number[], b: number[]): number => a.reduce((s, v, c) => s + (v - b[c]!) ** 2, 0);
const l1Dist = (a: number[], b: number[]): number => a.reduce((s, v, c) => s + Math.abs(v - b[c]!), 0);

/** Float64 brute-force neighbours (stable: ties to the lowest index), one index array per row. */
function brute(x: number[][], y: number[][], k: number, d: (a: number[], b: number[]) => number): number[][] {
  return x.map((a) => y.map((b, j) => ({ j, v: d(a, b) })).sort((p, q) => p.v - q.v || p.j - q.j).slice(0, k).map((e) => e.j));
}

const rows = (indices: Int32Array, k: number): number[][] =>
  Array.from({ length: indices.length / k }, (_, i) => Array.from(indices.subarray(i * k, (i + 1) * k)));

const scaled = (p: number[][], s: number): number[][] => p.map((r) => r.map((v) => v * s));

describe('knn: a formula metric beyond float64\'s range is refused, not ranked on ties', () => {
  const big = scaled(base, 1e200); // squared distances ~1e400: +∞ in float64

  it("50 points ×1e200, 'sqnorm2(x - y)' in float64: RangeError naming knn, the row, the formula and the value", async () => {
    await expect(knn(big, big, K, { metric: 'sqnorm2(x - y)', backend: 'cpu', dtype: 'float64' })).rejects.toThrow(RangeError);
    await expect(knn(big, big, K, { metric: 'sqnorm2(x - y)', backend: 'cpu', dtype: 'float64' }))
      .rejects.toThrow(/^knn: row 0: neighbour \d+ has the value Infinity under the metric formula 'sqnorm2\(x - y\)'.*scale the points.*built-in metric/);
  });

  it('the row refused is the one out of range; the others alone are answered as brute force answers them', async () => {
    // query 3 lies 1e200 away from every candidate: its row alone is all +∞
    const x = [...base.slice(0, 3), [1e200, 0, 0], ...base.slice(3, 6)];
    await expect(knn(x, base, K, { metric: 'sqnorm2(x - y)', backend: 'cpu', dtype: 'float64' }))
      .rejects.toThrow(/^knn: row 3: .*'sqnorm2\(x - y\)'/);
    const ok = x.filter((_, i) => i !== 3);
    const got = await knn(ok, base, K, { metric: 'sqnorm2(x - y)', backend: 'cpu', dtype: 'float64' });
    expect(rows(got.indices, K)).toEqual(brute(ok, base, K, sqDist));
  });

  it("−∞ ties too: the farthest points by '-sqnorm2(x - y)' at 1e200", async () => {
    await expect(knn(big, big, K, { metric: '-sqnorm2(x - y)', backend: 'cpu', dtype: 'float64' }))
      .rejects.toThrow(/^knn: row 0: neighbour \d+ has the value -Infinity under the metric formula '-sqnorm2\(x - y\)'/);
  });

  it("the same points under 'sqeuclidean' (exactly scaled) and 'norm2(x - y)' (in range): brute force's neighbours", async () => {
    // reference on the points scaled down by 2^-665 (exact): the float64 ranking of the points as given
    const down = scaled(big, 2 ** -665);
    const want = brute(down, down, K, sqDist);
    for (const metric of ['sqeuclidean', 'euclidean', 'norm2(x - y)']) {
      const got = await knn(big, big, K, { metric, backend: 'cpu', dtype: 'float64' });
      expect(rows(got.indices, K), metric).toEqual(want);
    }
    const got = await knn(big, big, K, { metric: 'sqeuclidean', backend: 'cpu', dtype: 'float32' });
    expect(rows(got.indices, K), 'sqeuclidean float32').toEqual(want);
  });
});

const FLOAT32_PLACES = [
  { backend: 'cpu', dtype: 'float32' } as const,
  ...(hasGpu ? [{ backend: 'gpu', dtype: 'float32' } as const] : []),
];

describe('knn: a formula metric beyond float32\'s range only (finite in float64)', () => {
  // squared distances ~1e40: finite in float64, +∞ in float32, where the ranking would be on ties
  const mid = scaled(base, 1e20);
  for (const place of FLOAT32_PLACES) {
    it(`50 points ×1e20, 'sqnorm2(x - y)' on ${place.backend} float32: RangeError naming knn and the formula`, async () => {
      await expect(knn(mid, mid, K, { metric: 'sqnorm2(x - y)', ...place }))
        .rejects.toThrow(/^knn: with the metric formula 'sqnorm2\(x - y\)': .*float32.*Infinity.*float64 gives .*built-in metric/);
    });
  }

  it('the same in float64: brute force\'s neighbours and float64 distances', async () => {
    const got = await knn(mid, mid, K, { metric: 'sqnorm2(x - y)', backend: 'cpu', dtype: 'float64' });
    const want = brute(mid, mid, K, sqDist);
    expect(rows(got.indices, K)).toEqual(want);
    want.forEach((r, i) => r.forEach((j, t) => expect(got.distances[i * K + t]).toBe(sqDist(mid[i]!, mid[j]!))));
  });
});

describe('knn: ordinary points with a formula metric, unchanged', () => {
  const x = base.slice(0, 12);
  const places = [{ backend: 'cpu', dtype: 'float64' } as const, ...FLOAT32_PLACES];
  for (const place of places) {
    it(`'sqnorm2(x - y)' and 'sum(abs(x - y))' on ${place.backend} ${place.dtype}: brute force's neighbours and distances`, async () => {
      for (const [metric, d] of [['sqnorm2(x - y)', sqDist], ['sum(abs(x - y))', l1Dist]] as const) {
        const got = await knn(x, base, K, { metric, ...place });
        const want = brute(x, base, K, d);
        expect(rows(got.indices, K), metric).toEqual(want);
        want.forEach((r, i) => r.forEach((j, t) => {
          expect(Math.abs(got.distances[i * K + t]! - d(x[i]!, base[j]!)), metric).toBeLessThanOrEqual(1e-15);
        }));
      }
    });
  }
});
