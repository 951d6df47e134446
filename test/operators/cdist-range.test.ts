/**
 * cdist and kernel descriptors where |x_k − y_k|^p leaves the format's range while the distance does not: points
 * 2^−1000 … 2^997 apart (float64) and 2^−120 … 2^120 apart (float32, CPU and the GPU), p ∈ {0.5, 1, 1.5, 2, 3, 4},
 * against a plain float64 loop written here (the components divided by the largest, so the reference itself never
 * under- or overflows). The point sets mix the scale s with points at distance ≈ 1, so no single rescaling of the
 * points can bring every pair into range.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { KernelOperator, cdist, kernelOperator } from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { seededPoints } from '../random-data.js';

afterAll(async () => {
  await shutdownCpuPool();
});

/** (Σ_k |a_k − b_k|^p)^(1/q) in float64 as m^(p/q)·(Σ_k (|a_k − b_k|/m)^p)^(1/q), m = max_k |a_k − b_k|. */
function reference(a: readonly number[], b: readonly number[], p: number, q = p): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  if (m === 0) return 0;
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (Math.abs(a[k]! - b[k]!) / m) ** p;
  return m ** (p / q) * s ** (1 / q);
}

function expectClose(got: Matrix, want: (i: number, j: number) => number, rtol: number, what: string): void {
  for (let i = 0; i < got.rows; i++) {
    for (let j = 0; j < got.columns; j++) {
      const [g, w] = [got.get(i, j), want(i, j)];
      if (w === 0) expect(g, `${what} (${i}, ${j})`).toBe(0);
      else expect(Math.abs(g - w) / Math.abs(w), `${what} (${i}, ${j}): got ${g}, want ${w}`).toBeLessThan(rtol);
    }
  }
}

/** K's entries by its products with the identity (the backend's product path, not the dense cache's float64 evaluation). */
const byProducts = (K: KernelOperator): Promise<Matrix> => K.matmat(Matrix.eye(K.shape[1]));

/** Points at 0, s apart along one and two axes, and a point at distance ≈ 1 (exact powers of two: no rounding). */
const pointsAt = (s: number): number[][] => [[0, 0], [s, 0], [s, s], [1, 1], [0, s]];
const others = (s: number): number[][] => [[s, s], [0, 0], [1, 0]];

const PS = [0.5, 1, 1.5, 2, 3, 4];
// The generated pow, 2^(b·log₂ a), is accurate to about |b·log₂ a| ulps (up to ~1000 at 2^−1000 in float64, ~200 at
// 2^±120 in float32): the tolerances are those, not the ordinary 1e-14 / 2e-6.
const CASES = [
  { backend: 'cpu' as const, dtype: 'float64' as const, exponents: [-1000, -800, -365, -265, -100, 0, 100, 400, 700, 997], rtol: 2e-13 },
  { backend: 'cpu' as const, dtype: 'float32' as const, exponents: [-120, -100, -60, -30, 0, 30, 60, 100, 120], rtol: 2e-5 },
  ...(hasGpu ? [{ backend: 'gpu' as const, dtype: 'float32' as const, exponents: [-120, -100, -60, -30, 0, 30, 60, 100, 120], rtol: 2e-5 }] : []),
];

describe.each(CASES)('distances at extreme scales on $backend $dtype', ({ backend, dtype, exponents, rtol }) => {
  for (const p of PS) {
    it(`cdist p = ${p}, s = 2^${exponents[0]} … 2^${exponents.at(-1)}`, async () => {
      for (const e of exponents) {
        const s = 2 ** e;
        const [x, y] = [pointsAt(s), others(s)];
        expectClose(await cdist(x, y, { p, backend, dtype }), (i, j) => reference(x[i]!, y[j]!, p), rtol, `p = ${p}, s = 2^${e}`);
        expectClose(await cdist(x, undefined, { p, backend, dtype }), (i, j) => reference(x[i]!, x[j]!, p), rtol, `p = ${p}, s = 2^${e}, y = x`);
      }
    });

    it(`descriptors innerP = ${p} ('none', 'laplace' and 'gaussian' with bandwidth s)`, async () => {
      for (const e of exponents) {
        const s = 2 ** e;
        const [x, y] = [pointsAt(s), others(s)];
        const dense = (descriptor: object) => byProducts(kernelOperator({ innerP: p, ...descriptor } as never, x, { y, backend, dtype }));
        const r = (i: number, j: number) => reference(x[i]!, y[j]!, p);
        if (dtype === 'float64' && p > 1 && p !== 2 && p * (e + 1) > 1023) {
          // Σ|t_k|^p beyond float64 under a root: still refused by name (refuseHiddenOverflow), never a wrong value
          expect(() => kernelOperator({ innerP: p, epilogue: 'none' }, x, { y, backend, dtype })).toThrow(/can exceed float64's range/);
        } else {
          expectClose(await dense({ epilogue: 'none' }), r, rtol, `none, s = 2^${e}`);
        }
        expectClose(await dense({ epilogue: 'laplace', bandwidth: s }), (i, j) => Math.exp(-r(i, j) / s), rtol * 4, `laplace, s = 2^${e}`);
        expectClose(await dense({ epilogue: 'gaussian', bandwidth: s }), (i, j) => Math.exp(-((r(i, j) / s) ** 2) / 2), rtol * 4, `gaussian, s = 2^${e}`);
      }
    });
  }

  it("a descriptor whose outer root differs (innerP = 3, outerP = 2, 'none') at small scales", async () => {
    for (const e of exponents.filter((v) => v <= 0 && (dtype === 'float64' || v >= -80))) {
      const s = 2 ** e;
      const [x, y] = [pointsAt(s), others(s)];
      const K = kernelOperator({ innerP: 3, outerP: 2, epilogue: 'none' }, x, { y, backend, dtype });
      expectClose(await byProducts(K), (i, j) => reference(x[i]!, y[j]!, 3, 2), rtol, `s = 2^${e}`);
    }
  });
});

describe('the probe that found it (repro_cdist_underflow.mjs)', () => {
  it('CPU float64: p = 3 at 1e-110, p = 1.5 at 1e-250, p = 4 at 1e-80 (a subnormal power sum), a descriptor at 1e-110', async () => {
    expect((await cdist([[0]], [[1e-110]], { p: 3, backend: 'cpu' })).get(0, 0)).toBe(1e-110);
    expect((await cdist([[0]], [[1e-250]], { p: 1.5, backend: 'cpu' })).get(0, 0)).toBe(1e-250);
    const d4 = (await cdist([[0, 0]], [[1e-80, 1e-80]], { p: 4, backend: 'cpu' })).get(0, 0);
    expect(Math.abs(d4 / (1e-80 * 2 ** 0.25) - 1)).toBeLessThan(1e-15);
    const K = kernelOperator({ innerP: 3, epilogue: 'none' }, [[0]], { y: [[1e-110]], backend: 'cpu' });
    expect((await K.toDense()).get(0, 0)).toBe(1e-110);
  });

  it.skipIf(!hasGpu)('GPU: p = 2 at 1e-25 and p = 1.5 at 1e-30', async () => {
    const d2 = (await cdist([[0]], [[1e-25]], { p: 2, backend: 'gpu' })).get(0, 0);
    expect(Math.abs(d2 / Math.fround(1e-25) - 1)).toBeLessThan(1e-6);
    const d15 = (await cdist([[0]], [[1e-30]], { p: 1.5, backend: 'gpu' })).get(0, 0);
    expect(Math.abs(d15 / Math.fround(1e-30) - 1)).toBeLessThan(1e-6);
  });
});

describe('ordinary points keep the plain power sum (the range-safe form costs more)', () => {
  it('p = 3 on points in [0, 1]: no norm2 in the formula; points at 1e-110: the range-safe form', () => {
    const x = seededPoints(3, 50, 3);
    for (const dtype of ['float64', 'float32'] as const) {
      const K = kernelOperator({ innerP: 3, epilogue: 'none' }, x, { backend: 'cpu', dtype });
      expect(String(K.formula), dtype).not.toMatch(/norm2/);
    }
    const tiny = x.map((r) => r.map((v) => v * 1e-110));
    expect(String(kernelOperator({ innerP: 3, epilogue: 'none' }, tiny, { backend: 'cpu' }).formula)).toMatch(/norm2/);
  });
});

describe('descriptor contract', () => {
  it('innerP = Infinity is refused as a descriptor value (it was blamed on the coordinates\' range)', () => {
    expect(() => kernelOperator({ innerP: Infinity, epilogue: 'none' }, [[0, 1], [2, 3]])).toThrow('kernel descriptor: innerP must be a positive finite number, got number Infinity');
  });
  it('a misspelt option is refused by the descriptor kernel\'s own name, its known options listing y', () => {
    // it was kernelOperator's message, whose list of known options left y out (no "did you mean 'y'?")
    expect(() => kernelOperator({ innerP: 2, epilogue: 'gaussian' }, [[0, 1], [2, 3]], { Y: [[1, 1]] } as never))
      .toThrow(/kernelFromDescriptor: unknown option 'Y' in options \(did you mean 'y'\?\).*y/);
  });
});
