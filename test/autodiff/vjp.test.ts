/**
 * matvecWithVjp and solveWithVjp against central finite differences of the forward computation (float64 CPU), in
 * random directions: L = ȳᵀ K(θ, x) v and L = x̄ᵀ (K(θ, x) + αI)⁻¹ b.
 */
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Vi, Vj } from '../../src/formula/builder.js';
import { gaussianKernel, kernelOperator, laplacianKernel, maternKernel } from '../../src/operators/kernels.js';
import type { KernelOperator } from '../../src/operators/kernel-operator.js';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import { matvecWithVjp } from '../../src/autodiff/vjp.js';
import { seededBlock, seededPoints, seededVector } from '../random-data.js';
import { directional, dotAll, gradientCase, relativeError, type Theta } from './helpers.js';

const n = 500;
const d = 3;
/** A jittered 8×8×8 grid (first n nodes): no two points closer than 0.06, so the Laplacian's kink at r = 0 lies
 * far outside every difference stencil (±2·10⁻³ per coordinate) — "away from r = 0". */
const x = seededPoints(21, n, d).map((jitter, t) => [t % 8, Math.floor(t / 8) % 8, Math.floor(t / 64)].map((g, k) => (g + 0.25 * jitter[k]!) / 8));
const yPoints = seededPoints(22, 200, d);

/** The kernels checked: each a function of the points and of θ (its differentiable parameters). */
const KERNELS: Array<{ name: string; theta: Theta; make: (p: number[][], t: Theta) => KernelOperator }> = [
  { name: 'gaussian', theta: { sigma: 0.4 }, make: (p, t) => gaussianKernel(p, { sigma: t['sigma']! }) },
  { name: 'matern 2.5', theta: { sigma: 0.5 }, make: (p, t) => maternKernel(p, { sigma: t['sigma']!, nu: 2.5 }) },
  { name: 'laplacian (no two points equal)', theta: { sigma: 0.6 }, make: (p, t) => laplacianKernel(p, { sigma: t['sigma']! }) },
  {
    name: 'string formula with Pm s, c', theta: { s: 0.45, c: 0.3 },
    make: (p, t) => kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2)) + c * exp(-sqnorm2(x - y))', { x: Vi(p), y: Vj(p), s: t['s']!, c: t['c']! }, { symmetric: true }),
  },
];

describe('matvecWithVjp vs central differences (float64 CPU, n = 500)', () => {
  for (const { name, theta, make } of KERNELS) {
    it(`${name}: ∂L/∂v, ∂L/∂θ and ∂L/∂x`, async () => {
      const v = seededVector(1, n);
      const ybar = seededVector(2, n);
      const loss = async (p: number[][], t: Theta, w = v) => dotAll(ybar, await make(p, t).matvec(w));
      const { y, vjp } = await make(x, theta).matvecWithVjp(v);
      expect(relativeError(y, await make(x, theta).matvec(v))).toBeLessThan(1e-14); // same product; summation order may differ with the pool split
      const g = await vjp(ybar);
      const c = gradientCase(x, theta, 31);
      // linear in v: the difference quotient is exact up to rounding
      expect(relativeError(dotAll(g.v as Float64Array, c.u), await directional((h) => loss(x, theta, v.map((t, i) => t + h * c.u[i]!)), 1e-3))).toBeLessThan(1e-9);
      for (const key of Object.keys(theta)) {
        expect(relativeError(g.params[key]!, await directional((h) => loss(x, { ...theta, [key]: theta[key]! + h }), 1e-3)), key).toBeLessThan(1e-6);
      }
      expect(g.y).toBeUndefined(); // y is x: both roles in g.x
      expect([g.x.rows, g.x.columns]).toEqual([n, d]);
      expect(relativeError(dotAll(g.x, c.U), await directional((h) => loss(c.moved(h), theta), 1e-3))).toBeLessThan(1e-6);
    });
  }

  it('y ≠ x (gaussian): ∂L/∂x and ∂L/∂y separately; a block v', async () => {
    const make = (p: number[][], q: number[][]) => gaussianKernel(p, { y: q, sigma: 0.5 });
    const V = seededBlock(7, 200, 2);
    const Ybar = seededBlock(8, n, 2);
    const loss = async (p: number[][], q: number[][]) => dotAll(Ybar, await make(p, q).matmat(V));
    const g = await (await make(x, yPoints).matvecWithVjp(V)).vjp(Ybar);
    expect(g.v).toBeInstanceOf(Matrix);
    const cx = gradientCase(x, {}, 41);
    const cy = gradientCase(yPoints, {}, 42);
    expect(relativeError(dotAll(g.x, cx.U), await directional((h) => loss(cx.moved(h), yPoints), 1e-3))).toBeLessThan(1e-6);
    expect(relativeError(dotAll(g.y!, cy.U), await directional((h) => loss(x, cy.moved(h)), 1e-3))).toBeLessThan(1e-6);
    expect(relativeError(g.params['sigma']!, await directional(async (h) => dotAll(Ybar, await gaussianKernel(x, { y: yPoints, sigma: 0.5 + h }).matmat(V)), 1e-3))).toBeLessThan(1e-6);
  });

  it('refuses ȳ of the wrong shape or with NaN, naming it', async () => {
    const { vjp } = await gaussianKernel(x, { sigma: 0.5 }).matvecWithVjp(seededVector(1, n));
    await expect(vjp(new Float64Array(n - 1))).rejects.toThrow(/ybar.*length 500, got length 499/);
    await expect(vjp(new Matrix(n, 2))).rejects.toThrow(/ybar.*vector of length 500, got a block/);
    const nan = seededVector(2, n);
    nan[7] = NaN;
    await expect(vjp(nan)).rejects.toThrow(/ybar.*entry 7 of the vector is NaN/);
    await expect(gaussianKernel(x).matvecWithVjp(new Float64Array(3))).rejects.toThrow(/\(v\).*length 500/);
    await expect(matvecWithVjp({ shape: [2, 2] } as unknown as KernelOperator, [1, 2])).rejects.toThrow(/matvecWithVjp: expected a KernelOperator, got an object/);
  });
});

describe('solveWithVjp vs central differences (float64 CPU, n = 500)', () => {
  const alpha = 0.05;
  const options = { rtol: 1e-12, returnInfo: false as const };
  for (const { name, theta, make } of KERNELS) {
    it(`${name}: ∂L/∂b, ∂L/∂α, ∂L/∂θ and ∂L/∂x`, async () => {
      const b = seededVector(3, n);
      const xbar = seededVector(4, n);
      const loss = async (p: number[][], t: Theta, a = alpha, rhs = b) => dotAll(xbar, await make(p, t).solve(rhs, a, options));
      const K = make(x, theta);
      const { x: sol, vjp } = await K.solveWithVjp(b, alpha, options);
      expect(relativeError(sol, await K.solve(b, alpha, options))).toBeLessThan(1e-10);
      const g = await vjp(xbar);
      const c = gradientCase(x, theta, 51);
      expect(relativeError(dotAll(g.b as Float64Array, c.u), await directional((h) => loss(x, theta, alpha, b.map((t, i) => t + h * c.u[i]!)), 1e-3))).toBeLessThan(1e-8);
      expect(relativeError(g.alpha, await directional((h) => loss(x, theta, alpha + h), 1e-4))).toBeLessThan(1e-6);
      for (const key of Object.keys(theta)) {
        expect(relativeError(g.params[key]!, await directional((h) => loss(x, { ...theta, [key]: theta[key]! + h }), 1e-3)), key).toBeLessThan(1e-6);
      }
      expect(relativeError(dotAll(g.x, c.U), await directional((h) => loss(c.moved(h), theta), 1e-3))).toBeLessThan(1e-6);
    });
  }

  it('a block b: gradients of Σ X̄ ∘ X', async () => {
    const make = (s: number) => gaussianKernel(x, { sigma: s });
    const B = seededBlock(9, n, 3);
    const Xbar = seededBlock(10, n, 3);
    const { x: X, vjp } = await make(0.4).solveWithVjp(B, alpha, options);
    expect(X).toBeInstanceOf(Matrix);
    const g = await vjp(Xbar);
    expect(g.b).toBeInstanceOf(Matrix);
    expect(relativeError(g.params['sigma']!, await directional(async (h) => dotAll(Xbar, await make(0.4 + h).solve(B, alpha, options)), 1e-3))).toBeLessThan(1e-6);
    expect(relativeError(g.alpha, await directional(async (h) => dotAll(Xbar, await make(0.4).solve(B, alpha + h, options)), 1e-4))).toBeLessThan(1e-6);
  });

  it('the adjoint solve reuses the forward solve\'s cached preconditioner (the same object, built once)', async () => {
    const K = gaussianKernel(seededPoints(61, 400, 2), { sigma: 0.3 });
    const opts = { rtol: 1e-10, preconditioner: 'nystrom' as const, preconditionerOptions: { rank: 40, seed: 1 }, returnInfo: true };
    const forward = await K.solveWithVjp(seededVector(5, 400), 1e-3, opts);
    const g = await forward.vjp(seededVector(6, 400));
    const M1 = (forward.info as unknown as { plan: { M?: unknown } }).plan.M;
    const M2 = (g.info as unknown as { plan: { M?: unknown } }).plan.M;
    expect(M1).toBeDefined();
    expect(M2).toBe(M1);
  });

  it('throws CgNoConvergence like solve, unless returnInfo; refuses α < 0, NaN and x̄ of the wrong shape', async () => {
    const K = gaussianKernel(x, { sigma: 0.4 });
    const b = seededVector(3, n);
    const thrown = await K.solveWithVjp(b, 1e-6, { method: 'cg', maxiter: 2, preconditioner: 'none' }).then(() => undefined, (e: unknown) => e);
    expect(thrown).toBeInstanceOf(CgNoConvergence);
    // the partial result as K.solve throws it: plain data (it carried the plan's live operators, which no clone takes)
    const { result } = thrown as CgNoConvergence;
    expect(Object.keys(result).sort()).toEqual(['info', 'iterations', 'matvecs', 'message', 'residualNorms', 'x']);
    expect(structuredClone(result).x).toEqual(result.x);
    const partial = await K.solveWithVjp(b, 1e-6, { method: 'cg', maxiter: 2, preconditioner: 'none', returnInfo: true });
    expect(partial.info!.info).toBeGreaterThan(0);
    await expect(K.solveWithVjp(b, -0.5)).rejects.toThrow(/alpha must be ≥ 0.*got -0.5/);
    await expect(K.solveWithVjp(b, NaN)).rejects.toThrow(/alpha.*NaN/);
    const bad = Float64Array.from(b);
    bad[4] = Infinity;
    await expect(K.solveWithVjp(bad, 0.1)).rejects.toThrow(/\(b\).*entry 4 of the vector is Infinity/);
    const { vjp } = await K.solveWithVjp(b, 0.1);
    await expect(vjp(new Float64Array(10))).rejects.toThrow(/xbar.*length 500, got length 10/);
    await expect(vjp([[1, 2]])).rejects.toThrow(/xbar.*vector of length 500, got a block/);
  });
});
