/**
 * lobpcg's default tolerance is scipy's absolute n·√ε of the operator's dtype — 0.69 for a float32 operator at
 * n = 2,000. A convergence claimed there for wanted eigenvalues far below it certifies no digit of them: warned of
 * (LAZYLINALG_LOOSE_TOLERANCE), the result unchanged (it is within tol of some eigenvalue, as scipy's is). Reference:
 * the same eigenvalues with an explicit tol, and the float64 operator.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { lobpcg } from '../../src/krylov/lobpcg.js';
import { mulberry32 } from '../../src/krylov/random.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints } from '../random-data.js';

afterAll(() => shutdownCpuPool());

const n = 2000;
const X = seededPoints(7, n, 3);
const start = () => Matrix.rand(n, 3, { random: mulberry32(2) });

describe('lobpcg at its default tolerance', () => {
  let warnings: string[] = [];
  const listen = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
  beforeEach(() => {
    warnings = [];
    process.on('warning', listen);
  });
  afterEach(() => {
    process.off('warning', listen);
  });
  const settle = () => new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick

  it('warns where the claim certifies no digit of a wanted value (float32, smallest of K + 0.01·I)', async () => {
    const A = gaussianKernel(X, { sigma: 0.2, dtype: 'float32' }).shift(0.01);
    const r = await lobpcg(A, start(), { largest: false });
    await settle();
    // scipy's contract, kept: converged, every residual below tol = n·√ε₃₂ ≈ 0.69 — yet the values are 5–7 times the
    // eigenvalues (all ≈ 0.0100, below)
    expect(r.converged).toBe(true);
    expect(Math.max(...r.residualNorms)).toBeLessThan(0.7);
    expect(r.eigenvalues[0]).toBeGreaterThan(0.03);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^LAZYLINALG_LOOSE_TOLERANCE: lobpcg: converged at the default tolerance tol = n·√ε = 0\.69\d \(float32, n = 2000\), but the wanted eigenvalue 0\.0\d+ has residual 0\.\d+ > \|θ\|/);
    // with a tol below the eigenvalues: the right ones, no warning
    const tight = await lobpcg(A, start(), { largest: false, tol: 1e-3, maxiter: 600 });
    await settle();
    expect(tight.converged).toBe(true);
    for (const v of tight.eigenvalues) expect(Math.abs(v - 0.01)).toBeLessThan(1e-4);
    expect(warnings).toHaveLength(1);
  });

  it('says nothing where the residuals certify the values (largest end, float32 and float64)', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const r = await lobpcg(gaussianKernel(X, { sigma: 0.2, dtype }), start(), { maxiter: 200 });
      expect(r.converged).toBe(true);
    }
    await settle();
    expect(warnings).toEqual([]);
  });
});
