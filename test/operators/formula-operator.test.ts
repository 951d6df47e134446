/**
 * A builder formula is an operator (issue 19, item 1): `aslinearoperator(F)`, `kernelOperator(F)` and the Formula's
 * own matvec / rmatvec / matmat / T / solve / eigsh, checked against dense float64 references written here with
 * plain loops and ml-matrix's LU and eigendecomposition; symmetric formulas get the symmetric solve plan (and the
 * preconditioner), non-symmetric ones are refused with the reason.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix, solve as denseSolve } from 'ml-matrix';
import {
  KernelOperator, Vi, Vj, aslinearoperator, gaussianKernel, kernelOperator, solvePlan,
} from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const n = 60;
const p = seededPoints(7, n, 3);
const q = seededPoints(8, 45, 3);

/** exp(−50‖a − b‖²) by plain loops. */
function gaussDense(a: number[][], b: number[][]): Matrix {
  const K = new Matrix(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += (a[i]![k]! - b[j]![k]!) ** 2;
      K.set(i, j, Math.exp(-50 * s));
    }
  }
  return K;
}

const relErr = (got: ArrayLike<number>, want: ArrayLike<number>): number => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) { num += (got[i]! - want[i]!) ** 2; den += want[i]! ** 2; }
  return Math.sqrt(num / den);
};
const times = (K: Matrix, v: Float64Array) => Float64Array.from(K.mmul(Matrix.columnVector(Array.from(v))).getColumn(0));

describe('a formula is an operator', () => {
  const F = Vi(p).sub(Vj(p)).sqnorm2().mul(-50).exp(); // the KeOps idiom, passed straight in
  const K = gaussDense(p, p);
  const v = seededVector(1, n);

  it('aslinearoperator(F) is its KernelOperator, symmetric, with the right products', async () => {
    const A = aslinearoperator(F);
    expect(A).toBeInstanceOf(KernelOperator);
    expect(A).toBe(F.toOperator()); // one operator per formula
    expect(A.symmetric).toBe(true);
    expect(A.T).toBe(A);
    expect(relErr(await A.matvec(v), times(K, v))).toBeLessThan(1e-13);
    expect(kernelOperator(F).symmetric).toBe(true);
  });

  it('F.matvec, F.rmatvec, F.matmat and F.T on a rectangular formula', async () => {
    const G = Vi(p).sub(Vj(q)).sqnorm2().mul(-50).exp();
    const Kpq = gaussDense(p, q);
    const w = seededVector(2, q.length);
    expect(relErr(await G.matvec(w), times(Kpq, w))).toBeLessThan(1e-13);
    expect(relErr(await G.rmatvec(v), times(Kpq.transpose(), v))).toBeLessThan(1e-13);
    expect(relErr(await G.T.matvec(v), times(Kpq.transpose(), v))).toBeLessThan(1e-13);
    const X = new Matrix([...Array(q.length)].map((_, j) => [w[j]!, 1, -j / 10]));
    const Y = await G.matmat(X);
    expect(relErr(Y.to1DArray(), Kpq.mmul(X).to1DArray())).toBeLessThan(1e-13);
    expect(G.toOperator().symmetric).toBe(false);
  });

  it('F.solve equals the dense solve of (K + αI) x = b', async () => {
    const alpha = 1e-2;
    const x = await F.solve(v, alpha, { rtol: 1e-10 });
    const want = denseSolve(K.clone().add(Matrix.eye(n).mul(alpha)), Matrix.columnVector(Array.from(v))).getColumn(0);
    expect(relErr(x, want)).toBeLessThan(1e-8);
  });

  it('F.eigsh gives the top eigenvalues of the dense K', async () => {
    const { eigenvalues } = await F.eigsh(3);
    const all = new EigenvalueDecomposition(K, { assumeSymmetric: true }).realEigenvalues.sort((a, b) => a - b);
    expect(relErr(eigenvalues, all.slice(-3))).toBeLessThan(1e-10);
  });

  it('solve and eigsh refuse a non-symmetric formula, saying why', async () => {
    const G = Vi(p).mul(2).sub(Vj(p)).sqnorm2().neg().exp(); // square, same points, not symmetric
    expect(G.toOperator().symmetric).toBe(false);
    await expect(G.solve(v, 1e-2)).rejects.toThrow(/not symmetric/);
    await expect(G.eigsh(2)).rejects.toThrow(/not symmetric/);
  });

  it('a vector-valued formula is refused as an operator, naming its dimension', () => {
    expect(() => Vi(p).sub(Vj(p)).toOperator()).toThrow(/scalar-valued, got dimension 3/);
    expect(() => aslinearoperator(Vi(p).sub(Vj(p)))).toThrow(/scalar-valued/);
  });
});

describe('a formula kernel gets what the named kernel gets', () => {
  const m = 400;
  const pts = seededPoints(11, m, 3);
  const s = 0.2;
  const b = seededVector(3, m);

  it("kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s }) is symmetric and solves as gaussianKernel", async () => {
    const F = kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(pts), y: Vj(pts), s });
    const G = gaussianKernel(pts, { sigma: s });
    expect(F.symmetric).toBe(true);
    const [pf, pg] = [await solvePlan(F, b, 1e-3), await solvePlan(G, b, 1e-3)];
    expect(pf.method).toBe(pg.method);
    expect(pf.preconditioner).toBe(pg.preconditioner);
    const xf = await F.solve(b, 1e-3, { rtol: 1e-10 });
    const xg = await G.solve(b, 1e-3, { rtol: 1e-10 });
    expect(relErr(xf, xg)).toBeLessThan(1e-7);
  });

  it('{ symmetric: false } turns the inference off', () => {
    const F = kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(pts), y: Vj(pts) }, { symmetric: false });
    expect(F.symmetric).toBe(false);
  });
});
