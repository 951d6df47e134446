/**
 * A GPU kernel's `solve` applies K's float32-rounded entries K̃ (its CPU twin's stored float32 K for the dense factor,
 * the compensated products for CG). Where the floor ε₃₂·λ̂/α is above rtol, x's residual on the exact entries used to
 * decide info alone: a miss threw CgNoConvergence (at α = 2·10⁻³, 14× the tolerance). Now x is refined on the exact
 * residual by the same route and `K.solve` returns it. References: residuals against `K.toDense()` (the formula in
 * float64, plain JS), summed in plain loops.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededBlock, seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';
import { relativeResidual } from '../preconditioners/helpers.js';

afterAll(() => shutdownCpuPool());

const n = 500;
const X = seededPoints(7, n, 3);
const b = seededVector(8, n);

describe.runIf(hasGpu)("a float32 GPU kernel's solve refined on the exact residual", () => {
  it('α = 2e-3 (the dense factor of the float32 entries): K.solve returns x within rtol against toDense()', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, backend: 'gpu' });
    const D = await K.toDense();
    // before: CgNoConvergence, x at 1.4e-4·‖b‖ against the exact entries
    const x = (await K.solve(b, 2e-3)) as Float64Array;
    expect(relativeResidual(D, 2e-3, x, b)).toBeLessThanOrEqual(1e-5);
    const r = (await K.solve(b, 2e-3, { returnInfo: true })) as SolveResult<Float64Array>;
    expect([r.info, r.plan.method, r.plan.twin, r.float32Entries?.refinementSteps]).toEqual([0, 'cholesky', true, 1]);
    await K.dispose();
  });

  it('α = 3e-6 (floor 4.6): refined to rtol in a few steps, where it returned 8.6e-2·‖b‖ with info 0, then threw', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, backend: 'gpu' });
    const r = (await K.solve(b, 3e-6, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBe(0);
    expect(r.float32Entries!.refinementSteps).toBeGreaterThan(1);
    expect(relativeResidual(await K.toDense(), 3e-6, r.x, b)).toBeLessThanOrEqual(1e-5);
    await K.dispose();
  });

  it('a block of 3 columns (α = 2e-3): every column within rtol against toDense(), columnInfo 0', async () => {
    const K = gaussianKernel(X, { sigma: 0.5, backend: 'gpu' });
    const B = seededBlock(9, n, 3);
    const D = await K.toDense();
    // before: CgNoConvergence, every columnInfo > 0
    const x = (await K.solve(B, 2e-3)) as Matrix;
    for (let j = 0; j < 3; j++) expect(relativeResidual(D, 2e-3, x.getColumn(j), B.getColumn(j))).toBeLessThanOrEqual(1e-5);
    await K.dispose();
  });
});
