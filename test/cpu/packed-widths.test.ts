// A fresh module state (vitest runs each file in its own): the first many-column product of a stored symmetric K
// runs before the wider programs are compiled. It takes every column as a one-column group in one pass — the same
// sums in the same order as the grouped programs (denseSymmetricProductWat) — while they compile; later products
// take them. Bitwise the one-column products' results either way.
import { describe, expect, it } from 'vitest';
import { DenseKernelMatrix, PACKED_BLOCK_COLUMNS, packedPasses, packedProgramCompiled } from '../../src/cpu/dense-product.js';
import { MIN_PAIRS_FOR_POOL } from '../../src/cpu/reduce.js';
import { startCpuPool } from '../../src/cpu/pool.js';
import { collectVariables, evaluateDenseJs, Pm, Vi, Vj } from '../../src/formula/index.js';
import { oracleProducts } from '../conformance.js';
import { seededPoints, seededVector } from '../random-data.js';

describe('packed products before their wider programs are compiled', () => {
  for (const storage of ['float64', 'float32'] as const) {
    it(`${storage}: ten columns in one pass of one-column groups, then in groups of ${PACKED_BLOCK_COLUMNS} and 2 — equal to one-column products`, async () => {
      await startCpuPool(); // row ranges over the workers: the one-column module goes to them with ten groups
      const n = 700;
      expect(n * n).toBeGreaterThan(MIN_PAIRS_FOR_POOL);
      const x = seededPoints(80, n, 3, { lo: -1 });
      const f = Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.8, 's')).neg().exp();
      const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, storage, { symmetric: true });
      const cols = Array.from({ length: 10 }, (_, r) => seededVector(90 + r, n));
      const single = [];
      for (const c of cols) single.push((await K.multiply([c]))[0]!); // the one-column program: compiled now
      expect([packedProgramCompiled(storage, 1), packedProgramCompiled(storage, PACKED_BLOCK_COLUMNS), packedProgramCompiled(storage, 2)]).toEqual([true, false, false]);
      const passes = () => [1, 2, PACKED_BLOCK_COLUMNS].map((w) => packedPasses[w] ?? 0);
      const before = passes();
      const first = await K.multiply(cols);
      expect(passes()).toEqual([before[0]! + 1, before[1], before[2]]); // one pass, ten one-column groups
      // the wider programs were asked for by it
      for (let t = 0; t < 400 && !(packedProgramCompiled(storage, PACKED_BLOCK_COLUMNS) && packedProgramCompiled(storage, 2)); t++) await new Promise((r) => setTimeout(r, 25));
      expect([packedProgramCompiled(storage, PACKED_BLOCK_COLUMNS), packedProgramCompiled(storage, 2)]).toEqual([true, true]);
      const second = await K.multiply(cols);
      expect(passes()).toEqual([before[0]! + 1, before[1]! + 1, before[2]! + 1]); // eight columns by 4, two by 2
      const want = oracleProducts(evaluateDenseJs(f.node), n, n, cols);
      const tol = storage === 'float64' ? 1e-14 : 6e-8;
      for (let r = 0; r < cols.length; r++) {
        expect(Array.from(first[r]!), `column ${r}`).toEqual(Array.from(single[r]!));
        expect(Array.from(second[r]!), `column ${r}`).toEqual(Array.from(single[r]!));
        for (let i = 0; i < n; i++) expect(Math.abs(first[r]![i]! - want[r]!.y[i]!)).toBeLessThanOrEqual(tol * want[r]!.scale[i]! + 1e-300);
      }
      await K.release();
    });
  }
});
