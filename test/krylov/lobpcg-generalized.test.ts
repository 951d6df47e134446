/**
 * lobpcg on the generalized problem A x = λ B x (B SPD), against a dense reference computed here: with B = L Lᵀ
 * (Cholesky), the eigenvalues are those of L⁻¹ A L⁻ᵀ. Before, `B` was silently ignored (the eigenvalues of A came back).
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, EigenvalueDecomposition, inverse, Matrix, QrDecomposition } from 'ml-matrix';
import { lobpcg } from '../../src/krylov/lobpcg.js';
import { countingOperator } from './helpers.js';
import { mulberry32 } from '../../src/krylov/random.js';

function orthogonal(n: number, seed: number): Matrix {
  const rng = mulberry32(seed);
  return new QrDecomposition(Matrix.from1DArray(n, n, Array.from({ length: n * n }, () => rng() - 0.5))).orthogonalMatrix;
}

/** Q diag(d) Qᵀ, exactly symmetric. */
function withSpectrum(d: number[], seed: number): Matrix {
  const Q = orthogonal(d.length, seed);
  const A = Q.mmul(Matrix.diag(d)).mmul(Q.transpose());
  for (let i = 0; i < d.length; i++) for (let j = 0; j < i; j++) A.set(i, j, A.get(j, i));
  return A;
}

/** Generalized eigenvalues of (A, B), ascending: those of L⁻¹ A L⁻ᵀ with B = L Lᵀ. */
function generalizedEigenvalues(A: Matrix, B: Matrix): number[] {
  const Linv = inverse(new CholeskyDecomposition(B).lowerTriangularMatrix);
  const C = Linv.mmul(A).mmul(Linv.transpose());
  for (let i = 0; i < C.rows; i++) for (let j = 0; j < i; j++) C.set(i, j, 0.5 * (C.get(i, j) + C.get(j, i)));
  return [...new EigenvalueDecomposition(C, { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
}

const X0 = (n: number, k: number, seed: number) => {
  const rng = mulberry32(seed);
  return Matrix.from1DArray(n, k, Array.from({ length: n * k }, () => rng() - 0.5));
};

/** max |VᵀBV − I| and the largest ‖A v − λ B v‖. */
function checkPairs(A: Matrix, B: Matrix, res: { eigenvalues: Float64Array; eigenvectors: Matrix }): { orth: number; residual: number } {
  const V = res.eigenvectors;
  const G = V.transpose().mmul(B).mmul(V);
  let orth = 0;
  for (let i = 0; i < G.rows; i++) for (let j = 0; j < G.columns; j++) orth = Math.max(orth, Math.abs(G.get(i, j) - (i === j ? 1 : 0)));
  const R = A.mmul(V).sub(B.mmul(V).mmul(Matrix.diag(Array.from(res.eigenvalues))));
  let residual = 0;
  for (let j = 0; j < R.columns; j++) residual = Math.max(residual, Math.hypot(...R.getColumn(j)));
  return { orth, residual };
}

describe('lobpcg: the generalized problem A x = λ B x', () => {
  const n = 150;
  const A = withSpectrum(Array.from({ length: n }, (_, i) => i + 1), 3);
  const B = withSpectrum(Array.from({ length: n }, (_, i) => 0.5 + (1.5 * i) / (n - 1)), 4); // SPD, cond 4
  const ref = generalizedEigenvalues(A, B);

  it('largest and smallest eigenpairs match the dense reference; eigenvectors B-orthonormal', async () => {
    const Bop = countingOperator(B);
    const top = await lobpcg(A, X0(n, 3, 1), { B: Bop, maxiter: 500, tol: 1e-9 });
    expect(top.converged).toBe(true);
    top.eigenvalues.forEach((v, i) => expect(Math.abs(v - ref[n - 3 + i]!) / ref[n - 3 + i]!).toBeLessThan(1e-10));
    const t = checkPairs(A, B, top);
    expect(t.orth).toBeLessThan(1e-10);
    expect(t.residual).toBeLessThanOrEqual(1e-9);
    expect(top.bMatvecs).toBe(Bop.count.columns);
    const low = await lobpcg(A, X0(n, 3, 2), { B, largest: false, maxiter: 500, tol: 1e-9 });
    expect(low.converged).toBe(true);
    low.eigenvalues.forEach((v, i) => expect(Math.abs(v - ref[i]!) / ref[i]!).toBeLessThan(1e-10));
    expect(checkPairs(A, B, low).residual).toBeLessThanOrEqual(1e-9);
  });

  it('with a preconditioner, and with B-orthogonal constraints Y', async () => {
    const Minv = Matrix.diag(Array.from({ length: n }, (_, i) => 1 / A.get(i, i)));
    const pre = await lobpcg(A, X0(n, 2, 5), { B, M: Minv, largest: false, maxiter: 500, tol: 1e-9 });
    pre.eigenvalues.forEach((v, i) => expect(Math.abs(v - ref[i]!) / ref[i]!).toBeLessThan(1e-10));
    const first = await lobpcg(A, X0(n, 1, 6), { B, maxiter: 500, tol: 1e-9 });
    const next = await lobpcg(A, X0(n, 2, 7), { B, Y: first.eigenvectors, maxiter: 500, tol: 1e-9 });
    expect(next.eigenvalues[1]! / ref[n - 2]!).toBeCloseTo(1, 9);
    expect(next.eigenvalues[0]! / ref[n - 3]!).toBeCloseTo(1, 9);
  });

  it('a small problem (n < 5k, solved densely) with B', async () => {
    const As = withSpectrum([3, -1, 2, 7, 5, 4, 0.5, 9, 1.5, 6, 8, 2.5], 8);
    const Bs = withSpectrum([1, 2, 0.7, 1.5, 3, 1.1, 0.9, 2.2, 1.3, 1.8, 0.6, 2.5], 9);
    const refs = generalizedEigenvalues(As, Bs);
    const res = await lobpcg(As, X0(12, 3, 1), { B: Bs });
    res.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(refs[9 + i]!, 11));
    expect(checkPairs(As, Bs, res).orth).toBeLessThan(1e-12);
    await expect(lobpcg(As, X0(12, 3, 1), { B: Matrix.eye(11) })).rejects.toThrow('lobpcg: B has shape 11x11, expected 12x12');
  });
});

describe('lobpcg options', () => {
  it("unknown keys refused by name, scipy's options we do not take refused with what to use, wrong types quoted", async () => {
    const A = withSpectrum(Array.from({ length: 30 }, (_, i) => i + 1), 1);
    const X = X0(30, 2, 1);
    await expect(lobpcg(A, X, { largets: false } as never)).rejects.toThrow(/lobpcg: unknown option 'largets' in options \(did you mean 'largest'\?\); known options: B, M, Y, largest/);
    await expect(lobpcg(A, X, { verbosityLevel: 1 } as never)).rejects.toThrow("lobpcg: scipy's option 'verbosityLevel' is not supported: use onProgress");
    await expect(lobpcg(A, X, { retLambdaHistory: true } as never)).rejects.toThrow("lobpcg: scipy's option 'retLambdaHistory' is not supported");
    await expect(lobpcg(A, X, { retResidualNormsHistory: true } as never)).rejects.toThrow("scipy's option 'retResidualNormsHistory' is not supported");
    await expect(lobpcg(A, X, { restartControl: 20 } as never)).rejects.toThrow("scipy's option 'restartControl' is not supported");
    await expect(lobpcg(A, X, { tol: '1e-5' } as never)).rejects.toThrow('lobpcg: tol must be a number ≥ 0 (Infinity allowed), got a string "1e-5"');
    await expect(lobpcg(A, X, { maxiter: 0 })).rejects.toThrow('lobpcg: maxiter must be an integer ≥ 1, got number 0');
    await expect(lobpcg(A, X, { B: 'eye' } as never)).rejects.toThrow(/lobpcg: B must be an operator .*got a string "eye"/);
    await expect(lobpcg(A, X, { Y: [1, 2] } as never)).rejects.toThrow('lobpcg: Y must be a block (Matrix or number[][]), got an array of length 2');
  });
});
