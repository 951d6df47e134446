import { describe, expect, it } from 'vitest';
import { DenseKernelMatrix, F32_SUMS_ERROR, PACKED_BLOCK_COLUMNS, PACKED_PASS_COLUMNS, denseProductWat, denseSymmetricProductWat } from '../../src/cpu/dense-product.js';
import { MIN_PAIRS_FOR_POOL } from '../../src/cpu/reduce.js';
import { startCpuPool } from '../../src/cpu/pool.js';
import { collectVariables, evaluateDenseJs, Pm, Vi, Vj } from '../../src/formula/index.js';
import { oracleProducts } from '../conformance.js';
import { seededPoints, seededVector } from '../random-data.js';

const points = (n: number, d: number, seed: number) => seededPoints(seed, n, d, { lo: -1 });
const column = (len: number, seed: number) => seededVector(seed, len);

describe('dense kernel matrix products (materialised K, WASM SIMD over the pool)', () => {
  // m around the 16-entry lane group and across the 512-entry float32 tile; the last size runs on
  // the pool (n·m ≥ MIN_PAIRS_FOR_POOL)
  const shapes = [[1, 1], [7, 17], [33, 31], [40, 1100], [300, 600]] as const;
  expect(300 * 600).toBeGreaterThanOrEqual(MIN_PAIRS_FOR_POOL);
  for (const [n, m] of shapes) {
    for (const storage of ['float64', 'float32'] as const) {
      it(`${storage} storage, ${n}x${m}, 1..9 columns match the JS twin`, async () => {
        if (n * m >= MIN_PAIRS_FOR_POOL) await startCpuPool(); // small products run on the calling thread until it runs
        const f = Vi(points(n, 3, 1)).sub(Vj(points(m, 3, 2))).sqnorm2().div(Pm(0.7, 's')).neg().exp().mul(Vi(points(n, 1, 3)).add(2));
        const Kjs = evaluateDenseJs(f.node);
        const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, m, storage);
        expect(K.storage).toBe(storage);
        const cols = Array.from({ length: 9 }, (_, r) => column(m, 10 + r));
        const want = oracleProducts(Kjs, n, m, cols);
        for (const count of [1, 2, 3, 4, 5, 9]) {
          const got = await K.multiply(cols.slice(0, count));
          expect(got.length).toBe(count);
          for (let r = 0; r < count; r++) {
            const { y, scale } = want[r]!;
            // float32: each entry rounded once (2⁻²⁴); right-hand sides and sums float64
            const tol = storage === 'float64' ? 1e-14 : 6e-8;
            for (let i = 0; i < n; i++) expect(Math.abs(got[r]![i]! - y[i]!), `row ${i} column ${r}`).toBeLessThanOrEqual(tol * scale[i]! + 1e-300);
          }
        }
      });
    }
  }

  it('concurrent products on one matrix are serialised, each gets its own result', async () => {
    const n = 64, m = 50;
    const f = Vi(points(n, 2, 4)).sub(Vj(points(m, 2, 5))).sqnorm2().neg().exp();
    const Kjs = evaluateDenseJs(f.node);
    const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, m, 'float64');
    const cols = Array.from({ length: 6 }, (_, r) => column(m, 20 + r));
    const want = oracleProducts(Kjs, n, m, cols);
    const got = await Promise.all(cols.map((c) => K.multiply([c])));
    got.forEach((g, r) => {
      const { y, scale } = want[r]!;
      for (let i = 0; i < n; i++) expect(Math.abs(g[0]![i]! - y[i]!)).toBeLessThanOrEqual(1e-14 * scale[i]!);
    });
  });

  it('float32 entries are promoted: every multiply-add is float64', () => {
    const a = denseProductWat('float32');
    expect(a).toContain('f64x2.promote_low_f32x4');
    expect(a).not.toContain('f32x4.mul');
    expect(denseProductWat('float64')).not.toContain('promote');
  });

  // Kᵀz and K·Kᵀ: row counts around the 4-row blocks, columns across the 512-column chunks; the
  // last shape runs on the pool
  const tShapes = [[1, 1], [5, 17], [6, 31], [13, 1100], [301, 600]] as const;
  for (const [n, m] of tShapes) {
    for (const storage of ['float64', 'float32'] as const) {
      it(`${storage} storage, ${n}x${m}: Kᵀz, K·Kᵀ and stored entries match the JS twin`, async () => {
        const f = Vi(points(n, 3, 6)).sub(Vj(points(m, 3, 7))).sqnorm2().div(Pm(0.9, 's')).neg().exp().mul(Vj(points(m, 1, 8)).add(1.5));
        const Kjs = evaluateDenseJs(f.node);
        // the oracle sees what is stored: float32 entries rounded once (from a float64 value that may
        // differ from JS's Math.exp in the last bit, so a float32 entry may sit one float32 ulp away)
        const tol = storage === 'float64' ? 1e-14 : 1.2e-7;
        const stored = storage === 'float32' ? Float64Array.from(Float32Array.from(Kjs)) : Kjs;
        const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, m, storage, { gram: true });
        const zs = [column(n, 30), column(n, 31), column(n, 32)];
        const got = await K.multiplyTransposed(zs);
        zs.forEach((z, r) => {
          for (let c = 0; c < m; c++) {
            let want = 0, scale = 0;
            for (let i = 0; i < n; i++) { want += stored[i * m + c]! * z[i]!; scale += Math.abs(stored[i * m + c]! * z[i]!); }
            expect(Math.abs(got[r]![c]! - want), `column ${c} rhs ${r}`).toBeLessThanOrEqual(tol * scale + 1e-300);
          }
        });
        const G = await K.gram();
        for (let a = 0; a < n; a++) {
          for (let b = 0; b < n; b++) {
            let want = 0, scale = 0;
            for (let c = 0; c < m; c++) { want += stored[a * m + c]! * stored[b * m + c]!; scale += Math.abs(stored[a * m + c]! * stored[b * m + c]!); }
            expect(Math.abs(G[a * n + b]! - want), `G[${a}][${b}]`).toBeLessThanOrEqual(tol * scale + 1e-300);
          }
        }
        expect(await K.gram()).toEqual(G); // a second Gram starts from zero again
        const rows = [n - 1, 0], cols = [m - 1, 0, Math.floor(m / 2)];
        const e = K.entries(rows, cols);
        rows.forEach((r, a) => cols.forEach((c, b) => expect(Math.abs(e[a * cols.length + b]! - stored[r * m + c]!)).toBeLessThanOrEqual(tol * Math.abs(stored[r * m + c]!))));
      });
    }
  }

  it('gram needs the reserve; entries check their indices', async () => {
    const f = Vi(points(4, 2, 9)).sub(Vj(points(5, 2, 10))).sqnorm2().neg().exp();
    const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), 4, 5, 'float64');
    expect(() => K.gram()).toThrow(/gram: true/);
    expect(() => K.entries([4], [0])).toThrow(/row 4 outside \[0, 4\)/);
    expect(() => K.entries([0], [-1])).toThrow(/column -1 outside \[0, 5\)/);
  });

  it('packed symmetric products take their columns in groups of PACKED_BLOCK_COLUMNS, equal to one-column products', async () => {
    const wat = denseSymmetricProductWat('float64', PACKED_BLOCK_COLUMNS);
    // one accumulator per row and column of a 2-row block, kept in a per-task scratch between chunks of K
    for (let c = 0; c < PACKED_BLOCK_COLUMNS; c++) for (const q of [0, 1]) expect(wat).toContain(`$a${q}_${c}`);
    expect(wat).not.toContain('$a2_0');
    for (const n of [17, 301]) {
      const x = points(n, 3, 50);
      const f = Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.8, 's')).neg().exp();
      const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, 'float64', { symmetric: true });
      const cols = Array.from({ length: 14 }, (_, r) => column(n, 60 + r));
      const want = oracleProducts(evaluateDenseJs(f.node), n, n, cols);
      const single = await Promise.all(cols.map(async (c) => (await K.multiply([c]))[0]!));
      // counts off a multiple of the group leave 1–3 columns to a product of their own; more than PACKED_PASS_COLUMNS
      // take several products
      for (const count of [2, 3, 5, 9, PACKED_PASS_COLUMNS, 14]) {
        const got = await K.multiply(cols.slice(0, count));
        for (let r = 0; r < count; r++) {
          expect(Array.from(got[r]!), `n = ${n}, ${count} columns, column ${r}`).toEqual(Array.from(single[r]!));
          for (let i = 0; i < n; i++) expect(Math.abs(got[r]![i]! - want[r]!.y[i]!)).toBeLessThanOrEqual(1e-14 * want[r]!.scale[i]!);
        }
      }
    }
  });

  it(`packed symmetric products over the pool in chunks of K: equal to one-column products and to the stored entries' sums`, async () => {
    const n = 2100; // rows of 2,100 stored entries: 9 chunks; 4.4·10⁶ pairs: row ranges on the pool
    const x = points(n, 3, 51);
    const f = Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.5, 's')).neg().exp();
    const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, 'float64', { symmetric: true });
    expect(n * n).toBeGreaterThan(MIN_PAIRS_FOR_POOL);
    const count = PACKED_BLOCK_COLUMNS + 3; // a whole group and a product of the 3 left over
    const cols = Array.from({ length: count }, (_, r) => column(n, 70 + r));
    const got = await K.multiply(cols);
    const rows = [0, 1, 17, 1040, n - 1];
    const all = Array.from({ length: n }, (_, j) => j);
    const entries = K.entries(rows, all);
    for (let r = 0; r < count; r++) {
      expect(Array.from(got[r]!), `column ${r}`).toEqual(Array.from((await K.multiply([cols[r]!]))[0]!));
      rows.forEach((i, a) => {
        let y = 0, scale = 0;
        for (let j = 0; j < n; j++) { y += entries[a * n + j]! * cols[r]![j]!; scale += Math.abs(entries[a * n + j]! * cols[r]![j]!); }
        expect(Math.abs(got[r]![i]! - y)).toBeLessThanOrEqual(1e-14 * scale);
      });
    }
    await K.release();
  });

  // packed symmetric storage: sizes around the 16-row groups and the 4-row blocks; the last on the pool
  for (const n of [1, 5, 16, 17, 33, 100, 301]) {
    for (const storage of ['float64', 'float32'] as const) {
      it(`${storage} packed symmetric storage, n = ${n}: K·b, Kᵀ·b and stored entries match the JS twin`, async () => {
        const x = points(n, 3, 40);
        const f = Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.8, 's')).neg().exp();
        const Kjs = evaluateDenseJs(f.node);
        const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, storage, { symmetric: true });
        expect(K.packed).toBe(true);
        expect(DenseKernelMatrix.storedBytes(n, n, storage, { symmetric: true }))
          .toBeLessThan(DenseKernelMatrix.storedBytes(n, n, storage) * (0.5 + 16 / n)); // the 16×16 diagonal blocks are stored whole
        const cols = [column(n, 41), column(n, 42), column(n, 43)];
        const want = oracleProducts(Kjs, n, n, cols);
        const tol = storage === 'float64' ? 1e-14 : 1.2e-7;
        const got = await K.multiply(cols);
        const gotT = await K.multiplyTransposed(cols);
        cols.forEach((_, r) => {
          const { y, scale } = want[r]!;
          for (let i = 0; i < n; i++) {
            expect(Math.abs(got[r]![i]! - y[i]!), `row ${i} column ${r}`).toBeLessThanOrEqual(tol * scale[i]! + 1e-300);
            expect(gotT[r]![i]).toBe(got[r]![i]);
          }
        });
        // a second product starts its mirror sums from zero again
        expect(await K.multiply([cols[0]!])).toEqual([got[0]]);
        const idx = [0, n - 1, Math.floor(n / 2), Math.min(n - 1, 20)];
        const e = K.entries(idx, idx);
        idx.forEach((r, a) => idx.forEach((c, b) => {
          expect(Math.abs(e[a * idx.length + b]! - Kjs[r * n + c]!)).toBeLessThanOrEqual(tol * Math.abs(Kjs[r * n + c]!) + 1e-300);
          expect(e[a * idx.length + b]).toBe(e[b * idx.length + a]); // one stored value per pair
        }));
        expect(() => K.gram()).toThrow(/packed symmetric/);
      });
    }
  }

  // float32 sums: past the 256-column chunks and the 32-row mirror panels; 1200 runs on the pool
  for (const n of [5, 17, 100, 301, 1200]) {
    it(`float32 packed storage with float32 sums, n = ${n}: float32-accurate against the float64 sums`, async () => {
      const x = points(n, 3, 50);
      const f = Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.8, 's')).neg().exp();
      const Kjs = evaluateDenseJs(f.node);
      const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, 'float32', { symmetric: true });
      const cols = [column(n, 51), column(n, 52)];
      const want = oracleProducts(Kjs, n, n, cols);
      const exact = await K.multiply(cols);
      const fast = await K.multiply(cols, 'float32');
      let differs = false;
      cols.forEach((_, r) => {
        const { y, scale } = want[r]!;
        for (let i = 0; i < n; i++) {
          // the entries' rounding and the sums' float32 rounding: a few units of 2⁻²⁴ of Σ_j |K_ij b_j|
          expect(Math.abs(fast[r]![i]! - y[i]!), `row ${i} column ${r}`).toBeLessThanOrEqual(F32_SUMS_ERROR * scale[i]! + 1e-300);
          differs ||= fast[r]![i] !== exact[r]![i];
        }
      });
      if (n >= 100) expect(differs).toBe(true); // it is the float32 program that ran
      // repeatable, and the float64 sums are unchanged by it
      expect(await K.multiply(cols, 'float32')).toEqual(fast);
      expect(await K.multiply(cols)).toEqual(exact);
    });
  }
});
