import { describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { KernelOperator } from '../../src/operators/kernel-operator.js';
import { DenseOperator } from '../../src/operators/dense.js';
import { parameterDerivativeOperator } from '../../src/autodiff/kernel-derivatives.js';
import { pivotedCholeskyPreconditioner } from '../../src/preconditioners/pivoted-cholesky.js';
import { seededPoints } from '../random-data.js';

describe("pivoted Cholesky's exact trace tr(P⁻¹D) (the trace control variate)", () => {
  // n = 300 takes three dense panels of D (128, 128, 44 columns): the panel path against the dense formula
  it('for D = ∂K/∂σ (panels of D times L) equals Σ_ij (P⁻¹)_ij D_ij from dense matrices', async () => {
    const n = 300;
    const K = gaussianKernel(seededPoints(3, n, 3), { sigma: 0.3 });
    const D = parameterDerivativeOperator(K, 'sigma');
    expect(D instanceof KernelOperator && D.symmetric && D.backend === 'cpu').toBe(true); // the panel route's operators
    const P = await pivotedCholeskyPreconditioner(K, { rank: 40, shift: 1e-2 });
    const got = await P.traceInverseProduct(D, true);
    const Dd = await D.toDense();
    const PinvD = await P.matmat(Dd);
    let want = 0;
    for (let i = 0; i < n; i++) want += PinvD.get(i, i);
    expect(Math.abs(got! - want)).toBeLessThanOrEqual(1e-10 * Math.abs(want));
    // the same through the generic route (D as a dense operator: one product with L's columns)
    const viaProducts = await P.traceInverseProduct(new DenseOperator(Dd), true);
    expect(Math.abs(got! - viaProducts!)).toBeLessThanOrEqual(1e-10 * Math.abs(want));
  });
});
