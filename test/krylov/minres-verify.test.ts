/**
 * minres claims convergence only on a true residual: ‖b − (A − shift·I) x‖ ≤ max(rtol·‖b‖, atol), checked with one
 * product whenever a stopping test fires. scipy's minres (1.17.1) returns info 0 on the 30×30 Poisson problem below at
 * relative residual 1.26e-2 (rtol 1e-5, 27 iterations: its test ‖r‖ ≤ rtol·‖A‖·‖x‖ is a backward error), and on
 * the float32 kernel system at 9.1e-3; each case here failed that way before.
 */
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { minres } from '../../src/krylov/minres.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { countingOperator, matvecDense, norm2, randomSymmetric, randomVec } from './helpers.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** The 5-point Laplacian on an m×m grid (Dirichlet boundary), n = m². */
function poisson2d(m: number): Matrix {
  const A = new Matrix(m * m, m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const p = i * m + j;
      A.set(p, p, 4);
      if (i > 0) A.set(p, p - m, -1);
      if (i < m - 1) A.set(p, p + m, -1);
      if (j > 0) A.set(p, p - 1, -1);
      if (j < m - 1) A.set(p, p + 1, -1);
    }
  }
  return A;
}

const residualOf = (A: Matrix, x: Float64Array, b: ArrayLike<number>, shift = 0) =>
  norm2(matvecDense(A, x).map((v, i) => b[i]! - (v - shift * x[i]!)));

describe('minres verifies its convergence claims', () => {
  it('poisson2d (30×30 grid): info 0 only at a true relative residual ≤ rtol', async () => {
    const A = poisson2d(30);
    const b = new Float64Array(900).fill(1);
    for (const rtol of [1e-5, 1e-8]) {
      const res = await minres(countingOperator(A), b, { rtol });
      expect(res.info).toBe(0);
      const r = residualOf(A, res.x, b);
      expect(r).toBeLessThanOrEqual(rtol * norm2(b));
      expect(res.residualNorms[res.iterations]).toBeCloseTo(r, 12);
      expect(res.residualNorms.length).toBe(res.iterations + 1);
    }
    // with a (scaled identity) preconditioner: the same honest answer
    const M = Matrix.eye(900).mul(0.25);
    const pre = await minres(countingOperator(A), b, { rtol: 1e-5, M });
    expect(pre.info).toBe(0);
    expect(residualOf(A, pre.x, b)).toBeLessThanOrEqual(1e-5 * norm2(b));
  });

  it('a float32 kernel operator: converged means the true residual of its products meets rtol; else info > 0', async () => {
    const u = randomVec(600, 3);
    const points = Array.from({ length: 300 }, (_, i) => [u[2 * i]!, u[2 * i + 1]!]);
    const K = gaussianKernel(points, { sigma: 0.3, dtype: 'float32' });
    const b = randomVec(300, 5);
    const bnorm = norm2(b);
    const trueResidual = async (x: Float64Array, shift: number) => norm2((await K.matvec(x)).map((v, i) => b[i]! - (v - shift * x[i]!)));
    for (const shift of [0.5, 2]) {
      const res = await minres(K, b, { shift, rtol: 1e-5 });
      expect(res.info).toBe(0);
      expect(await trueResidual(res.x, shift)).toBeLessThanOrEqual(1e-5 * bnorm);
    }
    // (K − 0·I) in float32 is singular to its products' accuracy: scipy's test fires at residual 0.79·‖b‖
    const hopeless = await minres(K, b, { rtol: 1e-5, maxiter: 150 });
    expect(hopeless.info).toBe(150);
    expect(hopeless.message).toMatch(/maxiter = 150 reached with ‖b − \(A − shift·I\) x‖ = .* > tolerance/);
    expect(hopeless.residualNorms[150]).toBeCloseTo(await trueResidual(hopeless.x, 0), 6);
    expect(hopeless.residualNorms[150]! / bnorm).toBeGreaterThan(0.1);
  });

  it('inexact products (an error that changes at every call): converged where they allow it, info > 0 at their floor in bounded time', async () => {
    const n = 120;
    const A = randomSymmetric(n, 7);
    const rng = mulberry32(11);
    // products with a relative error of 1e-7 that changes at every call (no fixed operator to converge on)
    const noisy = aslinearoperator({
      shape: [n, n], dtype: 'float32', matvec: (x: Float64Array) => {
        const y = matvecDense(A, x);
        const s = (1e-7 * norm2(y)) / Math.sqrt(n);
        return y.map((v) => v + s * (rng() - 0.5));
      },
    });
    const b = randomVec(n, 8);
    const ok = await minres(noisy, b, { rtol: 1e-5, maxiter: 5000 });
    expect(ok.info).toBe(0);
    expect(residualOf(A, ok.x, b)).toBeLessThanOrEqual(1.01e-5 * norm2(b));
    const floor = await minres(noisy, b, { rtol: 1e-12, maxiter: 5000 });
    expect(floor.info).toBeGreaterThan(0);
    expect(floor.iterations).toBeLessThan(5000);
    expect(floor.message).toMatch(/stagnated: .* 3 checks in a row without progress \(returning the best iterate\)/);
    expect(residualOf(A, floor.x, b)).toBeLessThan(1e-4 * norm2(b));
  });

  it('rtol below what float64 attains: info > 0 with istop 3 (scipy: info 0), x at the floor', async () => {
    const A = randomSymmetric(40, 12);
    const b = randomVec(40, 13);
    const res = await minres(A, b, { rtol: 1e-18, maxiter: 400 });
    expect(res.info).toBeGreaterThan(0);
    expect(res.istop).toBe(3);
    expect(res.message).toMatch(/Reasonable accuracy achieved, given eps but .* > tolerance .*: the tolerance is below the accuracy float64 attains/);
    expect(residualOf(A, res.x, b) / norm2(b)).toBeLessThan(1e-12);
  });

  it('a preconditioner singular along r0 (rᵀM r = 0, r ≠ 0) is a breakdown, not "the exact solution x0" (scipy\'s)', async () => {
    const n = 30;
    const A = aslinearoperator({ shape: [n, n], matvec: (x: Float64Array) => x.map((v, i) => (i - 10.5) * v) });
    const M = aslinearoperator({ shape: [n, n], matvec: (x: Float64Array) => x.map((v, i) => (i % 2 ? -1 : 1) * v) });
    const res = await minres(A, new Float64Array(n).fill(1), { M });
    expect(res.info).toBe(-1);
    expect(res.message).toMatch(/rᵀM r = 0 where ‖r‖ = 5\.477e\+0: the preconditioner M is not positive definite/);
    // r0 = 0 is the exact solution still
    const exact = await minres(A, new Float64Array(n), { M });
    expect(exact.info).toBe(0);
  });

  it('rtol = Infinity or atol = Infinity: converged at once with x0 returned and info 0', async () => {
    const A = countingOperator(randomSymmetric(30, 3));
    const b = randomVec(30, 4);
    const x0 = randomVec(30, 5);
    for (const tol of [{ rtol: Infinity }, { atol: Infinity }]) {
      const zero = await minres(A, b, tol);
      expect([zero.info, zero.iterations, zero.matvecs]).toEqual([0, 0, 0]);
      expect(zero.x.every((v) => v === 0)).toBe(true);
      const warm = await minres(A, b, { ...tol, x0 });
      expect([warm.info, warm.iterations]).toEqual([0, 0]);
      expect(Array.from(warm.x)).toEqual(Array.from(x0));
    }
    // atol alone: ‖b − A x‖ ≤ atol
    const abs = await minres(A, b, { rtol: 0, atol: 1e-6 * norm2(b), maxiter: 1000 });
    expect(abs.info).toBe(0);
    expect(residualOf(randomSymmetric(30, 3), abs.x, b)).toBeLessThanOrEqual(1e-6 * norm2(b));
  });

  it('options: unknown keys refused by name, scipy\'s `show` refused with what to use, wrong types quoted', async () => {
    const A = randomSymmetric(10, 1);
    const b = randomVec(10, 2);
    await expect(minres(A, b, { rtoll: 1e-8 } as never)).rejects.toThrow(/minres: unknown option 'rtoll' in options \(did you mean 'rtol'\?\); known options: x0, shift, rtol, atol/);
    await expect(minres(A, b, { tol: 1e-8 } as never)).rejects.toThrow(/unknown option 'tol'.*did you mean 'rtol'/);
    await expect(minres(A, b, { show: true } as never)).rejects.toThrow("minres: scipy's option 'show' is not supported: use onProgress");
    await expect(minres(A, b, { shift: '1' } as never)).rejects.toThrow('minres: shift must be a finite number, got a string "1"');
    await expect(minres(A, b, { rtol: -1 })).rejects.toThrow('minres: rtol must be a number ≥ 0 (Infinity allowed), got number -1');
    await expect(minres(A, b, { check: 1 } as never)).rejects.toThrow('minres: check must be true or false, got number 1');
    await expect(minres(A, b, { M: 'jacobi' } as never)).rejects.toThrow(/minres: M must be an operator .*got a string "jacobi"/);
  });
});
