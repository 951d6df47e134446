/** Independent dense references for the preconditioner tests (ml-matrix and plain loops). */
import { EVD, Matrix, QrDecomposition, inverse } from 'ml-matrix';
import { mulberry32, seededPoints, seededVector } from '../random-data.js';
import { DenseOperator } from '../../src/operators/dense.js';

export function gaussianMatrix(n: number, k: number, seed: number): Matrix {
  const rng = mulberry32(seed);
  const M = new Matrix(n, k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const u = 1 - rng();
      M.set(i, j, Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng()));
    }
  }
  return M;
}

/** A = Q diag(λ) Qᵀ with a random orthogonal Q: a matrix with a known spectrum. */
export function withSpectrum(lambda: number[], seed: number): Matrix {
  const n = lambda.length;
  const Q = new QrDecomposition(gaussianMatrix(n, n, seed)).orthogonalMatrix;
  return Q.mmul(Matrix.diag(lambda)).mmul(Q.transpose());
}

export function symmetrize(A: Matrix): Matrix {
  return A.add(A.transpose()).mul(0.5);
}

export function denseOp(A: Matrix): DenseOperator {
  return new DenseOperator(symmetrize(A), undefined, { symmetric: true });
}

export function eigenvalues(A: Matrix): number[] {
  return [...new EVD(symmetrize(A), { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
}

export function shifted(A: Matrix, mu: number): Matrix {
  return A.clone().add(Matrix.eye(A.rows).mul(mu));
}

export function inv(A: Matrix): Matrix {
  return inverse(A);
}

export function maxAbsDiff(A: Matrix, B: Matrix): number {
  let m = 0;
  for (let i = 0; i < A.rows; i++) for (let j = 0; j < A.columns; j++) m = Math.max(m, Math.abs(A.get(i, j) - B.get(i, j)));
  return m;
}

export function maxAbs(A: Matrix): number {
  let m = 0;
  for (let i = 0; i < A.rows; i++) for (let j = 0; j < A.columns; j++) m = Math.max(m, Math.abs(A.get(i, j)));
  return m;
}

/** n×d points uniform in [0, 1)³ from seed. */
export const points = (n: number, d: number, seed: number) => seededPoints(seed, n, d);

export function gaussianDense(x: number[][], y: number[][], sigma: number): Matrix {
  const K = new Matrix(x.length, y.length);
  for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < y.length; j++) {
      let r2 = 0;
      for (let t = 0; t < x[i]!.length; t++) r2 += (x[i]![t]! - y[j]![t]!) ** 2;
      K.set(i, j, Math.exp(-r2 / (2 * sigma * sigma)));
    }
  }
  return K;
}

export const randomVector = (n: number, seed: number) => seededVector(seed, n);

/** ‖x − y‖/‖y‖ (the conformance suite's). */
export { relativeError as relErr } from '../conformance.js';

/** CG iteration bound for κ: smallest k with 2((√κ−1)/(√κ+1))^k ≤ tol (the A-norm error bound). */
export function cgBound(kappa: number, tol: number): number {
  const q = (Math.sqrt(kappa) - 1) / (Math.sqrt(kappa) + 1);
  return q <= 0 ? 1 : Math.ceil(Math.log(tol / 2) / Math.log(q));
}

/** ‖b − (A + αI) x‖ / ‖b‖ by the dense matrix. */
export function relativeResidual(A: Matrix, alpha: number, x: ArrayLike<number>, b: ArrayLike<number>): number {
  const Ax = A.mmul(Matrix.columnVector(Array.from(x))).to1DArray();
  let r = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    r += (b[i]! - Ax[i]! - alpha * x[i]!) ** 2;
    s += b[i]! ** 2;
  }
  return Math.sqrt(r / s);
}
