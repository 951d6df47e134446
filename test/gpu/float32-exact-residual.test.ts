/**
 * A GPU kernel's `solve` applies K's float32-rounded entries K̃ (its CPU twin's stored float32 K for the dense factor,
 * or the compensated products for CG): it solved K̃ + αI to rtol, and the rounding E = K̃ − K moves x by about
 * ε₃₂·λ̂/α. Before, at α = 3·10⁻⁶ (n = 500, Gaussian σ = 0.5, floor ≈ 4.6) it returned x with info 0 and a residual of
 * 8.6·10⁻²·‖b‖ against `toDense()`; at α = 10⁻⁴ on compensated CG, 10⁻²-ish. Now, where the floor is above rtol, x's
 * residual is measured on the exact entries and refined there (float32-refinement.test.ts: α = 3·10⁻⁶ and 10⁻⁴ now
 * meet rtol), and a miss the refinement cannot mend (α = 10⁻⁶, floor ≈ 14) is reported (CgNoConvergence, info > 0).
 * References here: the residual against `K.toDense()` (the formula in float64, plain JS), summed in a plain loop, and
 * λ̂ from it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';
import { relativeResidual } from '../preconditioners/helpers.js';

afterAll(() => shutdownCpuPool());

const n = 500;
const X = seededPoints(7, n, 3);
const b = seededVector(8, n);
const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));


/** λ̂ = ‖D1‖/‖1‖ of the dense float64 K. */
function onesEstimate(D: Matrix): number {
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += D.get(i, j);
    s2 += s * s;
  }
  return Math.sqrt(s2 / n);
}

/** The figures the message names: the residual against the exact entries, and the floor. */
function figures(message: string): { residual: number; floor: number } {
  const residual = /residual against A's exact entries \(the formula in float64\) is (\S+)·‖b‖/.exec(message);
  const floor = /moves the solution by up to about ε₃₂·λ̂\/α = (\S+) \(the float32 entries' floor/.exec(message);
  expect(residual, message).not.toBeNull();
  expect(floor, message).not.toBeNull();
  return { residual: Number(residual![1]), floor: Number(floor![1]) };
}

describe.runIf(hasGpu)("a float32 GPU kernel's solve checked against its exact entries", () => {
  it('α = 1e-6 (the dense factor of the float32 entries): throws CgNoConvergence naming the floor, the refinement and the exact residual', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, backend: 'gpu' });
    const alpha = 1e-6;
    const D = await K.toDense();
    const err = await K.solve(b, alpha).then(() => undefined, (e: unknown) => e);
    // before the check: x returned, info 0, its residual against toDense() 2.9e-1
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { message, result } = err as CgNoConvergence;
    expect(message).toMatch(/no refinement step on the exact residual ran: contracting it by 0\.\d+ a step, it would need at least \d+ steps, beyond the 6 allowed: at α = 0\.000001 the float32 entries' rounding/);
    expect(message).toMatch(/K\.solve on the float64 operator of the same formula \(dtype 'float64', backend 'cpu'\) is the accurate route$/);
    const { residual, floor } = figures(message);
    const measured = relativeResidual(D, alpha, result.x as Float64Array, b);
    expect(measured).toBeGreaterThan(1e-3);
    expect(Math.abs(residual / measured - 1)).toBeLessThan(0.03);
    expect(Math.abs(floor / (2 ** -24 * onesEstimate(D) / alpha) - 1)).toBeLessThan(0.03);
    // returnInfo: the same x, info > 0, the check recorded
    const r = (await K.solve(b, alpha, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBeGreaterThan(0);
    expect(r.plan.method).toBe('cholesky');
    expect(r.float32Entries?.verifiedOn).toBe('exact');
    expect(r.float32Entries!.exactResidualNorms![0]! / norm(b)).toBeCloseTo(measured, 6);
    // the route the message names: the CPU float64 operator meets rtol against the same dense K
    const x64 = (await gaussianKernel(X, { sigma: 0.5, dtype: 'float64', backend: 'cpu' }).solve(b, alpha)) as Float64Array;
    expect(relativeResidual(D, alpha, x64, b)).toBeLessThanOrEqual(1e-5);
    await K.dispose();
  });

  it('α = 1e-4 on compensated CG (denseCache never), returnInfo: refined on the exact residual, info 0, the residuals recorded', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, backend: 'gpu', denseCache: 'never' });
    const alpha = 1e-4;
    const r = (await K.solve(b, alpha, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.plan.method).toBe('cg');
    expect(r.plan.operator.toString()).toMatch(/compensated products/);
    // before the refinement: info > 0, x's residual against toDense() above 1e-4 (before the check: info 0)
    expect(r.info).toBe(0);
    const f = r.float32Entries!;
    expect(f.floor).toBeGreaterThan(0.1);
    expect(f.refinementSteps).toBeGreaterThan(0);
    expect(f.exactResidualHistory![0]![0]! / norm(b)).toBeGreaterThan(1e-4);
    const measured = relativeResidual(await K.toDense(), alpha, r.x, b);
    expect(measured).toBeLessThanOrEqual(1e-5);
    expect(f.exactResidualNorms![0]! / norm(b)).toBeCloseTo(measured, 8);
    await K.dispose();
  });

  it('α = 0.1 where the floor is above rtol: the check runs and passes (info 0, residual against toDense() within rtol)', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, backend: 'gpu' });
    const r = (await K.solve(b, 0.1, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBe(0);
    expect(r.float32Entries?.floor).toBeGreaterThan(1e-5); // ≈ 1.4e-4
    expect(r.float32Entries?.verifiedOn).toBe('exact');
    expect(relativeResidual(await K.toDense(), 0.1, r.x, b)).toBeLessThanOrEqual(1e-5);
    await K.dispose();
  });

  it('guard: α = 0.1 with the floor below rtol (σ = 0.1) converges as before, no check', async () => {
    for (const denseCache of [undefined, 'never'] as const) {
      const K = gaussianKernel(X, { sigma: 0.1, backend: 'gpu', ...(denseCache ? { denseCache } : {}) });
      const r = (await K.solve(b, 0.1, { returnInfo: true })) as SolveResult<Float64Array>;
      expect(r.info).toBe(0);
      expect(r.float32Entries).toBeUndefined();
      expect(relativeResidual(await K.toDense(), 0.1, r.x, b)).toBeLessThanOrEqual(1.5e-5);
      await K.dispose();
    }
  });
});
