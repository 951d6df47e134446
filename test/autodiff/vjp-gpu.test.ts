/**
 * The gradients on the GPU (WebGPU, float32 products; llvmpipe in CI): solveWithVjp and matvecWithVjp of
 * Gaussian, Matérn 2.5 and a string formula with a Pm against central differences of the float64 CPU forward
 * computation, relative error ≤ 1e-3, n = 500.
 *
 * A parameter's gradient through a solve, −λᵀ(∂K/∂θ)x, is checked in its two parts. The solves: the forward x and the
 * adjoint λ are refined on K's exact entries (their floor ε₃₂·λ̂/α ≈ 1.2e-4 is above rtol), so the same bilinear form
 * evaluated in float64 on them meets the differences to 1e-5 (2e-10 measured; 4.1e-5 for Matérn when x and λ solved
 * the float32 entries' system). The GPU's float32 evaluation of the form: its terms cancel ≈ 7·10⁵-fold
 * (Σ|λ_i ∂K_ij x_j| / |λᵀ∂Kx|), so rounding each term by about ε₃₂ of itself moves the sum by up to ε₃₂·Σ|λ_i ∂K_ij x_j|
 * — 4e-2 of it here; measured 1.3e-3 for Matérn's σ (7e-4 to 1.3e-3 as x and λ move by 1e-6, the rounding redrawn),
 * which a bound of 1e-3 on the whole met only by chance while x and λ carried the float32 entries' own error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Vi, Vj } from '../../src/formula/builder.js';
import { gaussianKernel, kernelOperator, maternKernel } from '../../src/operators/kernels.js';
import type { KernelOperator } from '../../src/operators/kernel-operator.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { parameterDerivativeOperator } from '../../src/autodiff/kernel-derivatives.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { directional, dotAll, gradientCase, relativeError, type Theta } from './helpers.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const n = 500;
const x = seededPoints(81, n, 3, { float32: true });

type Backend = { backend: 'cpu'; dtype: 'float64' } | { backend: 'gpu'; dtype: 'float32' };
const CPU: Backend = { backend: 'cpu', dtype: 'float64' };
const GPU: Backend = { backend: 'gpu', dtype: 'float32' };

const KERNELS: Array<{ name: string; theta: Theta; make: (p: number[][], t: Theta, on: Backend) => KernelOperator }> = [
  { name: 'gaussian', theta: { sigma: 0.3 }, make: (p, t, on) => gaussianKernel(p, { sigma: t['sigma']!, ...on }) },
  { name: 'matern 2.5', theta: { sigma: 0.4 }, make: (p, t, on) => maternKernel(p, { sigma: t['sigma']!, nu: 2.5, ...on }) },
  {
    name: 'string formula with Pm s', theta: { s: 0.35 },
    make: (p, t, on) => kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s: t['s']! }, { symmetric: true, ...on }),
  },
];

/** λᵀ D x and Σ|λ_i D_ij x_j| (D dense), summed in plain loops in float64. */
function bilinear(lambda: Float64Array, D: { get(i: number, j: number): number }, v: Float64Array): { value: number; absolute: number } {
  let value = 0;
  let absolute = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const t = lambda[i]! * D.get(i, j) * v[j]!;
      value += t;
      absolute += Math.abs(t);
    }
  }
  return { value, absolute };
}

describe.runIf(hasGpu)('gradients on the GPU (float32) vs central differences of the float64 forward (n = 500)', () => {
  const alpha = 0.05;
  for (const { name, theta, make } of KERNELS) {
    it(`${name}: solveWithVjp gives ∂L/∂b, ∂L/∂α, ∂L/∂θ, ∂L/∂x within 1e-3`, async () => {
      const b = seededVector(11, n);
      const xbar = seededVector(12, n);
      const exact = { rtol: 1e-12, returnInfo: false as const };
      const loss = async (p: number[][], t: Theta, a = alpha, rhs = b) => dotAll(xbar, await make(p, t, CPU).solve(rhs, a, exact));
      const K = make(x, theta, GPU);
      expect(K.backend).toBe('gpu');
      // rtol 1e-7 is far below the float32 entries' floor ε₃₂·λ̂/α (≈ 1.2e-4): the forward and adjoint solves are refined
      // on the exact entries (test/preconditioners/float32-refinement.test.ts) and meet it there, info 0
      const forward = await K.solveWithVjp(b, alpha, { rtol: 1e-7, returnInfo: true });
      const g = await forward.vjp(xbar);
      for (const info of [forward.info, g.info] as SolveResult[]) expect([info.info, info.float32Entries?.verifiedOn]).toEqual([0, 'exact']);
      const c = gradientCase(x, theta, 13);
      expect(relativeError(dotAll(g.b as Float64Array, c.u), await directional((h) => loss(x, theta, alpha, b.map((t, i) => t + h * c.u[i]!)), 1e-3))).toBeLessThan(1e-3);
      expect(relativeError(g.alpha, await directional((h) => loss(x, theta, alpha + h), 1e-4))).toBeLessThan(1e-3);
      for (const key of Object.keys(theta)) {
        const fd = await directional((h) => loss(x, { ...theta, [key]: theta[key]! + h }), 1e-3);
        const { value, absolute } = bilinear(g.b as Float64Array, await parameterDerivativeOperator(make(x, theta, CPU), key).toDense(), forward.x as Float64Array);
        // the solves: −λᵀ(∂K/∂θ)x in float64 on the λ and x the GPU's solves returned
        expect(relativeError(-value, fd), `${key}: solves`).toBeLessThan(1e-5);
        // the GPU's float32 evaluation of that form: within the rounding of its terms (module comment)
        expect(Math.abs(g.params[key]! + value), `${key}: float32 form`).toBeLessThanOrEqual(2 ** -24 * absolute);
        expect(relativeError(g.params[key]!, fd), key).toBeLessThan(2e-5 + (2 ** -24 * absolute) / Math.abs(fd));
      }
      expect(relativeError(dotAll(g.x, c.U), await directional((h) => loss(c.moved(h), theta), 1e-3))).toBeLessThan(1e-3);
    });
  }

  it('gaussian: matvecWithVjp gives ∂L/∂v, ∂L/∂σ, ∂L/∂x within 1e-3', async () => {
    const v = seededVector(14, n);
    const ybar = seededVector(15, n);
    const loss = async (p: number[][], s: number) => dotAll(ybar, await gaussianKernel(p, { sigma: s, ...CPU }).matvec(v));
    const g = await (await gaussianKernel(x, { sigma: 0.3, ...GPU }).matvecWithVjp(v)).vjp(ybar);
    const c = gradientCase(x, {}, 16);
    expect(relativeError(g.v as Float64Array, await gaussianKernel(x, { sigma: 0.3, ...CPU }).matvec(ybar))).toBeLessThan(1e-3);
    expect(relativeError(g.params['sigma']!, await directional((h) => loss(x, 0.3 + h), 1e-3))).toBeLessThan(1e-3);
    expect(relativeError(dotAll(g.x, c.U), await directional((h) => loss(c.moved(h), 0.3), 1e-3))).toBeLessThan(1e-3);
  });
});
