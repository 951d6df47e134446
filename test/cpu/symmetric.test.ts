import { describe, expect, it } from 'vitest';
import { reduceKernel } from '../../src/cpu/reduce.js';
import { collectVariables, evaluateDenseJs, Pm, Vi, Vj, type Formula } from '../../src/formula/index.js';
import { mulberry32, seededPoints } from '../random-data.js';

const points = (n: number, d: number, seed: number) => seededPoints(seed, n, d);
function vectors(k: number, n: number, seed: number): Float64Array[] {
  const r = mulberry32(seed);
  return Array.from({ length: k }, () => Float64Array.from({ length: n }, () => r() - 0.5));
}
const denseCache = new WeakMap<Formula, Float64Array>();
/** Σ_j K_ij b_j from the JS twin's dense matrix (float64, plain loop). */
function reference(f: Formula, n: number, b: Float64Array): Float64Array {
  let K = denseCache.get(f);
  if (!K) denseCache.set(f, (K = evaluateDenseJs(f.node)));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < n; j++) s += K[i * n + j]! * b[j]!; out[i] = s; }
  return out;
}
const relErr = (a: Float64Array, b: Float64Array) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / den);
};

describe('symmetric reductions (each pair evaluated once, mirrored into a float64 column accumulator)', () => {
  // n around the lane-group size (16 / 32), across tiles (1024 / 512) and with ragged ends
  const sizes = [1, 2, 15, 16, 17, 33, 100, 513, 1030, 2500];
  for (const dtype of ['float64', 'float32'] as const) {
    for (const n of sizes) {
      it(`${dtype} n = ${n}: equals the reference for 1–4 fused columns and 5, 7, 10 staged ('scratch'), serial and pooled`, async () => {
        const x = points(n, 3, n);
        const f = Vi(x).sub(Vj(x)).sqnorm2().div(Pm(0.08, 's')).neg().exp().mul(Vi(x).sum().add(Vj(x).sum()).add(1));
        const slots = collectVariables(f.node);
        for (const k of [1, 2, 3, 4, 5, 7, 10]) {
          const b = vectors(k, n, 7 * k + n);
          for (const parallel of [false, true]) {
            const got = await reduceKernel(f.node, slots, n, n, b, { dtype, parallel, symmetric: true });
            for (let r = 0; r < k; r++) {
              const err = relErr(got[r]!, reference(f, n, b[r]!));
              expect(err, `columns ${k}, column ${r}, parallel ${parallel}`).toBeLessThan(dtype === 'float64' ? 1e-13 : 2e-6);
            }
          }
        }
      });
    }
  }

  it('an infinite diagonal (1/|x − y|) gives the same ±∞/NaN pattern as the full product', async () => {
    const n = 37;
    const x = points(n, 2, 3);
    const f = Vi(x).sub(Vj(x)).norm2().inv();
    const slots = collectVariables(f.node);
    const b = vectors(1, n, 4)[0]!;
    b[5] = 0; // ∞·0 = NaN on row 5, +∞/−∞ elsewhere
    for (const dtype of ['float64', 'float32'] as const) {
      const [full] = await reduceKernel(f.node, slots, n, n, [b], { dtype, parallel: false });
      const [sym] = await reduceKernel(f.node, slots, n, n, [b], { dtype, parallel: false, symmetric: true });
      expect(Array.from(sym!, String)).toEqual(Array.from(full!, String));
      // staged columns (more than 4): the mirrored lanes leave the diagonal out there too
      const six = [b, ...vectors(5, n, 9)];
      const fullSix = await reduceKernel(f.node, slots, n, n, six, { dtype, parallel: false });
      const symSix = await reduceKernel(f.node, slots, n, n, six, { dtype, parallel: false, symmetric: true });
      for (let r = 0; r < 6; r++) expect(Array.from(symSix[r]!, (v) => (Number.isFinite(v) ? 'finite' : String(v)))).toEqual(Array.from(fullSix[r]!, (v) => (Number.isFinite(v) ? 'finite' : String(v))));
    }
  });
});

describe('a symmetric product rounds the same before and after the pool starts', () => {
  // The mirrors are added range by range: the split into ranges is fixed by the thread count (mirrorTasks, and the
  // stored K's mirror slots), so the calling thread, running the ranges in order while the pool is not up, gives the
  // pool's bits. With 1 range then 2, the same product differed in its last bits from one process to another.
  it('symbolic (mirrored) and stored (packed) products, 1 and 6 columns, float64 and float32', async () => {
    const { gaussianKernel } = await import('../../src/operators/kernels.js');
    const { setCpuThreads, shutdownCpuPool, startCpuPool, poolReady, poolThreads } = await import('../../src/cpu/pool.js');
    const threadsBefore = poolThreads();
    await shutdownCpuPool();
    await setCpuThreads(2);
    try {
      const n = 1100; // 1.2e6 pairs: on the calling thread until the pool runs (MIN_PAIRS_FOR_POOL ≤ n² ≤ MAX_PAIRS_WHILE_POOL_STARTS)
      const x = { data: Float64Array.from(points(n, 3, 17).flat()), rows: n, cols: 3 };
      const products = async () => {
        const out: Float64Array[] = [];
        for (const dtype of ['float64', 'float32'] as const) {
          for (const denseCache of ['never', 'always'] as const) {
            const K = gaussianKernel(x, { sigma: 0.4, dtype, denseCache, backend: 'cpu' });
            const [b] = vectors(1, n, 5);
            out.push(Float64Array.from(await K.matvec(b!)));
            const B = vectors(6, n, 6);
            const Y = await K.matmat(Array.from({ length: n }, (_, i) => B.map((c) => c[i]!)));
            out.push(Float64Array.from(Y.to1DArray()));
            await K.dispose();
          }
        }
        return out;
      };
      await shutdownCpuPool();
      expect(poolReady()).toBe(false);
      const solo = await products();
      await startCpuPool();
      expect(poolReady()).toBe(true);
      const pooled = await products();
      solo.forEach((s, c) => {
        const p = pooled[c]!;
        let same = 0;
        for (let i = 0; i < s.length; i++) if (Object.is(s[i], p[i])) same++;
        expect(same, `product ${c}`).toBe(s.length);
      });
    } finally {
      await setCpuThreads(threadsBefore);
    }
  });
});
