// A float32 CPU kernel whose K a solve does not store sums its products in float32: CG on them stalls near
// ε₃₂·λ̂/α·‖b‖. `solve` then refines float32 inner solves on the float64 operator of the same formula (its twin), as a
// GPU solve does on compensated products, and reaches rtol against the float64 K — checked here against the dense
// float64 matrix. Where the floor is below rtol/10, or K is stored (its products sum in float64), no twin is made.
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gaussianKernel, laplacianKernel } from '../../src/operators/kernels.js';
import type { KernelOperator } from '../../src/operators/kernel-operator.js';
import type { SolveResult } from '../../src/preconditioners/index.js';
import { points, randomVector } from './helpers.js';

const n = 600;
const X = points(n, 2, 5);
const b = randomVector(n, 6);
const alpha = 0.1;

/** ‖(K + αI)x − b‖ / ‖b‖ with K the dense float64 matrix of `K64` (a float64 operator of the same formula). */
async function trueResidual(K64: KernelOperator, x: Float64Array): Promise<number> {
  const D = (await K64.toDense()) as Matrix;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    let s = alpha * x[i]!;
    for (let j = 0; j < n; j++) s += D.get(i, j) * x[j]!;
    num += (s - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe('solve on a float32 CPU kernel whose K is not stored', () => {
  for (const [name, make] of [['gaussian', gaussianKernel], ['laplacian', laplacianKernel]] as const) {
    for (const rtol of [undefined, 1e-9]) {
      it(`${name}, rtol ${rtol ?? 'default (1e-5)'}: refines on the float64 twin and meets rtol against the float64 K`, async () => {
        const K = make(X, { sigma: 0.3, dtype: 'float32', backend: 'cpu', denseCache: 'never' });
        const r = (await K.solve(b, alpha, { returnInfo: true, ...(rtol === undefined ? {} : { rtol }) })) as SolveResult<Float64Array>;
        expect(r.info).toBe(0);
        expect(r.plan.method).toBe('refined-cg');
        expect(r.plan.twin).toBe(true);
        expect(r.plan.operator.dtype).toBe('float64');
        const K64 = make(X, { sigma: 0.3, dtype: 'float64', backend: 'cpu', denseCache: 'never' });
        // the refinement's own verified residual is the twin's; the dense float64 product agrees to rounding
        expect(await trueResidual(K64, r.x)).toBeLessThanOrEqual(1.01 * (rtol ?? 1e-5));
        // the convenience returns x (it threw CgNoConvergence after 245 iterations when CG ran on float32 sums)
        const x = await K.solve(b, alpha, rtol === undefined ? {} : { rtol });
        expect(await trueResidual(K64, x as Float64Array)).toBeLessThanOrEqual(1.01 * (rtol ?? 1e-5));
      });
    }
  }

  it('makes no twin where the float32 floor is below rtol/10, nor where K is stored', async () => {
    const K = gaussianKernel(X, { sigma: 0.3, dtype: 'float32', backend: 'cpu', denseCache: 'never' });
    const loose = (await K.solve(b, alpha, { returnInfo: true, rtol: 0.05 })) as SolveResult<Float64Array>;
    expect(loose.plan.twin).toBe(false);
    expect(loose.info).toBe(0);
    const stored = gaussianKernel(X, { sigma: 0.3, dtype: 'float32', backend: 'cpu', denseCache: 'always' });
    // rtol 1e-3, above the floor (1.2e-4): at the default 1e-5 CG met rtol on the stored float32 entries (9.7e-6·‖b‖)
    // and x is refined on the exact entries' residual (1.0003e-5·‖b‖ there: float32-refinement.test.ts)
    const viaCg = (await stored.solve(b, alpha, { returnInfo: true, method: 'cg', rtol: 1e-3 })) as SolveResult<Float64Array>;
    expect(viaCg.plan.twin).toBe(false);
    expect(viaCg.info).toBe(0);
    const over = gaussianKernel(X, { sigma: 0.3, dtype: 'float32', backend: 'cpu', denseCacheBytes: 1024 });
    expect(((await over.solve(b, alpha, { returnInfo: true })) as SolveResult<Float64Array>).plan.twin).toBe(true);
  });
});
