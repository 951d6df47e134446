/**
 * norm2 without spurious overflow or underflow (issue 16, item 6): products of formulas using norm2 on points whose
 * squared components leave the format's range while the norm does not (float32: 1e20–1e30 and 1e-25; float64:
 * 1e160–1e300 and 1e-170), at small d (unrolled code) and d beyond UNROLL_MAX_DIM (loops), on the CPU (WASM SIMD) in
 * both precisions and on the GPU adapter (WGSL). The GPU's chunked mode detects the overflow instead and refuses.
 * References: plain float64 JavaScript with Math.hypot over the (float32-rounded) points, not the JS twin.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Vi, Vj, kernelOperator, type KernelOptions } from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { applyReduce } from '../../src/formula/scalar-ops.js';
import { compileScalarJs } from '../../src/formula/emit-js.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const [N, M] = [5, 7];

/** Points of magnitude ≈ scale, exactly representable in float32 when `f32`. */
function points(seed: number, rows: number, d: number, scale: number, f32: boolean): number[][] {
  const round = f32 ? Math.fround : (v: number) => v;
  return seededPoints(seed, rows, d, { lo: -1 }).map((p) => p.map((v) => round(round(v) * scale)));
}

const dist = (a: readonly number[], b: readonly number[]) => Math.hypot(...a.map((v, k) => v - b[k]!));
const norm = (a: readonly number[]) => Math.hypot(...a);

interface Case {
  readonly name: string;
  readonly formula: string;
  /** K_ij from the points, the norm's scale s bound as a parameter. */
  readonly k: (x: readonly number[], y: readonly number[], s: number) => number;
}
const CASES: Case[] = [
  { name: 'atan2(norm2(x - y), s)', formula: 'atan2(norm2(x - y), s)', k: (x, y, s) => Math.atan2(dist(x, y), s) },
  { name: 'exp(-norm2(x - y) / s)', formula: 'exp(-norm2(x - y) / s)', k: (x, y, s) => Math.exp(-dist(x, y) / s) },
  { name: 'norm2(x) / norm2(y)', formula: 'norm2(x) / norm2(y)', k: (x, y) => norm(x) / norm(y) },
];

/** The product K·b against the reference, relative to Σ_j |K_ij b_j|. */
async function checkProduct(c: Case, d: number, scale: number, options: KernelOptions, tol: number): Promise<void> {
  const f32 = options.dtype === 'float32';
  const [xs, ys] = [points(3 + d, N, d, scale, f32), points(5 + d, M, d, scale, f32)];
  const s = scale * Math.sqrt(d) * 0.8; // so the kernel's values are far from its limits
  const b = seededVector(11, M);
  const K = kernelOperator(c.formula, { x: Vi(xs), y: Vj(ys), ...(/\bs\b/.test(c.formula) ? { s } : {}) }, options);
  const got = await K.matvec(b);
  for (let i = 0; i < N; i++) {
    let want = 0;
    let mag = 0;
    for (let j = 0; j < M; j++) {
      const t = c.k(xs[i]!, ys[j]!, s) * b[j]!;
      want += t;
      mag += Math.abs(t);
    }
    expect(Math.abs(got[i]! - want) / mag, `${c.name}, d = ${d}, scale ${scale}, row ${i}: got ${got[i]}, want ${want}`).toBeLessThan(tol);
  }
}

const CPU64: KernelOptions = { backend: 'cpu', dtype: 'float64', denseCache: 'never' };
const CPU32: KernelOptions = { backend: 'cpu', dtype: 'float32', denseCache: 'never' };

describe('norm2 near the ends of the range: CPU (WASM SIMD)', () => {
  for (const d of [3, 40]) {
    for (const scale of [1e160, 1e300, 1e-170]) {
      it(`float64, d = ${d}, points ≈ ${scale}`, async () => {
        for (const c of CASES) await checkProduct(c, d, scale, CPU64, 1e-13);
      });
    }
    for (const scale of [1e20, 1e30, 1e-25]) {
      it(`float32, d = ${d}, points ≈ ${scale}`, async () => {
        for (const c of CASES) await checkProduct(c, d, scale, CPU32, 1e-5);
      });
    }
  }

  it('a difference that overflows gives +∞, and a norm above the largest double gives +∞, never NaN', async () => {
    // x − y = ±∞ in a component (finite points), and ‖x − y‖ = 2·10³⁰⁸ > 1.8·10³⁰⁸ with finite squares' inputs
    for (const d of [3, 40]) {
      const xs = [Array.from({ length: d }, (_, k) => (k === 0 ? 1.5e308 : 1)), Array.from({ length: d }, () => 1.2e308)];
      const ys = [Array.from({ length: d }, (_, k) => (k === 0 ? -1.5e308 : 0)), Array.from({ length: d }, (_, k) => (k < 4 ? 0 : 1.2e308))];
      const K = kernelOperator('norm2(x - y)', { x: Vi(xs), y: Vj(ys) }, { ...CPU64, symmetric: false });
      const dense = await K.toDense();
      expect(dense.get(0, 0), `d = ${d}`).toBe(Infinity);
      expect(dense.get(1, 1), `d = ${d}`).toBe(Infinity);
      for (const [i, j] of [[0, 1], [1, 0]] as const) {
        const want = dist(xs[i]!, ys[j]!);
        const got = dense.get(i, j);
        expect(want === Infinity ? got === Infinity : Math.abs(got / want - 1) < 1e-15, `d = ${d}, (${i}, ${j}): ${got} vs ${want}`).toBe(true);
      }
      // a NaN component (∞·0) beside overflowing squares: NaN
      const [big, zeroAt1] = [Array.from({ length: d }, (_, k) => (k === 1 ? 1e200 : 1)), Array.from({ length: d }, (_, k) => (k === 1 ? 0 : 1))];
      const nan = kernelOperator('norm2(x * y * z)', { x: Vi([Array.from({ length: d }, () => 1e200)]), y: Vj([big, big]), z: Vj([zeroAt1, big]) }, CPU64);
      const row = (await nan.toDense()).getRow(0);
      expect(row[0], `d = ${d}`).toBeNaN();
      expect(row[1], `d = ${d}`).toBe(Infinity);
      // exp(−‖·‖/σ) of the overflowing difference: 0, not NaN
      const L = kernelOperator('exp(-norm2(x - y) / s)', { x: Vi(xs), y: Vj(ys), s: 1e300 }, { ...CPU64, symmetric: false });
      expect(Array.from((await L.toDense()).getRow(0))).toEqual([0, 0]);
    }
  });

  it('zero distances stay 0, and the norm of equal points in an all-tiny set is exact', async () => {
    for (const d of [3, 40]) {
      const xs = points(7, 3, d, 1e-170, false);
      const K = kernelOperator('norm2(x - y)', { x: Vi(xs), y: Vj(xs) }, CPU64);
      const dense = await K.toDense();
      for (let i = 0; i < 3; i++) {
        expect(dense.get(i, i)).toBe(0);
        for (let j = 0; j < 3; j++) if (i !== j) expect(Math.abs(dense.get(i, j) / dist(xs[i]!, xs[j]!) - 1)).toBeLessThan(1e-14);
      }
    }
  });
});

describe('norm2 near the ends of the range: the JS twin and constant folding', () => {
  it('applyReduce and the compiled JS kernel match Math.hypot; ∞ → +∞, NaN → NaN, zeros → 0', () => {
    for (const v of [[3e300, 4e300], [3e-170, 4e-170], Array.from({ length: 40 }, (_, k) => (k + 1) * 1e200)]) {
      expect(applyReduce('norm2', v) / Math.hypot(...v) - 1).toBeLessThan(1e-15);
    }
    expect(applyReduce('norm2', [Infinity, 1])).toBe(Infinity);
    expect(applyReduce('norm2', [NaN, 1e300])).toBeNaN();
    expect(applyReduce('norm2', [Infinity, NaN])).toBeNaN();
    expect(applyReduce('norm2', [0, 0, 0])).toBe(0);
    expect(applyReduce('norm2', [1.5e308, 1.5e308])).toBe(Infinity);
    for (const d of [3, 40]) {
      for (const scale of [1e300, 1e-170]) {
        const [xs, ys] = [points(1, 2, d, scale, false), points(2, 3, d, scale, false)];
        const k = compileScalarJs(Vi(xs).sub(Vj(ys)).norm2().node);
        for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(Math.abs(k(i, j) / dist(xs[i]!, ys[j]!) - 1)).toBeLessThan(1e-14);
      }
      const inf = compileScalarJs(Vi([Array.from({ length: d }, () => 1.5e308)]).sub(Vj([Array.from({ length: d }, () => -1.5e308)])).norm2().node);
      expect(inf(0, 0)).toBe(Infinity);
      const zero = compileScalarJs(Vi([Array.from({ length: d }, () => 2)]).sub(Vj([Array.from({ length: d }, () => 2)])).norm2().node);
      expect(zero(0, 0)).toBe(0);
      // component 1 is ∞·0 = NaN, the others 1e200 (their squares overflow)
      const [big, zeroAt1] = [Array.from({ length: d }, (_, k) => (k === 1 ? 1e200 : 1)), Array.from({ length: d }, (_, k) => (k === 1 ? 0 : 1))];
      const nan = compileScalarJs(Vi([Array.from({ length: d }, () => 1e200)]).mul(Vj([big])).mul(Vj([zeroAt1])).norm2().node);
      expect(nan(0, 0)).toBeNaN();
    }
  });
});

describe.runIf(hasGpu)('norm2 near the ends of the range: GPU (WGSL)', () => {
  const GPU: KernelOptions = { backend: 'gpu', dtype: 'float32' };
  it('d = 3 (unrolled), points ≈ 1e20, 1e30 and 1e-25', async () => {
    for (const scale of [1e20, 1e30, 1e-25]) for (const c of CASES) await checkProduct(c, 3, scale, GPU, 2e-5);
  });

  it('d = 40 in a loop per pair (dimensionChunk 0), points ≈ 1e25 and 1e-25', async () => {
    for (const scale of [1e25, 1e-25]) for (const c of CASES) await checkProduct(c, 40, scale, { ...GPU, gpu: { dimensionChunk: 0 } }, 2e-5);
  });

  it('d = 40 in the chunked mode: a sum of squares that overflows is refused with a RangeError naming the row', async () => {
    for (const c of CASES.slice(0, 2)) {
      await expect(checkProduct(c, 40, 1e25, GPU, 2e-5), c.name).rejects.toThrow(/float32 product is NaN at row 0 where float64 gives/);
    }
    // in range, the same program is right
    await checkProduct(CASES[1]!, 40, 1, GPU, 2e-5);
  });
});
