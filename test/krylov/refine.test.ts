import { describe, expect, it } from 'vitest';
import { Matrix, solve } from 'ml-matrix';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import { refinedCg } from '../../src/krylov/refine.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { countingOperator, kernelMatrix, matvecDense, norm2, randomSymmetric, randomVec } from './helpers.js';
import { seededPoints } from '../random-data.js';

/** A Gaussian kernel matrix on n points in [0,1]² plus αI: the accurate operator. */
function system(n: number, alpha: number) {
  const K = kernelMatrix(seededPoints(5, n, 2).flat(), 2, 'gaussian', 0.2);
  for (let i = 0; i < n; i++) K.set(i, i, K.get(i, i) + alpha);
  return K;
}

/** K + scale·E with E a fixed symmetric matrix of ±1 entries scaled to unit norm: the cheap, inaccurate operator. */
function perturbed(K: Matrix, scale: number, seed: number): Matrix {
  const E = randomSymmetric(K.rows, seed);
  const e = Math.sqrt(E.rows) * 2 / Math.sqrt(3); // ≈ ‖E‖₂ of a symmetric matrix of uniform [−1, 1] entries
  return K.clone().add(E.mul(scale / e));
}

const trueResidual = (A: Matrix, x: Float64Array, b: Float64Array) => norm2(matvecDense(A, x).map((v, i) => b[i]! - v)) / norm2(b);

describe('refinedCg: mixed-precision iterative refinement', () => {
  const n = 300;
  const alpha = 1e-3;
  const A = system(n, alpha);
  const b = randomVec(n, 3);
  const exact = solve(A, Matrix.columnVector(Array.from(b))).getColumn(0);

  it('meets rtol on the accurate operator with inner solves on a perturbed one; x matches a dense solve', async () => {
    const accurate = countingOperator(A);
    const cheap = countingOperator(perturbed(A, 1e-5, 8)); // contraction ≈ ‖E‖/λ_min ≈ 1e-2
    const outer: { residualNorm: number; contraction: number }[] = [];
    const res = await refinedCg(accurate, b, { inner: cheap, rtol: 1e-10, onOuter: (p) => outer.push(p) });
    expect(res.info).toBe(0);
    expect(res.fellBack).toBe(false);
    expect(trueResidual(A, res.x, b)).toBeLessThanOrEqual(1e-10);
    const err = Math.hypot(...res.x.map((v, i) => v - exact[i]!)) / Math.hypot(...exact);
    expect(err).toBeLessThan(1e-8);
    // every accurate product is one outer residual (b's residual needs none from x = 0)
    expect(accurate.count.matvec).toBe(res.outerIterations);
    expect(res.outerIterations).toBe(outer.length);
    expect(res.innerIterations.reduce((a, c) => a + c, 0)).toBe(res.iterations);
    // each step contracted (by far more than the fallback threshold); the history is the true one
    // each step but the last (which asks only for what is left to rtol) contracts by ≈ η = 0.05 (measured 0.023–0.045)
    for (const o of outer.slice(0, -1)) expect(o.contraction).toBeLessThan(0.1);
    expect(res.residualNorms[res.residualNorms.length - 1]).toBeCloseTo(trueResidual(A, res.x, b) * norm2(b), 14);
    expect(res.residualNorms.length).toBe(res.outerIterations + 1);
  });

  it('falls back to CG on the accurate operator when the cheap products do not contract, or are indefinite', async () => {
    // Ã = A + 3αI: positive definite, but (A − Ã)Ã⁻¹ ≈ −3α/(λ + 4α) is ≈ 0.75 in A's smallest eigendirections
    const shifted = A.clone().add(Matrix.eye(n).mul(3 * alpha));
    const res = await refinedCg(aslinearoperator(A), b, { inner: aslinearoperator(shifted), rtol: 1e-9, maxiter: 5000 });
    expect(res.info).toBe(0);
    expect(res.fellBack).toBe(true);
    expect(res.message).toMatch(/refinement contracted by only 0\.\d+ per step; CG on the accurate operator finished/);
    expect(trueResidual(A, res.x, b)).toBeLessThanOrEqual(1e-9);
    // ‖E‖ = 0.05 ≫ α: Ã is indefinite, the inner CG breaks down
    const indefinite = await refinedCg(aslinearoperator(A), b, { inner: aslinearoperator(perturbed(A, 5e-2, 9)), rtol: 1e-9, maxiter: 5000 });
    expect(indefinite.info).toBe(0);
    expect(indefinite.fellBack).toBe(true);
    expect(indefinite.message).toMatch(/inner CG broke down .* CG on the accurate operator finished/);
    expect(indefinite.breakdown).toBeUndefined(); // the fallback on A converged
    expect(trueResidual(A, indefinite.x, b)).toBeLessThanOrEqual(1e-9);
  });

  it('x0, a preconditioner, progress across steps; limits and bad input', async () => {
    const cheap = aslinearoperator(perturbed(A, 1e-5, 8));
    // Jacobi-like M: diag(A)⁻¹
    const M = aslinearoperator(Matrix.diag(Array.from({ length: n }, (_, i) => 1 / A.get(i, i))));
    const progress: number[] = [];
    const x0 = new Float64Array(n).fill(0.5);
    const res = await refinedCg(aslinearoperator(A), b, { inner: cheap, M, x0, rtol: 1e-9, onProgress: (p) => progress.push(p.iteration) });
    expect(res.info).toBe(0);
    expect(trueResidual(A, res.x, b)).toBeLessThanOrEqual(1e-9);
    // inner iterations are numbered across the outer steps
    expect(progress[progress.length - 1]).toBe(res.iterations);
    for (let t = 1; t < progress.length; t++) expect(progress[t]!).toBeGreaterThan(progress[t - 1]!);

    // an indefinite M: the inner CG and then the fallback break down, and the cause is reported as cg's
    const broken = await refinedCg(aslinearoperator(A), b, { inner: cheap, M: aslinearoperator(Matrix.eye(n).mul(-1)) });
    expect(broken.info).toBe(-1);
    expect(broken.fellBack).toBe(true);
    expect(broken.breakdown).toBe('preconditioner');

    const capped = await refinedCg(aslinearoperator(A), b, { inner: cheap, rtol: 1e-12, maxiter: 5 });
    expect(capped.info).toBeGreaterThan(0);
    expect(capped.message).toMatch(/maxiter \(5\)/);
    await expect(refinedCg(aslinearoperator(A), b, { inner: cheap, rtol: 1e-12, maxiter: 5, throwOnNoConvergence: true })).rejects.toBeInstanceOf(CgNoConvergence);
    await expect(refinedCg(aslinearoperator(A), b, { inner: aslinearoperator(Matrix.eye(n - 1)) })).rejects.toThrow(/inner operator must be 300x300 like A, got 299x299/);
    await expect(refinedCg(aslinearoperator(A), b, { inner: cheap, innerRtol: 1 })).rejects.toThrow('refinedCg: innerRtol must be a finite number > 0 and < 1, got number 1');
    await expect(refinedCg(aslinearoperator(A), b, { inner: cheap, maxOuterr: 3 } as never)).rejects.toThrow(/refinedCg: unknown option 'maxOuterr' in options \(did you mean 'maxOuter'\?\)/);
    await expect(refinedCg(aslinearoperator(A), b, { inner: cheap, relaxed: { A: cheap, below: 1 } } as never)).rejects.toThrow(/refinedCg: unknown option 'relaxed'/);
    await expect(refinedCg(aslinearoperator(A), b, {} as never)).rejects.toThrow(/refinedCg: option 'inner' is required/);
    await expect(refinedCg(aslinearoperator(A), b.subarray(1), { inner: cheap })).rejects.toThrow(/b/);
    const bad = Float64Array.from(b);
    bad[4] = NaN;
    await expect(refinedCg(aslinearoperator(A), bad, { inner: cheap })).rejects.toThrow(/NaN|not finite/);
  });
});
