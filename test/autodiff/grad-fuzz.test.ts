/**
 * A seeded slice of bench/grad-fuzz.mjs: random kernels (every built-in kernel and a formula with its own Pm), dtypes,
 * α, n, d and cotangents; the VJPs of products and solves and the GP gradient against five-point central differences
 * of the float64 forward computation (dense here: K.toDense(), ml-matrix Cholesky), in a random direction, with the
 * error relative to the gradient's norm times the direction's. Hostile inputs (duplicate points under the kink of the
 * Laplacian and Matérn ½ kernels, a zero cotangent) give finite gradients or a clear error, never NaN.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { Vi, Vj } from '../../src/formula/builder.js';
import { cauchyKernel, gaussianKernel, kernelOperator, laplacianKernel, linearKernel, maternKernel, polynomialKernel } from '../../src/operators/kernels.js';
import type { KernelOperator } from '../../src/operators/kernel-operator.js';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { mulberry32 } from '../random-data.js';
import { directional, dotAll, type Theta } from './helpers.js';

type Dtype = 'float32' | 'float64';
interface Kernel { name: string; theta: (r: () => number) => Theta; make: (p: number[][], t: Theta, dtype: Dtype, y?: number[][]) => KernelOperator }

const on = (dtype: Dtype) => ({ backend: 'cpu' as const, dtype, denseCache: 'never' as const });
const scaled = (name: string, make: (p: number[][], o: Record<string, unknown>) => KernelOperator): Kernel => ({
  name, theta: (r) => ({ sigma: 0.3 + 1.2 * r() }), make: (p, t, dtype, y) => make(p, { sigma: t['sigma']!, ...on(dtype), ...(y ? { y } : {}) }),
});
const KERNELS: Kernel[] = [
  scaled('gaussian', (p, o) => gaussianKernel(p, o)),
  scaled('laplacian', (p, o) => laplacianKernel(p, o)),
  scaled('matern 1.5', (p, o) => maternKernel(p, { ...o, nu: 1.5 })),
  scaled('matern 2.5', (p, o) => maternKernel(p, { ...o, nu: 2.5 })),
  scaled('cauchy', (p, o) => cauchyKernel(p, o)),
  {
    name: 'polynomial', theta: (r) => ({ gamma: 0.2 + r(), coef0: 0.2 + r() }),
    make: (p, t, dtype, y) => polynomialKernel(p, { gamma: t['gamma']!, coef0: t['coef0']!, degree: 2, ...on(dtype), ...(y ? { y } : {}) }),
  },
  { name: 'linear', theta: () => ({}), make: (p, _t, dtype, y) => linearKernel(p, { ...on(dtype), ...(y ? { y } : {}) }) },
  {
    name: 'formula (1 + r²/(2 a s²))^(-a)', theta: (r) => ({ a: 0.5 + 2 * r(), s: 0.3 + r() }),
    make: (p, t, dtype, y) => kernelOperator('(1 + sqnorm2(x - y) / (2 * a * s^2))^(-a)', { x: Vi(p), y: Vj(y ?? p), a: t['a']!, s: t['s']! }, { ...on(dtype), ...(y ? {} : { symmetric: true }) }),
  },
];

const block = (rows: number, cols: number, r: () => number) => new Matrix(rows, cols).apply(function (this: Matrix, i: number, j: number) { this.set(i, j, 2 * r() - 1); });
const points = (n: number, d: number, r: () => number) => Array.from({ length: n }, () => Array.from({ length: d }, () => r()));
const move = (p: number[][], U: Matrix, h: number) => p.map((row, i) => row.map((v, k) => v + h * U.get(i, k)));
const asBlock = (v: Float64Array | Matrix) => (v instanceof Matrix ? v : Matrix.columnVector(Array.from(v)));
const norm = (M: Matrix) => Math.sqrt(dotAll(M, M));

/** |claim − fd| / scale below tol, with the context in the failure message. */
function close(claim: number, fd: number, scale: number, tol: number, what: string): void {
  expect(Math.abs(claim - fd) / Math.max(scale, 1e-300), `${what}: claim ${claim}, difference quotient ${fd}`).toBeLessThan(tol);
}

describe('gradients under fuzz: VJPs of products and solves, GP gradient (float64 forward differences)', () => {
  it('16 random matvec VJPs (y = x or its own y; float64 and float32)', async () => {
    const r = mulberry32(1611);
    for (let t = 0; t < 16; t++) {
      const kernel = KERNELS[t % KERNELS.length]!;
      const dtype: Dtype = r() < 0.3 ? 'float32' : 'float64';
      const n = 20 + Math.floor(r() * 60);
      const d = 1 + Math.floor(r() * 4);
      const x = points(n, d, r);
      const y = r() < 0.4 ? points(10 + Math.floor(r() * 40), d, r) : undefined;
      const theta = kernel.theta(r);
      const V = block(y ? y.length : n, 1 + Math.floor(r() * 2), r);
      const Ybar = block(n, V.columns, r);
      const tol = dtype === 'float64' ? 1e-6 : 2e-3;
      const what = `${kernel.name} ${dtype} n=${n} d=${d}${y ? ` m=${y.length}` : ''}`;
      const g = await (await kernel.make(x, theta, dtype, y).matvecWithVjp(V)).vjp(Ybar);
      const loss = async (p: number[][], q: number[][] | undefined, th: Theta, W = V) => dotAll(Ybar, (await kernel.make(p, th, 'float64', q).toDense()).mmul(W));
      const U = block(V.rows, V.columns, r);
      close(dotAll(asBlock(g.v), U), await directional((h) => loss(x, y, theta, V.clone().add(U.clone().mul(h))), 1e-3), norm(asBlock(g.v)) * norm(U), tol, `${what} ∂/∂v`);
      for (const key of Object.keys(theta)) {
        const fd = await directional((h) => loss(x, y, { ...theta, [key]: theta[key]! + h }), 1e-3 * theta[key]!);
        close(g.params[key]!, fd, Math.max(Math.abs(fd), Math.abs(g.params[key]!)), tol, `${what} ∂/∂${key}`);
      }
      expect(Object.keys(g.params).sort()).toEqual(Object.keys(theta).sort());
      const Ux = block(n, d, r);
      const h = 1e-4; // no kink within reach: random points in [0, 1)^d, n ≤ 80, the stencil moves each by ≤ 2e-4·|U|
      close(dotAll(g.x, Ux), await directional((s) => loss(move(x, Ux, s), y, theta), h), norm(g.x) * norm(Ux), tol, `${what} ∂/∂x`);
      if (y) {
        const Uy = block(y.length, d, r);
        close(dotAll(g.y!, Uy), await directional((s) => loss(x, move(y, Uy, s), theta), h), norm(g.y!) * norm(Uy), tol, `${what} ∂/∂y`);
      } else expect(g.y).toBeUndefined();
    }
  });

  it('12 random solve VJPs: ∂/∂b, ∂/∂α, ∂/∂θ, ∂/∂x of Σ X̄ ∘ (K + αI)⁻¹ B', async () => {
    const r = mulberry32(1612);
    for (let t = 0; t < 12; t++) {
      const kernel = KERNELS[(t * 3) % KERNELS.length]!;
      const dtype: Dtype = r() < 0.25 ? 'float32' : 'float64';
      const n = 20 + Math.floor(r() * 50);
      const d = 1 + Math.floor(r() * 4);
      const x = points(n, d, r);
      const theta = kernel.theta(r);
      const alpha = dtype === 'float64' ? 10 ** (-2 + 2 * r()) : 0.1 + r();
      const B = block(n, 1 + Math.floor(r() * 2), r);
      const Xbar = block(n, B.columns, r);
      const tol = dtype === 'float64' ? 1e-6 : 2e-3;
      const what = `${kernel.name} ${dtype} n=${n} d=${d} α=${alpha.toPrecision(3)}`;
      const g = await (await kernel.make(x, theta, dtype).solveWithVjp(B, alpha, { rtol: dtype === 'float64' ? 1e-12 : 1e-6 })).vjp(Xbar);
      const loss = async (p: number[][], th: Theta, a: number, Bm = B) => {
        const A = await kernel.make(p, th, 'float64').toDense();
        for (let i = 0; i < n; i++) A.set(i, i, A.get(i, i) + a);
        return dotAll(Xbar, new CholeskyDecomposition(A).solve(Bm));
      };
      const U = block(n, B.columns, r);
      close(dotAll(asBlock(g.b), U), await directional((h) => loss(x, theta, alpha, B.clone().add(U.clone().mul(h))), 1e-3), norm(asBlock(g.b)) * norm(U), tol, `${what} ∂/∂b`);
      const fdAlpha = await directional((h) => loss(x, theta, alpha + h), 1e-3 * alpha);
      close(g.alpha, fdAlpha, Math.max(Math.abs(fdAlpha), Math.abs(g.alpha)), tol, `${what} ∂/∂α`);
      for (const key of Object.keys(theta)) {
        const fd = await directional((h) => loss(x, { ...theta, [key]: theta[key]! + h }, alpha), 1e-3 * theta[key]!);
        close(g.params[key]!, fd, Math.max(Math.abs(fd), Math.abs(g.params[key]!)), tol, `${what} ∂/∂${key}`);
      }
      const Ux = block(n, d, r);
      close(dotAll(g.x, Ux), await directional((s) => loss(move(x, Ux, s), theta, alpha), 1e-4), norm(g.x) * norm(Ux), tol, `${what} ∂/∂x`);
    }
  });

  it('8 random GP likelihoods (dense route): value and every gradient entry', async () => {
    const r = mulberry32(1613);
    for (let t = 0; t < 8; t++) {
      const kernel = KERNELS[(t * 5 + 1) % KERNELS.length]!;
      const n = 20 + Math.floor(r() * 60);
      const d = 1 + Math.floor(r() * 4);
      const x = points(n, d, r);
      const theta = kernel.theta(r);
      const noise = 10 ** (-2 + 2 * r());
      const y = Array.from({ length: n }, () => 2 * r() - 1);
      const nll = async (th: Theta, s: number) => {
        const A = await kernel.make(x, th, 'float64').toDense();
        for (let i = 0; i < n; i++) A.set(i, i, A.get(i, i) + s);
        const C = new CholeskyDecomposition(A);
        const L = C.lowerTriangularMatrix;
        let ld = 0;
        for (let i = 0; i < n; i++) ld += 2 * Math.log(L.get(i, i));
        const Y = Matrix.columnVector(y);
        return 0.5 * (dotAll(Y, C.solve(Y)) + ld + n * Math.log(2 * Math.PI));
      };
      const what = `${kernel.name} n=${n} d=${d} noise=${noise.toPrecision(3)}`;
      const res = await gpNegativeLogMarginalLikelihood(kernel.make(x, theta, 'float64'), y, noise, { method: 'cholesky' });
      const value = await nll(theta, noise);
      close(res.value, value, Math.abs(value), 1e-9, `${what} value`);
      const fdNoise = await directional((h) => nll(theta, noise + h), 1e-3 * noise);
      close(res.grad.noise, fdNoise, Math.max(Math.abs(fdNoise), Math.abs(res.grad.noise)), 1e-6, `${what} ∂/∂noise`);
      for (const key of Object.keys(theta)) {
        const fd = await directional((h) => nll({ ...theta, [key]: theta[key]! + h }, noise), 1e-3 * theta[key]!);
        close(res.grad[key]!, fd, Math.max(Math.abs(fd), Math.abs(res.grad[key]!)), 1e-6, `${what} ∂/∂${key}`);
      }
    }
  });

  it('duplicate points under a kink, and a zero cotangent: finite gradients, never NaN', async () => {
    const r = mulberry32(1614);
    const x = points(40, 2, r).map((p, i, all) => (i % 3 === 1 ? all[i - 1]!.slice() : p));
    for (const K of [laplacianKernel(x, { sigma: 0.5 }), maternKernel(x, { sigma: 0.5, nu: 0.5 })]) {
      const v = Float64Array.from({ length: 40 }, () => 2 * r() - 1);
      for (const bar of [v.map((t) => -t), new Float64Array(40)]) {
        const gm = await (await K.matvecWithVjp(v)).vjp(bar);
        const gs = await (await K.solveWithVjp(v, 0.1, { rtol: 1e-10 })).vjp(bar);
        for (const g of [gm, gs]) {
          expect(g.x.to1DArray().every(Number.isFinite), String(K)).toBe(true);
          expect(Object.values(g.params).every(Number.isFinite), String(K)).toBe(true);
        }
        if (bar.every((t) => t === 0)) expect(gs.x.to1DArray().every((t) => t === 0) && gs.params['sigma'] === 0).toBe(true);
      }
    }
  });
});
