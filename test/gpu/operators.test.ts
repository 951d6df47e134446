/**
 * Kernel operators on the GPU backend: the conformance suite (every product path against an
 * independent dense closed form), the named kernels at n = 10⁴ against float64 (the issue's
 * acceptance: relative error ≤ 1e-5), string formulas, matmat widths, odd sizes, transposes,
 * algebra, the Krylov solvers, toString, bad input, and the backend choice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import {
  KernelOperator, Vi, Vj, cauchyKernel, cg, eigsh, gaussianKernel, kernelOperator, laplacianKernel,
  linearKernel, lobpcg, maternKernel, polynomialKernel, type KernelOptions, type PointsLike,
} from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { checkOperatorAgainstDense, relativeError } from '../conformance.js';
import { mulberry32, seededPoints, seededVector } from '../random-data.js';
import { gpu, hasGpu } from './gpu-env.js';

afterAll(async () => {
  await shutdownCpuPool();
});


const points = (seed: number, n: number, d: number) => seededPoints(seed, n, d, { float32: true });

const sq = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, k) => s + (v - b[k]!) ** 2, 0);
const dotp = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, k) => s + v * b[k]!, 0);

type Kfn = (a: readonly number[], b: readonly number[]) => number;
function denseOf(k: Kfn, X: number[][], Y: number[][]): Matrix {
  const M = new Matrix(X.length, Y.length);
  for (let i = 0; i < X.length; i++) for (let j = 0; j < Y.length; j++) M.set(i, j, k(X[i]!, Y[j]!));
  return M;
}

/** Each named kernel, its independent closed form and a builder for any options. */
const KERNELS: [string, (x: PointsLike, o: KernelOptions) => KernelOperator, Kfn][] = [
  ['gaussian σ=0.3', (x, o) => gaussianKernel(x, { ...o, sigma: 0.3 }), (a, b) => Math.exp(-sq(a, b) / (2 * 0.3 ** 2))],
  ['laplacian σ=0.5', (x, o) => laplacianKernel(x, { ...o, sigma: 0.5 }), (a, b) => Math.exp(-Math.sqrt(sq(a, b)) / 0.5)],
  ['matern ν=0.5', (x, o) => maternKernel(x, { ...o, sigma: 0.4, nu: 0.5 }), (a, b) => Math.exp(-Math.sqrt(sq(a, b)) / 0.4)],
  ['matern ν=1.5', (x, o) => maternKernel(x, { ...o, sigma: 0.4, nu: 1.5 }), (a, b) => {
    const t = Math.sqrt(3) * Math.sqrt(sq(a, b)) / 0.4;
    return (1 + t) * Math.exp(-t);
  }],
  ['matern ν=2.5', (x, o) => maternKernel(x, { ...o, sigma: 0.4, nu: 2.5 }), (a, b) => {
    const r2 = sq(a, b);
    const t = Math.sqrt(5) * Math.sqrt(r2) / 0.4;
    return (1 + t + (5 * r2) / (3 * 0.4 ** 2)) * Math.exp(-t);
  }],
  ['cauchy σ=0.5', (x, o) => cauchyKernel(x, { ...o, sigma: 0.5 }), (a, b) => 1 / (1 + sq(a, b) / 0.25)],
  ['polynomial degree 3', (x, o) => polynomialKernel(x, { ...o, degree: 3, gamma: 0.5, coef0: 1 }), (a, b) => (0.5 * dotp(a, b) + 1) ** 3],
  ['linear', (x, o) => linearKernel(x, o), (a, b) => dotp(a, b)],
];

const GPU: KernelOptions = { backend: 'gpu' };
const TOL = 2e-6; // float32 products of O(100) terms

describe.runIf(hasGpu)('named kernels on the GPU: conformance against closed forms', () => {
  const X = points(1, 45, 3);
  const Y = points(2, 31, 3);
  for (const [name, make, k] of KERNELS) {
    it(`${name}: symmetric 45x45 and rectangular 45x31 (transposes, matmat k = 5)`, async () => {
      const S = make(X, GPU);
      expect(S.backend).toBe('gpu');
      expect(S.dtype).toBe('float32');
      await checkOperatorAgainstDense(S, denseOf(k, X, X), { tol: TOL, k: 5 });
      const R = make(X, { ...GPU, y: Y });
      await checkOperatorAgainstDense(R, denseOf(k, X, Y), { tol: TOL, k: 5 });
    });
  }
});

describe.runIf(hasGpu)('acceptance: every named kernel at n = 10⁴ within 1e-5 of float64', () => {
  const n = 10_000;
  const X = points(10, n, 3);
  const b = seededVector(11, n);
  const errors: string[] = [];
  for (const [name, make] of KERNELS) {
    it(name, async () => {
      const t0 = performance.now();
      const got = await make(X, GPU).matvec(b);
      const t1 = performance.now();
      const want = await make(X, { backend: 'cpu', dtype: 'float64' }).matvec(b);
      const err = relativeError(got, want);
      errors.push(`${name}: ${err.toExponential(2)} (GPU product ${(t1 - t0).toFixed(0)} ms, ${(n * n / ((t1 - t0) / 1e3)).toExponential(2)} pairs/s incl. first-use compile)`);
      expect(err, `${name}: relative error ${err}`).toBeLessThanOrEqual(1e-5);
    });
  }
  it('gaussian σ=0.1 in the expanded form (|x̂|² up to 54)', async () => {
    const got = await gaussianKernel(X, { ...GPU, sigma: 0.1, gpu: { expandedGaussian: true } }).matvec(b);
    const want = await gaussianKernel(X, { backend: 'cpu', dtype: 'float64', sigma: 0.1 }).matvec(b);
    const err = relativeError(got, want);
    errors.push(`gaussian σ=0.1, expanded form: ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });
  it('reports (informational)', async () => {
    const K = gaussianKernel(X, { ...GPU, sigma: 0.1 });
    await K.matvec(b);
    const t0 = performance.now();
    for (let r = 0; r < 3; r++) await K.matvec(b);
    const dt = (performance.now() - t0) / 3;
    console.log(`[gpu ${gpu!.adapter.description}] n = ${n}, d = 3:\n${errors.join('\n')}\nGaussian σ=0.1 warm matvec: ${dt.toFixed(1)} ms = ${(n * n / (dt / 1e3)).toExponential(2)} pairs/s`);
    expect(errors).toHaveLength(KERNELS.length + 1);
  });
});

describe.runIf(hasGpu)('GPU operators: formulas, sizes, columns', () => {
  it('consecutive products on one operator (host arrays reused per plan) each match float64, weights of any magnitude', async () => {
    // several row and column blocks (maxBindingBytes), the expanded form (it scales columns of extreme magnitude)
    const X = points(30, 301, 3);
    const K = gaussianKernel(X, { ...GPU, sigma: 0.3, gpu: { expandedGaussian: true, maxBindingBytes: 1024 } });
    const ref = gaussianKernel(X, { backend: 'cpu', dtype: 'float64', sigma: 0.3 });
    for (const [seed, magnitude] of [[31, 1], [32, 2 ** -40], [33, 2 ** 35], [34, 1]] as const) {
      const v = seededVector(seed, 301).map((t) => t * magnitude);
      expect(relativeError(await K.matvec(v), await ref.matvec(v)), `weights ~${magnitude}`).toBeLessThanOrEqual(1e-5);
    }
    const B = new Matrix(301, 2).apply(function (this: Matrix, i: number, j: number) { this.set(i, j, Math.sin(i + 7 * j) * (j ? 2 ** -30 : 1)); });
    for (let r = 0; r < 2; r++) {
      const [got, want] = [await K.matmat(B), await ref.matmat(B)];
      for (let j = 0; j < 2; j++) expect(relativeError(got.getColumn(j), want.getColumn(j))).toBeLessThanOrEqual(1e-5);
    }
  });

  it('string formula and builder formula agree with the closed form (odd sizes 133x77)', async () => {
    const X = points(20, 133, 2);
    const Y = points(21, 77, 2);
    const dense = denseOf((a, c) => Math.exp(-sq(a, c) / (2 * 0.2 ** 2)) * (1 + dotp(a, c)), X, Y);
    const s = kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2)) * (1 + dot(x, y))', { x: Vi(X), y: Vj(Y), s: 0.2 }, { backend: 'gpu' });
    await checkOperatorAgainstDense(s, dense, { tol: TOL, k: 4 });
    const x = Vi(X);
    const y = Vj(Y);
    const f = kernelOperator(x.sub(y).sqnorm2().div(0.08).neg().exp().mul(x.dot(y).add(1)), { backend: 'gpu' });
    await checkOperatorAgainstDense(f, dense, { tol: TOL, k: 4, transpose: false });
  });

  it.each([1, 3, 4, 5, 9])('matmat with %i columns (n = 301, m = 259)', async (k) => {
    const X = points(30, 301, 3);
    const Y = points(31, 259, 3);
    const K = gaussianKernel(X, { y: Y, sigma: 0.25, backend: 'gpu' });
    await checkOperatorAgainstDense(K, denseOf((a, c) => Math.exp(-sq(a, c) / (2 * 0.0625)), X, Y), { tol: TOL, k, toDense: false });
  });

  it('kernel shape options reach the GPU (R, tile, workgroup, splits, blocks) with the same results', async () => {
    const X = points(40, 517, 3);
    const b = seededVector(41, 517);
    const want = await gaussianKernel(X, { sigma: 0.2, backend: 'cpu' }).matvec(b);
    for (const g of [{}, { rowsPerThread: 8, workgroupSize: 64 }, { tile: 32, splits: 5 }, { maxBindingBytes: 1024 }, { kahan: false }]) {
      const got = await gaussianKernel(X, { sigma: 0.2, backend: 'gpu', gpu: g }).matvec(b);
      expect(relativeError(got, want), JSON.stringify(g)).toBeLessThanOrEqual(TOL);
    }
  });

  it('algebra over GPU operators (sum, scale, shift, product, transpose) works unchanged', async () => {
    const X = points(50, 60, 3);
    const Y = points(51, 40, 3);
    const K = gaussianKernel(X, { y: Y, sigma: 0.3, backend: 'gpu' });
    const L = laplacianKernel(X, { y: Y, sigma: 0.6, backend: 'gpu' });
    const Kd = denseOf((a, c) => Math.exp(-sq(a, c) / 0.18), X, Y);
    const Ld = denseOf((a, c) => Math.exp(-Math.sqrt(sq(a, c)) / 0.6), X, Y);
    await checkOperatorAgainstDense(K.add(L).scale(2), Kd.clone().add(Ld).mul(2), { tol: TOL, toDense: false });
    await checkOperatorAgainstDense(K.dot(L.T).shift(0.5), Kd.mmul(Ld.transpose()).add(Matrix.eye(60).mul(0.5)), { tol: TOL, toDense: false });
  });

  it('toString says gpu, the transpose keeps the backend and dtype', () => {
    const X = points(60, 7, 3);
    const K = laplacianKernel(X, { y: points(61, 5, 3), sigma: 2, backend: 'gpu' });
    expect(String(K)).toBe('<7x5 KernelOperator(laplacian σ=2) float32 gpu>');
    expect(String(K.T)).toBe('<5x7 KernelOperator((laplacian σ=2)ᵀ) float32 gpu>');
  });
});

describe.runIf(hasGpu)('Krylov solvers on GPU operators', () => {
  const n = 600;
  const X = points(70, n, 3);
  const b = seededVector(71, n);

  // rtol 1e-4: float32 products (GPU or CPU) carry ~1e-7 noise per product; with cond(K + 0.1·I) ≈ 600
  // cg's residual floor is ~1e-5 relative here (see the closing note of the GPU backend work)
  it('K.solve (cg on K + αI) matches the CPU float64 solve to float32 accuracy', async () => {
    const Kg = gaussianKernel(X, { sigma: 0.2, backend: 'gpu' });
    const Kc = gaussianKernel(X, { sigma: 0.2, backend: 'cpu' });
    const xg = await Kg.solve(b, 0.1, { rtol: 1e-4 });
    const xc = await Kc.solve(b, 0.1, { rtol: 1e-10 });
    expect(relativeError(xg, xc)).toBeLessThanOrEqual(1e-3);
    const r = await cg(Kg.shift(0.1), b, { rtol: 1e-4 });
    expect(r.info).toBe(0);
  });

  it('eigsh(K, 5) and lobpcg agree with the CPU eigenvalues', async () => {
    const Kg = gaussianKernel(X, { sigma: 0.3, backend: 'gpu' });
    const Kc = gaussianKernel(X, { sigma: 0.3, backend: 'cpu' });
    const eg = await eigsh(Kg, 5, { seed: 1 });
    const ec = await eigsh(Kc, 5, { seed: 1 });
    for (let k = 0; k < 5; k++) expect(Math.abs(eg.eigenvalues[k]! - ec.eigenvalues[k]!) / ec.eigenvalues[k]!).toBeLessThanOrEqual(1e-5);
    const X0 = new Matrix(n, 3);
    const r = mulberry32(72);
    for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) X0.set(i, j, r() - 0.5);
    const lg = await lobpcg(Kg, X0, { tol: 1e-5, maxiter: 200 });
    const top = Array.from(ec.eigenvalues).slice(-3).sort((a, c) => c - a);
    const got = Array.from(lg.eigenvalues).sort((a, c) => c - a);
    for (let k = 0; k < 3; k++) expect(Math.abs(got[k]! - top[k]!) / top[k]!).toBeLessThanOrEqual(1e-4);
  });
});

describe.runIf(hasGpu)('bad input on the GPU backend', () => {
  const X = points(80, 20, 3);
  it('float64 with the GPU backend is a clear error', () => {
    expect(() => gaussianKernel(X, { backend: 'gpu', dtype: 'float64' }))
      .toThrow("float64 is not supported on the GPU backend; use dtype 'float32' or backend 'cpu'");
  });
  it('wrong lengths, non-finite values and bad kernel shapes are rejected with the values quoted', async () => {
    const K = gaussianKernel(X, { backend: 'gpu' });
    await expect(K.matvec(new Float64Array(19))).rejects.toThrow(/19/);
    await expect(K.matvec(Float64Array.from({ length: 20 }, (_, i) => (i === 3 ? NaN : 1)))).rejects.toThrow(/NaN|finite/);
    // the options' types and fixed ranges at construction, the device's limits at the first product
    expect(() => gaussianKernel(X, { backend: 'gpu', gpu: { rowsPerThread: 0 } })).toThrow('gaussianKernel: gpu.rowsPerThread must be an integer ≥ 1 and ≤ 32, got number 0');
    await expect(gaussianKernel(X, { backend: 'gpu', gpu: { workgroupSize: 1e6 } }).matvec(new Float64Array(20)))
      .rejects.toThrow(/gpu.workgroupSize must be an integer in \[1, \d+\] \(the device's limit\), got 1000000/);
    expect(() => gaussianKernel(X, { backend: 'gpu', gpu: { columnsPerPass: 3 as 4 } })).toThrow('gpu.columnsPerPass must be one of 1, 4, 8, got number 3');
    expect(() => gaussianKernel(X, { backend: 'gpu', gpu: { expandedGaussian: 'yes' as unknown as boolean } })).toThrow('gpu.expandedGaussian must be true or false, got a string "yes"');
    expect(() => gaussianKernel(X, { backend: 'gpu', gpu: { kahan: 1 as unknown as boolean } })).toThrow('gpu.kahan must be true or false, got number 1');
  });
  it('concurrent products on one operator all come back right (they are serialised per plan)', async () => {
    const K = gaussianKernel(X, { backend: 'gpu', sigma: 0.5 });
    const C = gaussianKernel(X, { backend: 'cpu', sigma: 0.5 });
    const bs = Array.from({ length: 6 }, (_, s) => seededVector(90 + s, 20));
    const got = await Promise.all(bs.map((v) => K.matvec(v)));
    for (let s = 0; s < bs.length; s++) expect(relativeError(got[s]!, await C.matvec(bs[s]!))).toBeLessThanOrEqual(TOL);
  });
});

describe.runIf(hasGpu)('lastGpuProfile after a pass it does not profile', () => {
  it('a GPU min/argKmin pass leaves no earlier product\'s profile as the last (it reported the matmat before it)', async () => {
    const { setGpuProfiling, lastGpuProfile } = await import('../../src/gpu/reduce.js');
    const { Vi: vi, Vj: vj } = await import('../../src/formula/builder.js');
    const { gaussianKernel: gk } = await import('../../src/operators/kernels.js');
    setGpuProfiling(true);
    try {
      const pts = Array.from({ length: 300 }, (_, i) => [Math.cos(i), Math.sin(1.3 * i)]);
      await gk(pts, { sigma: 0.5, backend: 'gpu', denseCache: 'never' }).matvec(new Float64Array(300).fill(1));
      expect(lastGpuProfile()).toBeDefined();
      await vi(pts, 'x').sub(vj(pts, 'y')).sqnorm2().min(1, { backend: 'gpu' });
      expect(lastGpuProfile()).toBeUndefined();
    } finally {
      setGpuProfiling(false);
    }
  });
});

describe.runIf(hasGpu)('shift-invert with inner MINRES on float32 products', () => {
  it('an inner rtol below float32\'s rounding is named as the cause (it read only "A − σI may be nearly singular")', async () => {
    const { gaussianKernel: gk } = await import('../../src/operators/kernels.js');
    const X = Array.from({ length: 500 }, (_, i) => [Math.cos(i * 1.7) * 0.5 + 0.5, Math.sin(i * 0.3) * 0.5 + 0.5]);
    const K = gk(X, { sigma: 0.2, dtype: 'float32', backend: 'gpu' });
    await expect(K.eigsh(4, { sigma: 1, sigmaSolver: 'minres' })).rejects.toThrow(/A's products are float32, whose rounding \(ε = 1\.2e-7\) this rtol is below: give sigmaRtol ≥ 0\.00001/);
  }, 120_000);
});
