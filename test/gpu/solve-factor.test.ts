/**
 * `solve` on a GPU kernel operator where K fits the dense budget: a dense factor of K's entries, evaluated by the
 * operator's CPU twin (same formula and dtype), as a CPU operator gets — not block CG on the GPU's products (the issue's
 * own case, n = 1,257, d = 64, 10 columns, ran 507 iterations there: 127 s on llvmpipe against 0.16 s). References: a
 * float64 Cholesky (plain JS, preconditioners/dense.ts) of K.toDense() + αI, and residuals computed here in float64 on
 * the products of the float64 CPU operator of the same formula (K's exact entries, which x is refined against).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { matrixToRowMajor } from '../../src/operators/validate.js';
import { choleskySolveInPlace, choleskyUpper } from '../../src/preconditioners/dense.js';
import { solvePlan, solveShifted, type SolveResult } from '../../src/preconditioners/solve.js';
import { AUTO_MIN_N } from '../../src/preconditioners/auto.js';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';

afterAll(() => shutdownCpuPool());

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => norm(Array.from(a, (v, i) => v - b[i]!)) / norm(b);

/** x = (K + αI)⁻¹ b by a float64 Cholesky of K's float64 entries. */
async function reference(K: ReturnType<typeof gaussianKernel>, alpha: number, b: Float64Array): Promise<Float64Array> {
  const n = K.shape[0];
  const M = matrixToRowMajor(await K.toDense());
  for (let i = 0; i < n; i++) M[i * n + i]! += alpha;
  return choleskySolveInPlace(choleskyUpper(M, n)!, n, Float64Array.from(b), 1);
}

describe.runIf(hasGpu)('solve on a GPU kernel operator within the dense budget', () => {
  const n = 300;
  const X = seededPoints(91, n, 3);
  const b = seededVector(92, n);
  const gpuKernel = (options: { denseCache?: 'never' } = {}) => gaussianKernel(X, { sigma: 0.3, backend: 'gpu', ...options });
  /** ‖(c·K + αI)x − b‖/‖b‖ on K's exact entries (the float64 CPU operator of the formula), summed here in float64. */
  const exactResidual = async (alpha: number, x: Float64Array, rhs: Float64Array, c = 1) => {
    const Kx = await gaussianKernel(X, { sigma: 0.3, dtype: 'float64', backend: 'cpu', denseCache: 'never' }).matvec(x);
    return norm(Array.from(rhs, (v, i) => v - c * Kx[i]! - alpha * x[i]!)) / norm(rhs);
  };

  it('factors the CPU twin\'s entries and meets rtol on their products, 10 columns as one', async () => {
    const K = gpuKernel();
    const alpha = 1e-2;
    const B = new Matrix(n, 10);
    for (let j = 0; j < 10; j++) B.setColumn(j, Array.from(seededVector(100 + j, n)));
    const r = (await solveShifted(K, B, alpha, { rtol: 1e-10, returnInfo: true })) as SolveResult<Matrix>;
    // rtol 1e-10 is far under the float32 entries' floor ε₃₂·λ̂/α: the factor's x met it on those entries and missed it
    // against the exact ones (info > 0 before; before that, info 0); refined on the exact residual by the same factor
    // (float32-refinement.test.ts), x meets it against them
    expect(r.info).toBe(0);
    expect(r.float32Entries?.refinementSteps).toBeGreaterThan(0);
    expect(r.plan.method).toBe('cholesky'); // before: 'cg' ("no stored dense form of A within its memory budget")
    expect(r.plan.twin).toBe(true);
    expect(r.plan.operator.toString()).toMatch(/float32 cpu>$/); // the GPU operator's dtype, on the CPU
    const ref = await reference(gaussianKernel(X, { sigma: 0.3, dtype: 'float64' }), alpha, Float64Array.from(B.getColumn(3)));
    for (const j of [0, 3, 9]) {
      const x = Float64Array.from(r.x.getColumn(j));
      const bj = Float64Array.from(B.getColumn(j));
      expect(await exactResidual(alpha, x, bj)).toBeLessThanOrEqual(1e-10);
      // the float64 entries' solution, within κ·rtol (κ ≈ 5·10³ here); the float32 entries' one was 1.0e-5 from it
      if (j === 3) expect(relDiff(x, ref)).toBeLessThan(1e-6);
    }
    await K.dispose();
  });

  it('solves where CG on the GPU\'s products cannot (α = 10⁻⁶: before, CgNoConvergence after 3,000 iterations)', async () => {
    const K = gpuKernel();
    const r = (await solveShifted(K, b, 1e-6, { returnInfo: true })) as SolveResult<Float64Array>;
    // the float32 entries' system is solved to rtol; against the exact entries (floor ε₃₂·λ̂/α > rtol) x missed it
    // (info > 0 before; before that, info 0): refined on the exact residual by the same factor, it meets it
    expect(r.info).toBe(0);
    expect(r.float32Entries).toMatchObject({ verifiedOn: 'exact', refinementSteps: expect.any(Number) });
    expect(r.float32Entries!.refinementSteps).toBeGreaterThan(0);
    expect(r.plan.method).toBe('cholesky');
    expect(await exactResidual(1e-6, r.x, b)).toBeLessThanOrEqual(1e-5);
    // the convenience returns the same x: the factor is reused (cached on K)
    expect(relDiff((await K.solve(b, 1e-6)) as Float64Array, r.x)).toBeLessThan(1e-12);
    // under algebra: 2K + 10⁻⁶I, its refinement on 2·(CPU twin); that is K + 5·10⁻⁷I scaled, whose floor (7.4) the
    // refinement cannot overcome (it contracts by ≈ 0.2 a step): the miss is said, with the steps that ran
    const scaled = (await solveShifted(K.scale(2), b, 1e-6, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(scaled.info).toBeGreaterThan(0);
    expect(scaled.message).toMatch(/after \d refinement steps? on the exact residual/);
    expect([scaled.plan.method, scaled.plan.twin]).toEqual(['cholesky', true]);
    expect(scaled.plan.operator.toString()).toMatch(/ScaledOperator\(2 \* <300x300 KernelOperator\(gaussian σ=0\.3\) float32 cpu>/);
    expect(await exactResidual(1e-6, scaled.x, b, 2)).toBeCloseTo(scaled.float32Entries!.exactResidualNorms![0]! / norm(b), 8);
    // after dispose() (the twin's stored K released) the next solve stores it again
    await K.dispose();
    const again = (await solveShifted(K, b, 1e-6, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(again.plan.method).toBe('cholesky');
    expect(relDiff(again.x, r.x)).toBeLessThan(1e-10);
    await K.dispose();
  });

  it('from AUTO_MIN_N points keeps the GPU\'s preconditioned CG (the factor would grow as n³ on the CPU)', async () => {
    const big = AUTO_MIN_N;
    const K = gaussianKernel(seededPoints(93, big, 3), { sigma: 0.3, backend: 'gpu' });
    const plan = await solvePlan(K, seededVector(94, big), 1e-2);
    expect(plan.method).not.toBe('cholesky');
    expect(plan.reason).toMatch(/stored only by its CPU twin/);
    await K.dispose();
  });

  it('a float32 K + αI made indefinite by its rounding: the breakdown says so, and what to do', async () => {
    // 200 points on a line, σ = 0.1: K's smallest eigenvalues lie far below ε₃₂·‖K‖ ≈ 5.5e-6, so α = 10⁻⁸ leaves the
    // float32 entries' matrix indefinite — the factor fails, CG breaks down; before, "A is not positive definite" alone
    const line = Array.from({ length: 200 }, (_, i) => [i / 199]);
    const y = Float64Array.from(line, ([t]) => Math.sin(6 * t!));
    const K = gaussianKernel(line, { sigma: 0.1, backend: 'gpu' });
    const err = await K.solve(y, 1e-8).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    expect((err as Error).message).toMatch(/A is not positive definite; A is float32: rounding its entries moves its eigenvalues by up to about ε₃₂·‖A‖ ≈ \d\.\de-6, more than α = 1e-8 covers — use dtype 'float64' \(on the CPU\) or a larger α$/);
    // which float64 solves
    const x = (await gaussianKernel(line, { sigma: 0.1, dtype: 'float64' }).solve(y, 1e-8)) as Float64Array;
    expect(x.every(Number.isFinite)).toBe(true);
    await K.dispose();
  });

  it("denseCache: 'never' keeps the GPU's CG (and says why when it cannot converge)", async () => {
    const K = gpuKernel({ denseCache: 'never' });
    const r = (await solveShifted(K, b, 0.5, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.plan.method).not.toBe('cholesky');
    expect(r.plan.reason).toMatch(/no stored dense form/);
    expect(r.info).toBe(0);
    await expect(solveShifted(K, b, 1e-6, { maxiter: 20 })).rejects.toBeInstanceOf(CgNoConvergence);
  });
});
