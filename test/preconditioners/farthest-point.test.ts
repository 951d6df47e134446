import { describe, expect, it } from 'vitest';
import { cg } from '../../src/krylov/cg.js';
import { gaussianKernel, laplacianKernel } from '../../src/operators/kernels.js';
import { FarthestPointOrder, farthestPointLandmarks, kernelPointRows } from '../../src/preconditioners/farthest-point.js';
import { landmarkPreconditioner, type LandmarkPreconditioner } from '../../src/preconditioners/landmarks.js';
import { adaptiveLandmarkPreconditioner, landmarkStages } from '../../src/preconditioners/landmarks-auto.js';
import { mulberry32 } from '../random-data.js';
import { points, randomVector } from './helpers.js';

/** The greedy order by the definition: O(n·m) distance updates, from a given first point. */
function bruteForceOrder(data: Float64Array, n: number, d: number, m: number, first: number): { order: number[]; radii: number[] } {
  const order = [first];
  const radii: number[] = [];
  const nearest = new Float64Array(n).fill(Infinity);
  const taken = new Uint8Array(n);
  taken[first] = 1;
  let last = first;
  while (order.length < m) {
    let best = -1;
    let arg = -1;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (data[i * d + k]! - data[last * d + k]!) ** 2;
      nearest[i] = Math.min(nearest[i]!, s);
      if (!taken[i] && nearest[i]! > best) {
        best = nearest[i]!;
        arg = i;
      }
    }
    radii.push(Math.sqrt(best));
    order.push(arg);
    taken[arg] = 1;
    last = arg;
  }
  return { order, radii };
}

function pointData(n: number, d: number, seed: number, clustered = false): Float64Array {
  const rng = mulberry32(seed);
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    // clustered: three tight blobs and a sparse background, so the grid's cells are very unevenly filled
    const blob = clustered && i % 4 !== 0 ? i % 3 : -1;
    for (let k = 0; k < d; k++) data[i * d + k] = blob >= 0 ? 0.2 + 0.3 * blob + 0.01 * rng() : 4 * rng() - 1;
  }
  return data;
}

describe('farthest-point landmarks', () => {
  for (const [n, d, clustered] of [[1500, 3, false], [1200, 2, true], [800, 5, false], [600, 1, true], [900, 3, true]] as const) {
    it(`the grid-pruned order equals the brute-force greedy order (n = ${n}, d = ${d}${clustered ? ', clustered' : ''})`, () => {
      const data = pointData(n, d, n + d);
      const order = new FarthestPointOrder({ data, rows: n, cols: d }, 11);
      const m = 150;
      const got = order.take(m);
      const ref = bruteForceOrder(data, n, d, m, got[0]!);
      expect(Array.from(got)).toEqual(ref.order);
      // the cover radius after m points is the next greedy distance
      const next = bruteForceOrder(data, n, d, m + 1, got[0]!);
      expect(order.coverRadius).toBeCloseTo(next.radii[m - 1]!, 12);
    });
  }

  it('prefixes nest, later takes extend the order, the seed picks the first point, radii do not grow', () => {
    const n = 2000;
    const data = pointData(n, 3, 5);
    const a = new FarthestPointOrder({ data, rows: n, cols: 3 }, 1);
    const small = a.take(40);
    const large = a.take(300);
    expect(Array.from(large.subarray(0, 40))).toEqual(Array.from(small));
    expect(Array.from(new FarthestPointOrder({ data, rows: n, cols: 3 }, 1).take(300))).toEqual(Array.from(large));
    expect(new FarthestPointOrder({ data, rows: n, cols: 3 }, 2).take(1)[0]).not.toBe(large[0]);
    const ref = bruteForceOrder(data, n, 3, 300, large[0]!);
    for (let t = 1; t < ref.radii.length; t++) expect(ref.radii[t]!).toBeLessThanOrEqual(ref.radii[t - 1]!);
    expect(new Set(large).size).toBe(300);
  });

  it('coinciding points: all n rows come out once each, distinct points first', () => {
    const n = 60;
    const d = 2;
    const data = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      data[i * d] = i % 5; // five distinct points, each twelve times
      data[i * d + 1] = 0;
    }
    const order = new FarthestPointOrder({ data, rows: n, cols: d }, 3);
    const all = order.take(n);
    expect(new Set(all).size).toBe(n);
    expect(new Set(Array.from(all.subarray(0, 5), (i) => i % 5)).size).toBe(5);
    expect(order.coverRadius).toBe(0);
  });

  it('bad input is named', () => {
    const data = pointData(10, 2, 1);
    data[7] = NaN;
    expect(() => new FarthestPointOrder({ data, rows: 10, cols: 2 }, 0)).toThrow(/point 3 has a non-finite coordinate \(NaN\)/);
    expect(() => new FarthestPointOrder({ data: new Float64Array(5), rows: 3, cols: 2 }, 0)).toThrow(/got 3x2 with 5 values/);
    const ok = new FarthestPointOrder({ data: pointData(10, 2, 1), rows: 10, cols: 2 }, 0);
    expect(() => ok.take(11)).toThrow(/m must be an integer in \[0, n = 10\], got 11/);
  });

  it("a kernel's point rows are its bound points (for a kernel of r/σ: centred, over σ); landmarks are kept per operator and seed", () => {
    const x = points(300, 3, 4);
    const K = gaussianKernel(x, { sigma: 0.2 });
    const rows = kernelPointRows(K);
    expect([rows.rows, rows.cols]).toEqual([300, 3]);
    const center = [0, 1, 2].map((k) => (Math.min(...x.map((p) => p[k]!)) + Math.max(...x.map((p) => p[k]!))) / 2);
    const scaled = x[1]!.map((v, k) => (v - center[k]!) / 0.2);
    Array.from(rows.data.subarray(3, 6)).forEach((v, k) => expect(v).toBeCloseTo(scaled[k]!, 13));
    const first = farthestPointLandmarks(K, 20, 0);
    expect(Array.from(farthestPointLandmarks(K, 40, 0).subarray(0, 20))).toEqual(Array.from(first));
    const flat = Float64Array.from(x.flat());
    expect(Array.from(first)).toEqual(bruteForceOrder(flat, 300, 3, 20, first[0]!).order);
  });

  it('spread landmarks precondition better than uniform ones at the same m (Gaussian σ = 0.1, α = 1e-3)', async () => {
    const n = 3000;
    const K = gaussianKernel(points(n, 3, 21), { sigma: 0.1 });
    const b = randomVector(n, 2);
    const iterations: Record<string, number> = {};
    for (const landmarks of ['uniform', 'farthest-point'] as const) {
      const M = await landmarkPreconditioner(K, { rank: 300, shift: 1e-3, seed: 0, landmarks });
      const res = await cg(K.shift(1e-3), b, { rtol: 1e-6, M, maxiter: 2000 });
      expect(res.info).toBe(0);
      iterations[landmarks] = res.iterations;
      await M.dispose();
    }
    // measured 519 → 419 at this size
    expect(iterations['farthest-point']!).toBeLessThan(0.9 * iterations['uniform']!);
  });

  it('adaptive landmarks extend one farthest-point order as m doubles (the stages nest); uniform stays available', async () => {
    const n = 1500;
    const K = laplacianKernel(points(n, 2, 8), { sigma: 0.3 });
    // the cost rule weighs measured build times: a first build compiles K_mn's program, which a warm-up pays here
    await (await adaptiveLandmarkPreconditioner(K, { shift: 1e-3, initialRank: 32, maxRank: 32, seed: 5 })).dispose();
    const P = await adaptiveLandmarkPreconditioner(K, { shift: 1e-3, initialRank: 32, maxRank: 256, seed: 5 });
    const stages = landmarkStages(P);
    expect(stages.length).toBeGreaterThan(1);
    const m = P.rank;
    expect(Array.from(P.landmarks)).toEqual(Array.from(farthestPointLandmarks(K, m, 5)));
    const U = await adaptiveLandmarkPreconditioner(K, { shift: 1e-3, initialRank: 32, maxRank: 64, seed: 5, landmarks: 'uniform' });
    expect(Array.from(U.landmarks)).toEqual([...U.landmarks].sort((a, c) => a - c)); // uniform: ascending rows
    await expect(adaptiveLandmarkPreconditioner(K, { shift: 1e-3, landmarks: 'pivoted-cholesky' })).rejects.toThrow(/landmarks must be 'farthest-point' or 'uniform'.*got 'pivoted-cholesky'/);
    await P.dispose();
    await U.dispose();
    expect((P as LandmarkPreconditioner).rank).toBe(m);
  });
});
