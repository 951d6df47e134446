/**
 * A float32 CPU kernel whose K is stored solves with the stored float32 entries K̃ (applied with float64 sums, no twin):
 * x meets rtol on K̃ + αI, and the rounding E = K̃ − K moves it by about ε₃₂·λ̂/α. Before, at α = 3·10⁻⁶ (n = 500,
 * Gaussian σ = 0.5, floor ≈ 4.6) `K.solve` returned x with info 0 and a residual of 8.6·10⁻²·‖b‖ against `toDense()`.
 * Now, where the floor is above rtol, x's residual is measured on the exact entries (the float64 operator of the same
 * formula) and refined there (float32-refinement.test.ts: α = 3·10⁻⁶ now meets rtol); a miss that the refinement
 * cannot mend (α = 10⁻⁶, floor ≈ 14) is reported. A float32 kernel whose K is not stored refines on that float64
 * operator and meets rtol against it already; a float64 operator is untouched. References: residuals against `K.toDense()` (the formula in
 * float64, plain JS) summed in plain loops.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededBlock, seededPoints, seededVector } from '../random-data.js';

afterAll(() => shutdownCpuPool());

const n = 500;
const X = seededPoints(7, n, 3);
const b = seededVector(8, n);
const alpha = 1e-6;
/** The guards' α, where both solve without the float32 entries (they were written for it). */
const guardAlpha = 3e-6;
const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
const dense = gaussianKernel(X, { sigma: 0.5, dtype: 'float64', backend: 'cpu' }).toDense();

/** ‖b − (c·D + αI)x‖/‖b‖ with D the dense float64 K (`toDense()`), summed in a plain loop. */
function exactRelativeResidual(D: Matrix, a: number, x: ArrayLike<number>, rhs: ArrayLike<number> = b, c = 1): number {
  let num = 0;
  for (let i = 0; i < n; i++) {
    let s = a * x[i]!;
    for (let j = 0; j < n; j++) s += c * D.get(i, j) * x[j]!;
    num += (rhs[i]! - s) ** 2;
  }
  return Math.sqrt(num) / norm(rhs);
}

/** The residual the message names against the exact entries. */
function messageResidual(message: string): number {
  const m = /residual against A's exact entries \(the formula in float64\) is (\S+)·‖b‖/.exec(message);
  expect(m, message).not.toBeNull();
  return Number(m![1]);
}

const float32Stored = () => gaussianKernel(X, { sigma: 0.5, dtype: 'float32', backend: 'cpu' });

describe('a float32 CPU kernel with a stored K, checked against its exact entries', () => {
  it('α = 1e-6: K.solve throws CgNoConvergence naming the floor and the refinement; x\'s residual against toDense() is the message\'s figure', async () => {
    const K = float32Stored();
    const err = await K.solve(b, alpha).then(() => undefined, (e: unknown) => e);
    // before the check: x returned (info 0), its residual against toDense() 2.9e-1
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { message, result } = err as CgNoConvergence;
    expect(message).toMatch(/at α = 0\.000001 the float32 entries' rounding moves the solution by up to about ε₃₂·λ̂\/α = \d\.\d\de\+1 \(the float32 entries' floor; λ̂ = ‖A1‖\/‖1‖ = \d+\)/);
    // the refinement on the exact residual contracts by ≈ 0.29 a step here: too slow to reach rtol in the steps allowed
    expect(message).toMatch(/·‖b‖, \S+× the tolerance rtol = 0\.00001, no refinement step on the exact residual ran: contracting it by 0\.\d+ a step, it would need at least \d+ steps, beyond the 6 allowed: /);
    expect(message).toMatch(/use dtype 'float64' \(on the CPU\) or a larger α$/);
    const measured = exactRelativeResidual(await dense, alpha, result.x as Float64Array);
    expect(measured).toBeGreaterThan(1e-3);
    expect(Math.abs(messageResidual(message) / measured - 1)).toBeLessThan(0.03);
    // the same through returnInfo, and under algebra: 2K + 2e-6·I is the same system scaled
    const r = (await K.solve(b, alpha, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBeGreaterThan(0);
    expect(r.float32Entries).toMatchObject({ verifiedOn: 'exact', refinementSteps: 0 });
    expect(r.float32Entries!.exactResidualHistory).toEqual([r.float32Entries!.exactResidualNorms]);
    const scaled = (await K.scale(2).solve(b, 2 * alpha, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(scaled.info).toBeGreaterThan(0);
    expect(Math.abs(messageResidual(scaled.message!) / exactRelativeResidual(await dense, 2 * alpha, scaled.x, b, 2) - 1)).toBeLessThan(0.03);
    await K.dispose();
  });

  it('a block of 3 columns: info and columnInfo > 0, the message names the worst column', async () => {
    const K = float32Stored();
    const B = seededBlock(9, n, 3);
    const r = (await K.solve(B, alpha, { returnInfo: true })) as SolveResult<Matrix>;
    // before the check: info 0
    expect(r.info).toBeGreaterThan(0);
    expect(r.columnInfo!.every((i) => i > 0)).toBe(true);
    expect(r.message).toMatch(/no refinement step on the exact residual ran/);
    const D = await dense;
    const residuals = [0, 1, 2].map((j) => exactRelativeResidual(D, alpha, r.x.getColumn(j), B.getColumn(j)));
    const worst = residuals.indexOf(Math.max(...residuals));
    expect(r.message).toContain(`·‖b‖ (column ${worst}, the worst)`);
    expect(Math.abs(messageResidual(r.message!) / residuals[worst]! - 1)).toBeLessThan(0.03);
    await K.dispose();
  });

  it('guard: the same kernel with K not stored (denseCache never) refines on its float64 twin and meets rtol, info 0', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, dtype: 'float32', backend: 'cpu', denseCache: 'never' });
    const r = (await K.solve(b, guardAlpha, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBe(0);
    expect(r.plan.operator.dtype).toBe('float64');
    expect(r.float32Entries).toBeUndefined();
    expect(exactRelativeResidual(await dense, guardAlpha, r.x)).toBeLessThanOrEqual(1e-5);
  });

  it('guard: a float64 operator at α = 3e-6 is unaffected (the dense factor, no refinement step, info 0)', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, dtype: 'float64', backend: 'cpu' });
    const r = (await K.solve(b, guardAlpha, { returnInfo: true })) as SolveResult<Float64Array>;
    expect([r.info, r.plan.method, r.iterations, r.matvecs]).toEqual([0, 'cholesky', 0, 1]);
    expect(r.float32Entries).toBeUndefined();
    expect(exactRelativeResidual(await dense, guardAlpha, r.x)).toBeLessThanOrEqual(1e-8); // measured 2e-9
    await K.dispose();
  });
});
