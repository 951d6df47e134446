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
