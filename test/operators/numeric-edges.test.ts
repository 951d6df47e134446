/**
 * Numeric edge cases that once came back as NaN or ±Infinity without a word (issue 16, item 6): bandwidths whose
 * square under- or overflows, vectors beyond float32's range or below its normal numbers, points a float32
 * operator cannot hold. Each either computes the right products — checked against closed forms evaluated here
 * in float64 — or is refused with a message naming the value and where it is. On the CPU in float64 and float32,
 * and on the GPU adapter of this machine (Dawn on llvmpipe in CI).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import {
  Vi, Vj, cauchyKernel, gaussianKernel, kernelOperator, laplacianKernel, maternKernel, type KernelOperator, type KernelOptions, type PointsLike,
} from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { relativeError } from '../conformance.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { matchExpandedGaussian } from '../../src/gpu/wgsl-emit.js';
import { collectVariables } from '../../src/formula/analyze.js';

afterAll(async () => {
  await shutdownCpuPool();
});

type Target = { name: string; options: KernelOptions; tol: number };
const TARGETS: Target[] = [
  { name: 'cpu float64', options: { backend: 'cpu', dtype: 'float64', denseCache: 'never' }, tol: 1e-13 },
  { name: 'cpu float32', options: { backend: 'cpu', dtype: 'float32', denseCache: 'never' }, tol: 1e-6 },
  ...(hasGpu ? [{ name: 'gpu float32', options: { backend: 'gpu', dtype: 'float32' } as KernelOptions, tol: 1e-6 }] : []),
];

type Kfn = (r: number) => number; // of r/σ
const KERNELS: { name: string; make: (x: PointsLike, o: KernelOptions & { sigma: number }) => KernelOperator; k: Kfn }[] = [
  { name: 'gaussian', make: gaussianKernel, k: (r) => Math.exp(-(r * r) / 2) },
  { name: 'laplacian', make: laplacianKernel, k: (r) => Math.exp(-r) },
  { name: 'matern ν=0.5', make: (x, o) => maternKernel(x, { ...o, nu: 0.5 }), k: (r) => Math.exp(-r) },
  { name: 'matern ν=1.5', make: (x, o) => maternKernel(x, { ...o, nu: 1.5 }), k: (r) => (1 + Math.sqrt(3) * r) * Math.exp(-Math.sqrt(3) * r) },
  {
    name: 'matern ν=2.5', make: (x, o) => maternKernel(x, { ...o, nu: 2.5 }),
    k: (r) => (1 + Math.sqrt(5) * r + (5 * r * r) / 3) * Math.exp(-Math.sqrt(5) * r),
  },
  { name: 'cauchy', make: cauchyKernel, k: (r) => 1 / (1 + r * r) },
];

/** Distinct points in [0, 1]² (exact in float32) and a vector. */
const P = [[0, 0], [1, 0], [0, 1], [0.5, 0.5], [0.25, 0.75]];
const v = [1, -2, 3, 0.5, -1.5];

/** K·v in float64 from the closed form of r/σ. */
function closed(k: Kfn, X: number[][], sigma: number, w: readonly number[]): Float64Array {
  return Float64Array.from(X, (a) => X.reduce((s, b, j) => s + k(Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!) / sigma) * w[j]!, 0));
}

describe.each(TARGETS)('$name', ({ options, tol }) => {
  // σ² underflows (float64: σ = 1e-200; float32 products: σ = 1e-30), so r²/σ² was 0/0 on the diagonal
  const tiny = options.dtype === 'float64' ? 1e-200 : 1e-30;

  it.each(KERNELS)('$name with a σ whose square underflows is the identity: products, diagonal() and toDense()', async ({ make }) => {
    const K = make(P, { ...options, sigma: tiny });
    expect(relativeError(await K.matvec(v), v)).toBeLessThanOrEqual(tol);
    const B = await K.matmat(new Matrix([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]));
    expect(relativeError(B.to1DArray(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBeLessThanOrEqual(tol);
    expect(Array.from(await K.diagonal())).toEqual([1, 1, 1, 1, 1]);
    const D = await K.toDense();
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(Math.abs(D.get(i, j) - (i === j ? 1 : 0))).toBeLessThanOrEqual(1e-50);
  });

  it.each(KERNELS)('$name of points at the scale of that σ equals the kernel of unit points at σ = 1', async ({ make, k }) => {
    const K = make(P.map((p) => p.map((c) => c * tiny)), { ...options, sigma: tiny });
    const want = closed(k, P, 1, v);
    expect(relativeError(await K.matvec(v), want)).toBeLessThanOrEqual(tol * 10);
    expect(Array.from(await K.diagonal())).toEqual([1, 1, 1, 1, 1]);
  });

  it('a huge σ (σ² overflows) gives the all-ones kernel, not NaN', async () => {
    const K = gaussianKernel(P, { ...options, sigma: 1e200 });
    expect(relativeError(await K.matvec(v), new Float64Array(5).fill(v.reduce((s, x) => s + x, 0)))).toBeLessThanOrEqual(tol);
  });

  it('vectors beyond float32 (1e39) or below its normal numbers (1e-45) give the scaled products', async () => {
    const K = gaussianKernel(P, { ...options, sigma: 0.7 });
    const want = closed((r) => Math.exp(-(r * r) / 2), P, 0.7, v);
    for (const scale of [1e39, 1e-45, 1e300, 1e-310]) {
      const got = await K.matvec(v.map((x) => x * scale));
      expect(relativeError(got.map((y) => y / scale), want), `scale ${scale}`).toBeLessThanOrEqual(tol * 10);
      const G = await K.matmat(Matrix.columnVector(v.map((x) => x * scale)));
      expect(relativeError(G.getColumn(0).map((y) => y / scale), want), `matmat, scale ${scale}`).toBeLessThanOrEqual(tol * 10);
    }
    // a column with one huge entry among ordinary ones: the ordinary ones' contributions are below its rounding
    const mixed = await K.matvec([1e39, 1, 1, 1, 1]);
    expect(relativeError(mixed.map((y) => y / 1e39), closed((r) => Math.exp(-(r * r) / 2), P, 0.7, [1, 0, 0, 0, 0]))).toBeLessThanOrEqual(tol * 10);
  });

  it('points far from the origin but close together keep their float32 accuracy (centred before rounding)', async () => {
    const offset = 2 ** 130; // ≈ 1.4e39: beyond float32 itself
    const K = gaussianKernel(P.map((p) => p.map((c) => offset + c * 2 ** 90)), { ...options, sigma: 0.5 * 2 ** 90 });
    expect(relativeError(await K.matvec(v), closed((r) => Math.exp(-(r * r) / 2), P, 0.5, v))).toBeLessThanOrEqual(tol * 10);
  });
});

describe('the scaled form keeps the backends\' fast paths', () => {
  it("the Gaussian is still the GPU's expanded-Gaussian pattern (exp of a constant times |x − y|², x and y bound points)", () => {
    for (const sigma of [1e-30, 0.1, 1e30]) {
      const f = gaussianKernel(P, { sigma, denseCache: 'never' }).formula.node;
      expect(matchExpandedGaussian(f, collectVariables(f))?.scale2).toBeCloseTo(Math.LOG2E / 2, 15);
    }
  });
});

describe('values a float32 operator cannot hold are refused, naming the value and where it is', () => {
  it('a named kernel whose points lie beyond float32 in units of σ from their centre', () => {
    // the entry of largest magnitude is named (both ends lie as far from the midpoint; 0 was named before)
    expect(() => gaussianKernel([[0], [1e39]], { dtype: 'float32', sigma: 1 })).toThrow(
      "gaussianKernel: x at row 1, column 0 (1e+39) lies 5e+38·σ from the centre of the points (5e+38, σ = 1; they span [0, 1e+39] there), beyond float32's range: use dtype 'float64' or a larger σ");
    expect(() => gaussianKernel([[0.1, -0.99], [0.2, 0.3], [0.5, 0.1], [0.7, 0.8], [0.3, 1e39]], { dtype: 'float32' })).toThrow(/x at row 4, column 1 \(1e\+39\)/);
    expect(() => laplacianKernel([[0, 0]], { y: [[0, 0], [0, 1e-10]], dtype: 'float32', sigma: 1e-49 })).toThrow(/laplacianKernel: x at row 0, column 1 .* beyond float32's range/);
    // the same points in float64, or with a larger σ, are fine
    expect(gaussianKernel([[0], [1e39]], { dtype: 'float64', sigma: 1 }).dtype).toBe('float64');
    expect(gaussianKernel([[0], [1e39]], { dtype: 'float32', sigma: 1e10 }).dtype).toBe('float32');
  });

  it('a formula whose points or parameters are beyond float32', async () => {
    const far = [[0], [1e39]];
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(far), y: Vj([[0]]) }, { dtype: 'float32' })).toThrow(
      "kernelOperator: x at row 1, column 0 is 1e+39, beyond float32's range (|v| ≤ 3.4028234663852886e+38); use dtype 'float64'");
    expect(() => kernelOperator('exp(-g * sqnorm2(x - y))', { x: Vi([[0]]), y: Vj([[1]]), g: -4e38 }, { dtype: 'float32' })).toThrow(
      "kernelOperator: parameter g is -4e+38, beyond float32's range");
    const K = kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(far), y: Vj([[0]]) }, { dtype: 'float64' });
    expect(Array.from(await K.matvec([2]))).toEqual([2, 0]);
  });
});

describe('options an operator would not read are refused by name', () => {
  it("'gpu' on a float64 operator (it never runs on the GPU: the options were dead)", () => {
    const P = [[0, 1], [1, 0], [0.5, 0.5]];
    expect(() => gaussianKernel(P, { dtype: 'float64', gpu: { compensated: true } })).toThrow(
      "gaussianKernel: option 'gpu' tunes the GPU's products; a float64 operator runs on the CPU and does not use it");
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj(P) }, { dtype: 'float64', gpu: { tile: 64 } })).toThrow(/kernelOperator: option 'gpu' tunes/);
  });
});

