/**
 * Falkon's dmmv / mm and kermac's cdist / kernel descriptors (issue 19, items 4 and 5), against brute force in float64
 * written here with plain loops, on the CPU (float64 and float32) and the GPU (float32, the llvmpipe adapter in CI).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import {
  KernelOperator, Vi, Vj, cdist, dmmv, gaussianKernel, kernelOperator, mm,
} from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { seededBlock, seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const x = seededPoints(31, 23, 3, { lo: -1, hi: 1, float32: true });
const y = seededPoints(32, 17, 3, { lo: -1, hi: 1, float32: true });

/** (Σ_k |a_k − b_k|^p)^(1/p), or the sum alone. */
function pdist(a: number[], b: number[], p: number, root = true): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += Math.abs(a[k]! - b[k]!) ** p;
  return root ? s ** (1 / p) : s;
}
function brute(f: (a: number[], b: number[]) => number, A: number[][], B: number[][]): Matrix {
  return new Matrix(A.map((a) => B.map((b) => f(a, b))));
}
function maxRelErr(got: Matrix, want: Matrix): number {
  let worst = 0;
  const scale = Math.max(...want.to1DArray().map(Math.abs));
  for (let i = 0; i < want.rows; i++) for (let j = 0; j < want.columns; j++) worst = Math.max(worst, Math.abs(got.get(i, j) - want.get(i, j)) / scale);
  return worst;
}
const gauss = (a: number[], b: number[]) => Math.exp(-pdist(a, b, 2, false) / (2 * 0.5 ** 2));

describe('dmmv = Kᵀ(K v + w)', () => {
  const K = gaussianKernel(x, { y, sigma: 0.5 });
  const D = brute(gauss, x, y);

  it('a vector v, with and without w, equals the dense Kᵀ(Kv + w)', async () => {
    const v = seededVector(1, 17);
    const w = seededVector(2, 23);
    const want = D.transpose().mmul(D.mmul(Matrix.columnVector(Array.from(v))).add(Matrix.columnVector(Array.from(w)))).getColumn(0);
    const got = await dmmv(K, v, w);
    expect(got).toBeInstanceOf(Float64Array);
    got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThan(1e-12 * Math.max(...want.map(Math.abs))));
    const noW = D.transpose().mmul(D.mmul(Matrix.columnVector(Array.from(v)))).getColumn(0);
    (await dmmv(K, v)).forEach((g, i) => expect(Math.abs(g - noW[i]!)).toBeLessThan(1e-12 * Math.max(...noW.map(Math.abs))));
  });

  it('a block v (n×k) with a block w, and K is never stored however many calls', async () => {
    const V = seededBlock(3, 17, 4);
    const W = seededBlock(4, 23, 4);
    const want = D.transpose().mmul(D.mmul(V).add(W));
    for (let t = 0; t < 4; t++) expect(maxRelErr(await dmmv(K, V, W), want)).toBeLessThan(1e-12);
    expect(K.isDenseCached).toBe(false);
    expect(K.uncached().isDenseCached).toBe(false);
    expect(K.uncached()).toBe(K.uncached());
  });

  it('refuses mismatched w', async () => {
    await expect(dmmv(K, seededVector(1, 17), seededVector(2, 5))).rejects.toThrow(/length/);
    await expect(dmmv(K, seededBlock(1, 17, 2), seededBlock(2, 23, 3))).rejects.toThrow(/w has 3 columns but v has 2/);
  });
});

describe('mm and the toDense guard', () => {
  it('mm(K) is the dense kernel block (float64 on all cores) for any dtype', async () => {
    const want = brute(gauss, x, y);
    expect(maxRelErr(await mm(gaussianKernel(x, { y, sigma: 0.5 })), want)).toBeLessThan(1e-14);
    expect(maxRelErr(await mm(gaussianKernel(x, { y, sigma: 0.5, dtype: 'float32' })), want)).toBeLessThan(1e-14);
  });

  it('refuses beyond maxBytes, naming the size', async () => {
    const K = gaussianKernel(x, { y });
    await expect(mm(K, { maxBytes: 1000 })).rejects.toThrow(/dense 23x17 matrix .* takes 3128 bytes .* beyond maxBytes = 1000/);
    await expect(K.toDense({ maxBytes: 1000 })).rejects.toThrow(/toDense: the dense 23x17 matrix/);
    await expect(mm(K, { maxbytes: 1 } as never)).rejects.toThrow(/maxbytes/);
  });
});

const BACKENDS = [
  { backend: 'cpu' as const, dtype: 'float64' as const, tol: 1e-14 },
  { backend: 'cpu' as const, dtype: 'float32' as const, tol: 1e-7 },
  ...(hasGpu ? [{ backend: 'gpu' as const, dtype: 'float32' as const, tol: 2e-6 }] : []),
];

describe.each(BACKENDS)('cdist on $backend $dtype', ({ backend, dtype, tol }) => {
  for (const p of [1, 2, 1.3, 0.5, 3]) {
    it(`p = ${p}, with and without the epilogue`, async () => {
      expect(maxRelErr(await cdist(x, y, { p, backend, dtype }), brute((a, b) => pdist(a, b, p), x, y))).toBeLessThan(tol * 4);
      expect(maxRelErr(await cdist(x, y, { p, backend, dtype, skipEpilogue: true }), brute((a, b) => pdist(a, b, p, false), x, y))).toBeLessThan(tol * 4);
    });
  }

  it('y omitted is cdist(x, x): zero diagonal, symmetric', async () => {
    const D = await cdist(x, undefined, { backend, dtype });
    for (let i = 0; i < x.length; i++) expect(D.get(i, i)).toBe(0);
    expect(maxRelErr(D, D.transpose())).toBe(0);
  });

  it('a Laplace and a Gaussian descriptor equal their brute-force kernels', async () => {
    const lap = kernelOperator({ innerP: 1, epilogue: 'laplace', bandwidth: 0.7 }, x, { y, backend, dtype });
    const wantLap = brute((a, b) => Math.exp(-pdist(a, b, 1) / 0.7), x, y);
    const v = seededVector(9, 17);
    const want = wantLap.mmul(Matrix.columnVector(Array.from(v))).getColumn(0);
    const got = await lap.matvec(v);
    got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThan(tol * 10 * 17));
    const gau = kernelOperator({ innerP: 1.5, outerP: 1.5, epilogue: 'gaussian', bandwidth: 0.4 }, x, { y, backend, dtype });
    const wantG = brute((a, b) => Math.exp(-(pdist(a, b, 1.5) ** 2) / (2 * 0.4 ** 2)), x, y);
    const gotG = await gau.matvec(v);
    const wG = wantG.mmul(Matrix.columnVector(Array.from(v))).getColumn(0);
    gotG.forEach((g, i) => expect(Math.abs(g - wG[i]!)).toBeLessThan(tol * 10 * 17));
  });
});

describe('cdist and descriptors: contract', () => {
  it('p = ∞ and p ≤ 0 are refused by name; the size guard names the size', async () => {
    await expect(cdist(x, y, { p: Infinity })).rejects.toThrow(/Infinity .* not supported/);
    await expect(cdist(x, y, { p: 0 })).rejects.toThrow(/p/);
    await expect(cdist(x, y, { maxBytes: 100 })).rejects.toThrow(/cdist: the dense 23x17 matrix .* 3128 bytes/);
    await expect(cdist(x, y, { q: 2 } as never)).rejects.toThrow(/q/);
  });

  it('a descriptor on one point set is symmetric (structurally) and solves; the same as the formula it stands for', async () => {
    const K = kernelOperator({ innerP: 2, epilogue: 'gaussian', bandwidth: 0.5 }, x);
    expect(K).toBeInstanceOf(KernelOperator);
    expect(K.symmetric).toBe(true);
    const F = Vi(x).sub(Vj(x)).sqnorm2().div(2 * 0.5 ** 2).neg().exp();
    const b = seededVector(5, 23);
    const [a1, a2] = [await K.solve(b, 1e-2), await F.solve(b, 1e-2)];
    a1.forEach((v, i) => expect(Math.abs(v - a2[i]!)).toBeLessThan(1e-6 * Math.max(...a2.map(Math.abs))));
    expect(() => kernelOperator({ innerP: 2, epilogue: 'cauchy' } as never, x)).toThrow(/epilogue/);
  });

  it('distances of far-apart points within float64 come out finite (the powers overflowed: ∞ was returned as right)', async () => {
    // (3e159, 0) and (0, 1): the distance 3e159 is a float64, its square is not
    const far = [[3e159, 0], [0, 1], [1, 1]];
    const D = await cdist(far);
    expect(D.get(0, 1)).toBeCloseTo(3e159, -146);
    expect(D.get(1, 2)).toBe(1);
    // p = 3 at 1e103: Σ|t|³ ≈ 1e309 overflows, the 3-norm does not
    const D3 = await cdist([[1e103, 0], [0, 1]], undefined, { p: 3 });
    expect(D3.get(0, 1) / 1e103).toBeCloseTo(1, 14);
    // without the root the value itself is beyond float64: ∞ is right there
    expect((await cdist(far, undefined, { skipEpilogue: true })).get(0, 1)).toBe(Infinity);
    // the Euclidean descriptor's products too; a descriptor whose power sum can overflow under its root is refused
    const E = kernelOperator({ innerP: 2, epilogue: 'none' }, [[1e200, 0], [0, 1]], { backend: 'cpu' });
    expect(Array.from(await E.matvec([1, 1]))).toEqual([1e200, 1e200]);
    expect(() => kernelOperator({ innerP: 3, epilogue: 'none' }, [[1e103, 0], [0, 1]])).toThrow(/Σ\|x_k − y_k\|\^3 can exceed float64's range for points with coordinates up to 1\.000e\+103 \(d = 2\)/);
    expect(kernelOperator({ innerP: 3, epilogue: 'none' }, [[1e50, 0], [0, 1]])).toBeInstanceOf(KernelOperator);
  });
});
