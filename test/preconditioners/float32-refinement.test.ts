/**
 * A solve on float32-rounded kernel entries K̃ (here a float32 CPU kernel whose K is stored: `denseCache: 'always'`)
 * solves K̃ + αI to rtol; where the floor ε₃₂·λ̂/α is above rtol, x's residual is measured on K's exact entries.
 * Before, a column above the tolerance there made info > 0 (CgNoConvergence from `K.solve`), even a near miss
 * (n = 600, α = 0.1: 1.002× the tolerance). Now x is refined on the exact residual — r = b − (K + αI)x in float64,
 * d ≈ (K̃ + αI)⁻¹ r by the same factor or CG, x += d — until it meets the tolerance, or the refinement cannot get there
 * (then the miss is said, with the steps that ran). References: residuals against `K.toDense()` (the formula in float64,
 * plain JS), summed in plain loops.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import type { RefinementProgress } from '../../src/krylov/refine.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededBlock, seededPoints, seededVector } from '../random-data.js';
import { points, randomVector, relativeResidual } from './helpers.js';

afterAll(() => shutdownCpuPool());

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));


describe('a float32 CPU kernel with a stored K: refined on the exact residual', () => {
  const X = seededPoints(7, 500, 3);
  const b = seededVector(8, 500);
  const stored = () => gaussianKernel(X, { sigma: 0.5, dtype: 'float32', backend: 'cpu', denseCache: 'always' });
  const dense = gaussianKernel(X, { sigma: 0.5, dtype: 'float64', backend: 'cpu' }).toDense();

  it('a near miss (n = 600, α = 0.1, CG): K.solve returns x within rtol against toDense(); callback and onOuter see the step', async () => {
    const n = 600;
    const P = points(n, 2, 5);
    const rhs = randomVector(n, 6);
    const K = gaussianKernel(P, { sigma: 0.3, dtype: 'float32', backend: 'cpu', denseCache: 'always' });
    const D = await gaussianKernel(P, { sigma: 0.3, dtype: 'float64', backend: 'cpu' }).toDense();
    // before: CgNoConvergence, x at 1.002e-5·‖b‖ against the exact entries
    const x = (await K.solve(rhs, 0.1, { method: 'cg' })) as Float64Array;
    expect(relativeResidual(D, 0.1, x, rhs)).toBeLessThanOrEqual(1e-5);
    const seen: Float64Array[] = [];
    const outer: RefinementProgress[] = [];
    const r = (await K.solve(rhs, 0.1, {
      method: 'cg', returnInfo: true, callback: (xk: Float64Array) => { seen.push(xk); }, onOuter: (p: RefinementProgress) => { outer.push(p); },
    })) as SolveResult<Float64Array>;
    const f = r.float32Entries!;
    expect([r.info, f.verifiedOn, f.refinementSteps]).toEqual([0, 'exact', 1]);
    const [before, after] = f.exactResidualHistory!.map((h) => h[0]! / norm(rhs));
    expect(before).toBeGreaterThan(1e-5);
    expect(before).toBeLessThan(1.1e-5);
    expect(after).toBeCloseTo(relativeResidual(D, 0.1, r.x, rhs), 10);
    // reported as refinedCg reports its outer steps: the exact residuals close the history, onOuter once per step
    expect(r.residualNorms.slice(-2)).toEqual(f.exactResidualHistory!.map((h) => h[0]));
    expect(outer).toMatchObject([{ outer: 1, residualNorm: f.exactResidualNorms![0], contraction: f.exactResidualNorms![0]! / f.exactResidualHistory![0]![0]! }]);
    // the callback follows x through the correction (x + d), ending on the x returned
    expect(seen.length).toBe(r.iterations);
    expect(Array.from(seen.at(-1)!)).toEqual(Array.from(r.x));
    await K.dispose();
  });

  it('α = 2e-3 (the dense factor; 14× the tolerance before): one step, x within rtol against toDense()', async () => {
    const K = stored();
    const r = (await K.solve(b, 2e-3, { returnInfo: true })) as SolveResult<Float64Array>;
    // before: info > 0, 1.4e-4·‖b‖ against the exact entries
    expect([r.info, r.plan.method, r.float32Entries?.refinementSteps]).toEqual([0, 'cholesky', 1]);
    expect(r.float32Entries!.exactResidualHistory![0]![0]! / norm(b)).toBeGreaterThan(1e-4);
    expect(relativeResidual(await dense, 2e-3, r.x, b)).toBeLessThanOrEqual(1e-5);
    expect(relativeResidual(await dense, 2e-3, (await K.solve(b, 2e-3)) as Float64Array, b)).toBeLessThanOrEqual(1e-5);
    await K.dispose();
  });

  it('α = 3e-6 (floor 4.6: the floor bounds a step\'s contraction, which measures 0.09–0.2): refined to rtol in a few steps', async () => {
    const K = stored();
    // before: CgNoConvergence, x at 8.6e-2·‖b‖ against toDense()
    const r = (await K.solve(b, 3e-6, { returnInfo: true })) as SolveResult<Float64Array>;
    const f = r.float32Entries!;
    expect(r.info).toBe(0);
    expect(f.floor).toBeGreaterThan(1);
    expect(f.refinementSteps).toBeGreaterThan(1);
    expect(f.refinementSteps).toBeLessThanOrEqual(6);
    const history = f.exactResidualHistory!.map((h) => h[0]!);
    for (let k = 1; k < history.length; k++) expect(history[k]!).toBeLessThan(0.5 * history[k - 1]!);
    expect(relativeResidual(await dense, 3e-6, r.x, b)).toBeLessThanOrEqual(1e-5);
    await K.dispose();
  });

  it('α = 1e-6 (floor 14, a step would contract by ≈ 0.3): no step runs, CgNoConvergence names the floor and the refinement', async () => {
    const K = stored();
    const err = await K.solve(b, 1e-6).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { message, result } = err as CgNoConvergence;
    expect(message).toMatch(/no refinement step on the exact residual ran: contracting it by 0\.2\d+ a step, it would need at least \d+ steps, beyond the 6 allowed: at α = 0\.000001 the float32 entries' rounding moves the solution by up to about ε₃₂·λ̂\/α = 1\.\d\de\+1/);
    const measured = relativeResidual(await dense, 1e-6, result.x as Float64Array, b);
    const named = Number(/is (\S+)·‖b‖/.exec(message)![1]);
    expect(Math.abs(named / measured - 1)).toBeLessThan(1e-3);
    // at rtol 0.2 one step gets there from 0.29·‖b‖
    const loose = (await K.solve(b, 1e-6, { rtol: 0.2, returnInfo: true })) as SolveResult<Float64Array>;
    expect([loose.info, loose.float32Entries?.refinementSteps]).toEqual([0, 1]);
    expect(relativeResidual(await dense, 1e-6, loose.x, b)).toBeLessThanOrEqual(0.2);
    // at rtol 0.1 too, it seems (0.29 a step), but the second contracts by ≈ 0.5: a step ran, and the miss is said
    const stalled = (await K.solve(b, 1e-6, { rtol: 0.1, returnInfo: true })) as SolveResult<Float64Array>;
    expect(stalled.info).toBeGreaterThan(0);
    expect(stalled.message).toMatch(/after 1 refinement step on the exact residual \(x \+= \(Ã \+ αI\)⁻¹ r\), the last contracting it by only 0\.\d+ \(above 0\.5\)/);
    await K.dispose();
  });

  it('a block of 3 columns: each column refined to rtol against toDense(), its history extended; at α = 1e-6 the worst named', async () => {
    const K = stored();
    const B = seededBlock(9, 500, 3);
    const D = await dense;
    // before: info > 0 and every columnInfo > 0
    const r = (await K.solve(B, 2e-3, { returnInfo: true })) as SolveResult<Matrix>;
    expect(r.info).toBe(0);
    expect(r.columnInfo).toEqual([0, 0, 0]);
    const f = r.float32Entries!;
    expect(f.exactResidualNorms).toHaveLength(3);
    for (let j = 0; j < 3; j++) {
      const residual = relativeResidual(D, 2e-3, r.x.getColumn(j), B.getColumn(j));
      expect(residual).toBeLessThanOrEqual(1e-5);
      expect(f.exactResidualNorms![j]! / norm(B.getColumn(j))).toBeCloseTo(residual, 10);
      expect(r.residualNorms[j]!.at(-1)).toBe(f.exactResidualNorms![j]);
    }
    const err = await K.solve(B, 1e-6).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { result, message } = err as CgNoConvergence;
    const residuals = [0, 1, 2].map((j) => relativeResidual(D, 1e-6, (result.x as Matrix).getColumn(j), B.getColumn(j)));
    expect(message).toContain(`·‖b‖ (column ${residuals.indexOf(Math.max(...residuals))}, the worst)`);
    expect(result.columnInfo!.every((i) => i > 0)).toBe(true);
    await K.dispose();
  });
});
