import { describe, expect, it } from 'vitest';
import { boundingBox, pointsPass, prepCounts, PREP_MIN_ENTRIES, scaleRows, transposeInMemory, transposePoints } from '../../src/cpu/points-prep.js';
import { acquireMemory, emptyMemoryCache, recycledMemoryBytes, recycleMemory } from '../../src/cpu/memory-pool.js';
import { gaussianKernel, laplacianKernel } from '../../src/index.js';
import { seededVector } from '../random-data.js';

/** Seeded entries of mixed scale and sign, with exact ties and signed zeros: the cases where an order or a min/max could differ. */
function points(seed: number, rows: number, d: number): Float64Array {
  const v = seededVector(seed, rows * d).map((x, t) => (t % 7 === 0 ? Math.round(x * 4) / 4 : x * 10 ** ((t % 5) - 2)));
  v[3 % v.length] = -0;
  v[5 % v.length] = 0;
  return v;
}

/** The entries' bytes as one string (compared whole: a large array of numbers makes a slow diff). */
const bits = (a: Float64Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

describe('points-prep: the program against its loops, bit for bit', () => {
  // below the threshold the loops run; at and past it the program (d = 1, 3, 64, 1000; rows leaving ragged tails)
  const shapes = [[10, 3], [PREP_MIN_ENTRIES, 1], [PREP_MIN_ENTRIES / 4 + 1, 3], [1797, 64], [21, 1000]] as const;
  for (const [rows, d] of shapes) {
    it(`${rows} × ${d}: box (with its sum) and the scaling`, () => {
      const data = points(rows * 31 + d, rows, d);
      const lo0 = new Float64Array(d).fill(Infinity);
      const hi0 = new Float64Array(d).fill(-Infinity);
      const sum0 = boundingBox(data, d, lo0, hi0);
      const pass = pointsPass(data, d);
      const lo = new Float64Array(d).fill(Infinity);
      const hi = new Float64Array(d).fill(-Infinity);
      const sum = pass.box(lo, hi);
      expect(Object.is(sum, sum0)).toBe(true);
      expect(bits(lo)).toEqual(bits(lo0));
      expect(bits(hi)).toEqual(bits(hi0));
      const center = lo.map((l, k) => l / 2 + hi[k]! / 2);
      const want = new Float64Array(data.length);
      scaleRows(data, d, center, 0.37, want);
      const got = pass.scaled(center, 0.37);
      pass.release();
      expect(got.length).toBe(data.length);
      expect(bits(got)).toEqual(bits(want));
    });
  }

  it("the scaled points are copied out of the pass's memory, which release recycles, scaled or not", () => {
    emptyMemoryCache();
    const rows = 1797, d = 64;
    const data = points(77, rows, d);
    const pass = pointsPass(data, d);
    const lo = new Float64Array(d).fill(Infinity);
    const hi = new Float64Array(d).fill(-Infinity);
    pass.box(lo, hi);
    const center = lo.map((l, k) => l / 2 + hi[k]! / 2);
    const got = pass.scaled(center, 0.37);
    pass.release();
    expect([got.byteOffset, got.buffer.byteLength]).toEqual([0, rows * d * 8]); // an array of its own
    expect(recycledMemoryBytes()).toBeGreaterThanOrEqual(rows * d * 8); // the memory back for the next taker
    const want = Float64Array.from(got);
    // the next takers of that memory overwrite it: the points are not there
    for (let t = 0; t < 3; t++) new Float64Array(acquireMemory(Math.ceil((rows * d * 8) / 65536) + 1).buffer).fill(NaN);
    expect(bits(got)).toEqual(bits(want));
    emptyMemoryCache();
  });

  it('operators made and dropped one after another keep RSS bounded (no memory kept per operator till a collection)', () => {
    // the scaled points once stayed in the pass's WebAssembly memory, one per operator, which V8 collects late: these
    // 300 operators (the digits' size, 1,797 × 64 → 1,500 × 64 here) took RSS up by 604 MiB
    const data = points(5, 1500, 64);
    for (let i = 0; i < 20; i++) gaussianKernel({ data, rows: 1500, cols: 64 }, { sigma: 1 + i / 100 }); // warm
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 300; i++) gaussianKernel({ data, rows: 1500, cols: 64 }, { sigma: 1 + i / 100 });
    expect((process.memoryUsage().rss - before) / 2 ** 20).toBeLessThan(128);
  });

  it('a non-finite entry makes the sum non-finite on both paths, and the box skips NaN alike', () => {
    const d = 4;
    const data = points(5, PREP_MIN_ENTRIES / d, d);
    data[17] = NaN;
    data[40] = Infinity;
    for (const run of [(l: Float64Array, h: Float64Array) => boundingBox(data, d, l, h), (l: Float64Array, h: Float64Array) => {
      const pass = pointsPass(data, d);
      try {
        return pass.box(l, h);
      } finally {
        pass.release();
      }
    }]) {
      const lo = new Float64Array(d).fill(Infinity);
      const hi = new Float64Array(d).fill(-Infinity);
      expect(Number.isNaN(run(lo, hi))).toBe(true);
      expect(hi[0]).toBe(Infinity); // entry 40 is in column 0
    }
  });

  for (const bytes of [8, 4] as const) {
    it(`transposition into a product's layout (${bytes === 8 ? 'float64' : 'float32'}), padding with the last point`, () => {
      for (const [m, dim, mPad] of [[2736, 3, 2744], [1797, 64, 1808], [PREP_MIN_ENTRIES, 1, PREP_MIN_ENTRIES]] as const) {
        const src = points(m + dim, m, dim);
        const Arr = bytes === 8 ? Float64Array : Float32Array;
        const want = new Arr(dim * mPad);
        transposePoints(src, dim, m, mPad, want);
        const memory = acquireMemory(Math.ceil((16 + (m * dim + dim * mPad) * bytes + 16) / 65536));
        try {
          const buf = memory.buffer as unknown as ArrayBuffer;
          const srcOffset = 16;
          const dstOffset = srcOffset + Math.ceil((m * dim * bytes) / 16) * 16;
          new Arr(buf, srcOffset, m * dim).set(src); // as a product lays out its i slot (float32: rounded once)
          expect(transposeInMemory(memory, bytes, srcOffset, dim, m, mPad, dstOffset)).toBe(true);
          expect(bits(new Arr(buf, dstOffset, dim * mPad))).toEqual(bits(want));
        } finally {
          recycleMemory(memory);
        }
      }
    });
  }

  it('small sets are left to the loops (the program is not worth its set-up)', () => {
    const memory = acquireMemory(1);
    expect(transposeInMemory(memory, 8, 16, 3, 10, 16, 1024)).toBe(false);
    recycleMemory(memory);
  });

  it("kernels built from the same points on either path have the same entries (a symmetric store's in-memory transposition included)", async () => {
    const rows = 300;
    const d = 40; // 12,000 entries: the program's side of the threshold
    const data = points(9, rows, d);
    const small = data.subarray(0, 20 * d); // 800 entries: the loops' side
    for (const make of [gaussianKernel, laplacianKernel]) {
      const { passes, transposes } = prepCounts;
      const K = make({ data, rows, cols: d }, { sigma: 3, dtype: 'float64', backend: 'cpu', denseCache: 'always' });
      expect(prepCounts.passes).toBe(passes + 1);
      const dense = await K.toDense();
      // entry by entry from the formula, on the caller's points: the reference for both paths
      const k = (i: number, j: number) => {
        let r2 = 0;
        for (let t = 0; t < d; t++) r2 += (data[i * d + t]! - data[j * d + t]!) ** 2;
        return make === gaussianKernel ? Math.exp(-r2 / (2 * 9)) : Math.exp(-Math.sqrt(r2) / 3);
      };
      for (const [i, j] of [[0, 0], [0, 1], [17, 250], [299, 3], [150, 150]] as const) {
        expect(dense.get(i, j)).toBeCloseTo(k(i, j), 13);
      }
      const b = seededVector(3, rows);
      const stored = await K.matvec(b); // from the stored K (its j slot transposed in memory)
      expect(prepCounts.transposes).toBeGreaterThan(transposes);
      const direct = make({ data, rows, cols: d }, { sigma: 3, dtype: 'float64', backend: 'cpu', denseCache: 'never' });
      const symbolic = await direct.matvec(b);
      for (let t = 0; t < rows; t++) expect(stored[t]).toBeCloseTo(symbolic[t]!, 10);
      const before = prepCounts.passes;
      const Ks = make({ data: small, rows: 20, cols: d }, { sigma: 3, dtype: 'float64', backend: 'cpu' });
      expect(prepCounts.passes).toBe(before);
      const ds = await Ks.toDense();
      expect(ds.get(3, 11)).toBeCloseTo(k(3, 11), 13);
      K.dispose();
      direct.dispose();
    }
  });
});
