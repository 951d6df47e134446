import { afterAll, describe, expect, it } from 'vitest';
import { kthNeighbourSqDistancesCpu, kthNeighbourSqDistancesReduced, kthSmallest, type KthNeighbourProblem } from '../../src/apps/kth-neighbour.js';
import { defaultSpectralSigma, spectralSigma } from '../../src/apps/spectral-clustering.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { mulberry32 } from '../../src/krylov/random.js';
import { hasGpu } from '../gpu/gpu-env.js';

afterAll(() => shutdownCpuPool());

/** Brute force: every float64 squared distance of the query to the others, fully sorted, the k-th taken. */
function bruteKth(p: KthNeighbourProblem): Float64Array {
  return Float64Array.from(p.rows, (i) => {
    const r: number[] = [];
    for (let j = 0; j < p.n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let c = 0; c < p.d; c++) s += (p.data[i * p.d + c]! - p.data[j * p.d + c]!) ** 2;
      r.push(s);
    }
    return r.sort((a, b) => a - b)[p.k - 1]!;
  });
}

function uniform(n: number, d: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  return Float64Array.from({ length: n * d }, () => rand());
}

/** The median over the sample of √(k-th), the sample drawn as σ's heuristic draws it. */
function bruteSigma(data: Float64Array, n: number, d: number, k: number, seed: number): number {
  const rand = mulberry32(seed);
  const m = Math.min(n, 512);
  const rows = Int32Array.from({ length: m }, (_, s) => (m === n ? s : Math.floor(rand() * n)));
  const kth = Array.from(bruteKth({ data, n, d, rows, k }), Math.sqrt).sort((a, b) => a - b);
  return m % 2 ? kth[(m - 1) / 2]! : (kth[m / 2 - 1]! + kth[m / 2]!) / 2;
}

/** 199 copies of one point at distance 1 from point 0: the 100th neighbour of point 0 sits among > 64 exact ties. */
function tiedAtKth(): KthNeighbourProblem {
  const rand = mulberry32(11);
  const n = 500;
  const data = new Float64Array(n * 3);
  for (let j = 1; j < 200; j++) data[3 * j] = 1;
  for (let j = 200; j < n; j++) { data[3 * j] = 2 + rand(); data[3 * j + 1] = rand(); data[3 * j + 2] = rand(); }
  return { data, n, d: 3, rows: Int32Array.from([0, 250, 7, 499]), k: 100 };
}

describe('k-th neighbour distances (σ heuristic)', () => {
  it('kthSmallest agrees with a sort, ties and repeats included', () => {
    const rand = mulberry32(3);
    for (const len of [1, 2, 7, 100, 1001]) {
      const a = Float64Array.from({ length: len }, () => Math.floor(rand() * 20));
      const sorted = Float64Array.from(a).sort();
      for (const k of [1, Math.ceil(len / 3), len]) expect(kthSmallest(Float64Array.from(a), len, k)).toBe(sorted[k - 1]);
    }
  });

  it('CPU: equals the brute force exactly on n = 70,000 (the pilot filter path), k = 234', () => {
    const n = 70000;
    const data = uniform(n, 2, 1);
    const p = { data, n, d: 2, rows: Int32Array.from([0, 5, 69999, 12345, 5, 40000]), k: 234 };
    expect(kthNeighbourSqDistancesCpu(p)).toEqual(bruteKth(p));
  });

  it('CPU: stays exact when the strided pilot misjudges (duplicates of a query on it; every pilot point moved far away)', () => {
    const n = 70000;
    const stride = Math.floor(n / 16384);
    const data = uniform(n, 2, 2);
    const dup = Float64Array.from(data);
    const far = Float64Array.from(data);
    for (let j = 0; j < n; j += stride) { dup[2 * j] = dup[0]!; dup[2 * j + 1] = dup[1]!; far[2 * j] += 1000; }
    for (const pts of [dup, far]) {
      const p = { data: pts, n, d: 2, rows: Int32Array.from([0, 1, 2, 3]), k: 500 };
      expect(kthNeighbourSqDistancesCpu(p)).toEqual(bruteKth(p));
    }
  });

  it('defaultSpectralSigma equals the brute-force median on small sets (all points, and a 512-row sample)', () => {
    for (const [n, k] of [[400, 10], [3000, 10], [9000, 30]] as const) {
      const data = uniform(n, 3, n);
      expect(defaultSpectralSigma({ data, rows: n, cols: 3 }, { neighbors: k, seed: 4 })).toBe(bruteSigma(data, n, 3, k, 4));
    }
  });

  it('the reductions path (count bisection + arg-k-min) on the CPU backend agrees with the brute force, k = 150 > 64', async () => {
    const n = 4000;
    const data = uniform(n, 3, 6);
    const p = { data, n, d: 3, rows: Int32Array.from({ length: 40 }, (_, s) => s * 97), k: 150 };
    const ours = await kthNeighbourSqDistancesReduced(p, 'cpu');
    bruteKth(p).forEach((v, s) => expect(ours[s]).toBeCloseTo(v, 14));
  });

  it('the reductions path hands rows with more than 64 exact ties at the k-th to the CPU selection', async () => {
    const p = tiedAtKth();
    expect(await kthNeighbourSqDistancesReduced(p, 'cpu')).toEqual(bruteKth(p));
  });
});

describe.skipIf(!hasGpu)('k-th neighbour distances on the GPU (software adapter)', () => {
  it('count bisection + arg-k-min agree with the float64 brute force, k = 150 and k = 20', async () => {
    const n = 4000;
    const data = uniform(n, 3, 7);
    for (const k of [150, 20]) {
      const p = { data, n, d: 3, rows: Int32Array.from({ length: 40 }, (_, s) => s * 89 + 1), k };
      const ours = await kthNeighbourSqDistancesReduced(p, 'gpu');
      // float32 ranks: a near-tie at the k-th may swap, so agreement is to float32 rounding of the distances
      bruteKth(p).forEach((v, s) => expect(Math.abs(ours[s]! - v) / v).toBeLessThan(1e-5));
    }
  }, 120_000);

  it("the k-th neighbour over more points than llvmpipe's shader loop budget (n = 30,000, k = 100) agrees with the brute force", async () => {
    const n = 30000;
    const data = uniform(n, 3, 9);
    const p = { data, n, d: 3, rows: Int32Array.from({ length: 64 }, (_, s) => s * 401), k: 100 };
    const ours = await kthNeighbourSqDistancesReduced(p, 'gpu');
    bruteKth(p).forEach((v, s) => expect(Math.abs(ours[s]! - v) / v).toBeLessThan(1e-5));
  }, 120_000);

  it('hands rows with more than 64 exact ties at the k-th to the CPU selection', async () => {
    const p = tiedAtKth();
    const ours = await kthNeighbourSqDistancesReduced(p, 'gpu');
    bruteKth(p).forEach((v, s) => expect(Math.abs(ours[s]! - v)).toBeLessThanOrEqual(1e-5 * v));
  }, 120_000);

  it.skipIf(!hasGpu)('spectralSigma on the GPU at ×1e20 and ×1e-25 (float32 squares over- and underflow): the CPU\'s σ at that scale', async () => {
    const n = 2000;
    const base = uniform(n, 3, 8);
    const ref = defaultSpectralSigma({ data: base, rows: n, cols: 3 }, { neighbors: 30, seed: 1 });
    for (const s of [1e20, 1e-25]) {
      const data = base.map((v) => v * s);
      const gpu = await spectralSigma({ data, rows: n, cols: 3 }, { neighbors: 30, seed: 1, backend: 'gpu' });
      expect(gpu / (s * ref), `×${s}`).toBeCloseTo(1, 5);
    }
  });

  it("spectralSigma on the GPU gives the CPU's σ to float32 rounding (n = 9,000, k = 30)", async () => {
    const n = 9000;
    const data = uniform(n, 3, 8);
    const cpu = defaultSpectralSigma({ data, rows: n, cols: 3 }, { neighbors: 30, seed: 1 });
    const gpu = await spectralSigma({ data, rows: n, cols: 3 }, { neighbors: 30, seed: 1, backend: 'gpu' });
    expect(Math.abs(gpu - cpu) / cpu).toBeLessThan(1e-5);
  }, 120_000);
});
