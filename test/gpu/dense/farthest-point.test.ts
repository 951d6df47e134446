/**
 * The device farthest-point order (src/gpu/dense/farthest-point.ts) against a brute-force float64 greedy reference: every
 * step is a valid greedy step up to float32 rounding, most indices agree exactly, coinciding points continue in
 * increasing index, odd sizes and a 2-D dispatch grid work, and bad input is refused naming the value.
 */
import { describe, expect, it } from 'vitest';
import { deviceFarthestPointOrder, placement } from '../../../src/gpu/dense/farthest-point.js';
import type { PointRows } from '../../../src/preconditioners/farthest-point.js';
import { mulberry32 } from '../../conformance.js';
import { gpu, hasGpu } from '../gpu-env.js';

/** n points of d float32-representable coordinates, uniform in [0, 1)^d. */
function uniform(seed: number, n: number, d: number): PointRows {
  const r = mulberry32(seed);
  return { data: Float64Array.from({ length: n * d }, () => Math.fround(r())), rows: n, cols: d };
}

function sqdist(p: PointRows, i: number, j: number): number {
  let s = 0;
  for (let k = 0; k < p.cols; k++) {
    const t = p.data[i * p.cols + k]! - p.data[j * p.cols + k]!;
    s += t * t;
  }
  return s;
}

/** The float64 greedy order: largest distance to the chosen set, ties (and all-zero distances) to the smallest index. */
function referenceOrder(p: PointRows, m: number, first: number): Int32Array {
  const n = p.rows;
  const dist = new Float64Array(n).fill(Infinity);
  const order = new Int32Array(m);
  let c = first;
  for (let k = 0; k < m; k++) {
    order[k] = c;
    dist[c] = -1;
    let best = -Infinity;
    let next = -1;
    for (let i = 0; i < n; i++) {
      if (dist[i]! >= 0) {
        const s = sqdist(p, i, c);
        if (s < dist[i]!) dist[i] = s;
        if (dist[i]! > best) {
          best = dist[i]!;
          next = i;
        }
      }
    }
    c = next;
  }
  return order;
}

/**
 * Checks that `order` is a valid greedy order up to float32 rounding: distinct indices in range, starting at `first`,
 * and each point's float64 squared distance to those before it ≥ (1 − 1e-5) × the largest over the points not yet
 * chosen (once that is 0, the smallest index left). Returns the number of steps checked.
 */
function expectGreedy(p: PointRows, order: Int32Array, first: number): void {
  const n = p.rows;
  expect(order[0]).toBe(first);
  const dist = new Float64Array(n).fill(Infinity);
  const seen = new Uint8Array(n);
  for (let k = 0; k < order.length; k++) {
    const c = order[k]!;
    expect(Number.isInteger(c) && c >= 0 && c < n, `order[${k}] = ${c} in range`).toBe(true);
    expect(seen[c], `order[${k}] = ${c} not chosen before`).toBe(0);
    if (k > 0) {
      let max = -Infinity;
      let smallest = -1;
      for (let i = 0; i < n; i++) {
        if (seen[i]) continue;
        if (smallest < 0) smallest = i;
        if (dist[i]! > max) max = dist[i]!;
      }
      if (max > 0) {
        expect(dist[c]!, `step ${k}: distance of ${c} against the largest left`).toBeGreaterThanOrEqual((1 - 1e-5) * max);
      } else {
        expect(c, `step ${k}: only coinciding points left, the smallest index goes next`).toBe(smallest);
      }
    }
    seen[c] = 1;
    for (let i = 0; i < n; i++) {
      if (!seen[i]) dist[i] = Math.min(dist[i]!, sqdist(p, i, c));
    }
  }
}

function agreements(a: Int32Array, b: Int32Array, steps: number): number {
  let same = 0;
  for (let k = 0; k < steps; k++) if (a[k] === b[k]) same++;
  return same;
}

describe.runIf(hasGpu)('deviceFarthestPointOrder', () => {
  const ctx = gpu!;

  for (const d of [1, 2, 3, 5]) {
    it(`random points in ${d}-D: a valid greedy order, ≥ 95% of the first 100 steps as in float64`, async () => {
      const n = 3001;
      const m = 240;
      const p = uniform(10 + d, n, d);
      const first = 17 * d;
      const order = await deviceFarthestPointOrder(ctx, p, m, first);
      expect(order).toBeInstanceOf(Int32Array);
      expect(order.length).toBe(m);
      expectGreedy(p, order, first);
      const ref = referenceOrder(p, m, first);
      expect(agreements(order, ref, 100)).toBeGreaterThanOrEqual(95);
    });
  }

  it('m = n: the whole permutation, each step greedy', async () => {
    const p = uniform(5, 300, 3);
    const order = await deviceFarthestPointOrder(ctx, p, 300, 299);
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expectGreedy(p, order, 299);
  });

  it('coinciding points: the distinct locations first, then the duplicates in increasing index', async () => {
    const locations = uniform(7, 50, 3);
    const r = mulberry32(8);
    // 1000 points: each location 20 times, at random rows
    const slots = Array.from({ length: 1000 }, (_, i) => i % 50);
    for (let i = slots.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    const data = new Float64Array(3000);
    slots.forEach((loc, i) => data.set(locations.data.subarray(3 * loc, 3 * loc + 3), 3 * i));
    const p: PointRows = { data, rows: 1000, cols: 3 };
    const first = 123;
    const order = await deviceFarthestPointOrder(ctx, p, 200, first);
    expect(new Set(Array.from(order.subarray(0, 50), (i) => slots[i])).size).toBe(50);
    const head = new Set(order.subarray(0, 50));
    const rest = Array.from({ length: 1000 }, (_, i) => i).filter((i) => !head.has(i)).slice(0, 150);
    expect(Array.from(order.subarray(50))).toEqual(rest);
    expect(new Set(order).size).toBe(200);
    expectGreedy(p, order, first);
  });

  it('clustered data: one point of each tight cluster first, then a valid greedy order', async () => {
    const centres = uniform(9, 12, 3);
    const r = mulberry32(10);
    const n = 1200;
    const data = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 3; k++) data[3 * i + k] = Math.fround(centres.data[3 * (i % 12) + k]! + 1e-4 * (r() - 0.5));
    }
    const p: PointRows = { data, rows: n, cols: 3 };
    const order = await deviceFarthestPointOrder(ctx, p, 100, 0);
    expect(new Set(Array.from(order.subarray(0, 12), (i) => i % 12)).size).toBe(12);
    expectGreedy(p, order, 0);
  });

  it('odd sizes: n not a multiple of the workgroup, n below one workgroup, m = 1', async () => {
    const p = uniform(11, 5003, 3);
    const order = await deviceFarthestPointOrder(ctx, p, 64, 5002);
    expectGreedy(p, order, 5002);
    expect(agreements(order, referenceOrder(p, 64, 5002), 64)).toBeGreaterThanOrEqual(60);

    const small = uniform(12, 7, 2);
    const all = await deviceFarthestPointOrder(ctx, small, 7, 3);
    expect(Array.from(all)).toEqual(Array.from(referenceOrder(small, 7, 3)));
    expect(Array.from(await deviceFarthestPointOrder(ctx, small, 1, 6))).toEqual([6]);
    expect(Array.from(await deviceFarthestPointOrder(ctx, p, 1, 0))).toEqual([0]);
    const one: PointRows = { data: Float64Array.of(0.5, -2), rows: 1, cols: 2 };
    expect(Array.from(await deviceFarthestPointOrder(ctx, one, 1, 0))).toEqual([0]);
  });

  it('exact ties between distinct points go to the smallest index (lattices in shuffled row order)', async () => {
    // integer lattices: every float32 distance is exact, so the order must be the float64 one, ties and all
    for (const [side, d, m] of [[8000, 1, 300], [90, 2, 400], [20, 3, 300]] as const) {
      const n = side ** d;
      const r = mulberry32(side);
      const perm = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const data = new Float64Array(n * d);
      perm.forEach((cell, i) => {
        for (let k = 0, c = cell; k < d; k++, c = Math.floor(c / side)) data[i * d + k] = c % side;
      });
      const p: PointRows = { data, rows: n, cols: d };
      const first = perm.indexOf(0);
      const ref = Array.from(referenceOrder(p, m, first));
      expect(Array.from(await deviceFarthestPointOrder(ctx, p, m, first))).toEqual(ref);
      // 4-thread workgroups: ~500 partials (several per thread of the selection) on a 2-D grid of workgroups
      const tiny = { ...ctx, limits: { ...ctx.limits, maxComputeWorkgroupSizeX: 4, maxComputeWorkgroupsPerDimension: 64 } };
      expect(Array.from(await deviceFarthestPointOrder(tiny, p, m, first))).toEqual(ref);
    }
  });

  it('a 2-D dispatch grid (few workgroups per dimension) and one-thread workgroups give the same order', async () => {
    const p = uniform(13, 5003, 3);
    const plain = await deviceFarthestPointOrder(ctx, p, 50, 1);
    const narrow = { ...ctx, limits: { ...ctx.limits, maxComputeWorkgroupsPerDimension: 3 } };
    expect(Array.from(await deviceFarthestPointOrder(narrow, p, 50, 1))).toEqual(Array.from(plain));
    const single = { ...ctx, limits: { ...ctx.limits, maxComputeWorkgroupSizeX: 1 } }; // no tree reduction at all
    expect(Array.from(await deviceFarthestPointOrder(single, p, 50, 1))).toEqual(Array.from(plain));
  });

  it('far-off, huge and tiny coordinates: the same order as near the origin (exact on a coarse grid)', async () => {
    // coordinates on the grid 2⁻¹¹ in [0, 1): every float32 distance is exact, so the order is the float64 one, ties
    // and all; shifts of float32 values far from zero and power-of-two scales keep them exact
    const r = mulberry32(14);
    const p: PointRows = { data: Float64Array.from({ length: 6000 }, () => Math.floor(r() * 2048) / 2048), rows: 2000, cols: 3 };
    const order = await deviceFarthestPointOrder(ctx, p, 80, 5);
    expect(Array.from(order)).toEqual(Array.from(referenceOrder(p, 80, 5)));
    for (const map of [(v: number) => v + 4096, (v: number) => v - 8192, (v: number) => v * 2 ** 100, (v: number) => v * 2 ** -100]) {
      const moved = { ...p, data: p.data.map(map) };
      expect(moved.data.every((v) => Math.fround(v) === v)).toBe(true);
      expect(Array.from(await deviceFarthestPointOrder(ctx, moved, 80, 5))).toEqual(Array.from(order));
    }
    const { centre, scale } = placement(Float64Array.of(4096, -1, -8), Float64Array.of(4097, 1, -7));
    expect(Array.from(centre)).toEqual([4096.5, 0, -7.5]);
    expect(scale).toBe(1);
  });

  it('bad input throws, naming the value', async () => {
    const p = uniform(15, 20, 2);
    await expect(deviceFarthestPointOrder(ctx, p, 0, 0)).rejects.toThrow(/m must be an integer in \[1, rows = 20\], got 0/);
    await expect(deviceFarthestPointOrder(ctx, p, 21, 0)).rejects.toThrow(/got 21/);
    await expect(deviceFarthestPointOrder(ctx, p, 2.5, 0)).rejects.toThrow(/m .*got 2\.5/);
    await expect(deviceFarthestPointOrder(ctx, p, NaN, 0)).rejects.toThrow(/m .*got NaN/);
    await expect(deviceFarthestPointOrder(ctx, p, 5, 20)).rejects.toThrow(/first must be an integer row in \[0, 20\), got 20/);
    await expect(deviceFarthestPointOrder(ctx, p, 5, -1)).rejects.toThrow(/first .*got -1/);
    await expect(deviceFarthestPointOrder(ctx, p, 5, 1.5)).rejects.toThrow(/first .*got 1\.5/);
    const bad = { ...p, data: p.data.slice() };
    bad.data[2 * 7 + 1] = NaN;
    await expect(deviceFarthestPointOrder(ctx, bad, 5, 0)).rejects.toThrow(/point 7 has a non-finite coordinate \(NaN\)/);
    bad.data[2 * 7 + 1] = -Infinity;
    await expect(deviceFarthestPointOrder(ctx, bad, 5, 0)).rejects.toThrow(/point 7 .*-Infinity/);
    await expect(deviceFarthestPointOrder(ctx, { ...p, rows: 21 }, 5, 0)).rejects.toThrow(/21x2 with 40 values/);
  });
});
