/**
 * lobpcg's generalized problem A x = λ B x on seeded random problems (a slice of bench/gen-eigen-fuzz.mjs): what it
 * reports as converged holds the wanted eigenvalues of the dense reference (B = L Lᵀ, eigenvalues of L⁻¹ A L⁻ᵀ),
 * B-orthonormal vectors, and residual norms that are the true ones. Not converging is allowed (honest).
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, EigenvalueDecomposition, inverse, Matrix, QrDecomposition } from 'ml-matrix';
import { lobpcg, type LobpcgResult } from '../../src/krylov/lobpcg.js';
import { eigsh } from '../../src/krylov/eigsh.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** Q diag(d) Qᵀ with a seeded random orthogonal Q, exactly symmetric. */
function withSpectrum(d: number[], rand: () => number): Matrix {
  const n = d.length;
  const Q = new QrDecomposition(Matrix.from1DArray(n, n, Array.from({ length: n * n }, () => rand() - 0.5))).orthogonalMatrix;
  const A = Q.mmul(Matrix.diag(d)).mmul(Q.transpose());
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) A.set(i, j, A.get(j, i));
  return A;
}

function generalizedEigenvalues(A: Matrix, B: Matrix): number[] {
  const Linv = inverse(new CholeskyDecomposition(B).lowerTriangularMatrix);
  const C = Linv.mmul(A).mmul(Linv.transpose());
  for (let i = 0; i < C.rows; i++) for (let j = 0; j < i; j++) C.set(i, j, C.get(j, i));
  return [...new EigenvalueDecomposition(C, { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
}

/** max |VᵀBV − I| and the true residual norms ‖A v − λ B v‖. */
function measure(A: Matrix, B: Matrix, r: LobpcgResult): { orth: number; residuals: number[] } {
  const V = r.eigenvectors;
  const G = V.transpose().mmul(B).mmul(V);
  let orth = 0;
  for (let i = 0; i < G.rows; i++) for (let j = 0; j < G.columns; j++) orth = Math.max(orth, Math.abs(G.get(i, j) - (i === j ? 1 : 0)));
  const R = A.mmul(V).sub(B.mmul(V).mmul(Matrix.diag(Array.from(r.eigenvalues))));
  return { orth, residuals: Array.from({ length: R.columns }, (_, j) => Math.hypot(...R.getColumn(j))) };
}

describe('lobpcg, generalized: converged results are right (seeded fuzz slice)', () => {
  it('24 random problems: B of condition 1–10⁴, A definite/indefinite/clustered, largest and smallest, with and without M', async () => {
    const rand = mulberry32(1616);
    let converged = 0;
    for (let t = 0; t < 24; t++) {
      const k = 1 + Math.floor(rand() * 4);
      const n = Math.max(12, 5 * k) + Math.floor(rand() * 50);
      const kind = (['definite', 'indefinite', 'clustered'] as const)[t % 3]!;
      const condB = [1, 10, 1e4][Math.floor(rand() * 3)]!;
      const lamA = Array.from({ length: n }, (_, i) => (kind === 'definite' ? 0.1 + 10 * rand() : kind === 'indefinite' ? 10 * rand() - 5 : (i % 4) + 1e-3 * rand()));
      const A = withSpectrum(lamA, rand);
      const B = withSpectrum(Array.from({ length: n }, (_, i) => condB ** (i / (n - 1)) * (0.5 + 0.5 * rand())), rand);
      const largest = rand() < 0.5;
      const M = rand() < 0.5 ? Matrix.diag(Array.from({ length: n }, (_, i) => 1 / (Math.abs(A.get(i, i)) + 0.1))).to2DArray() : undefined;
      const X0 = Matrix.from1DArray(n, k, Array.from({ length: n * k }, () => rand() - 0.5));
      const tol = 1e-7;
      const r = await lobpcg(A.to2DArray(), X0, { B: B.to2DArray(), ...(M ? { M } : {}), largest, tol, maxiter: 300 });
      if (!r.converged) continue;
      converged++;
      const ref = generalizedEigenvalues(A, B);
      const want = largest ? ref.slice(n - k) : ref.slice(0, k);
      const { orth, residuals } = measure(A, B, r);
      const label = JSON.stringify({ t, n, k, kind, condB, largest, M: !!M });
      expect(orth, label).toBeLessThan(1e-10 * Math.sqrt(condB));
      const muMin = Math.min(...new EigenvalueDecomposition(B, { assumeSymmetric: true }).realEigenvalues);
      r.eigenvalues.forEach((g, i) => {
        expect(r.residualNorms[i], label).toBeLessThanOrEqual(tol);
        // the true residual: the one reported, up to rounding
        expect(residuals[i], label).toBeLessThan(1.01 * r.residualNorms[i]! + 1e-12 * condB);
        // |λ − λ*| ≤ ‖r‖_{B⁻¹} ≤ ‖r‖/√μ_min(B)
        expect(Math.abs(g - want[i]!), label).toBeLessThanOrEqual(2 * residuals[i]! / Math.sqrt(muMin) + 1e-10 * Math.max(...ref.map(Math.abs)));
      });
    }
    expect(converged).toBeGreaterThanOrEqual(12); // the slice checks something
  });

  it('a converged result is B-orthonormal to rounding after hundreds of iterations (the implicit B·X drifted to 4e-9 before)', async () => {
    for (const seed of [3, 11]) {
      const rand = mulberry32(seed);
      const n = 50;
      const k = 6;
      const A = withSpectrum(Array.from({ length: n }, (_, i) => (i % 4) + 1e-3 * rand()), rand); // clusters: slow
      const B = withSpectrum(Array.from({ length: n }, (_, i) => 10 ** (i / (n - 1)) * (0.5 + 0.5 * rand())), rand);
      const M = Matrix.diag(Array.from({ length: n }, (_, i) => 1 / (Math.abs(A.get(i, i)) + 1e-2))).to2DArray();
      const X0 = Matrix.from1DArray(n, k, Array.from({ length: n * k }, () => rand() - 0.5));
      const r = await lobpcg(A.to2DArray(), X0, { B: B.to2DArray(), M, largest: false, tol: 1e-6, maxiter: 400 });
      expect(r.converged).toBe(true);
      expect(r.iterations).toBeGreaterThan(100);
      const { orth, residuals } = measure(A, B, r);
      expect(orth, `seed ${seed}`).toBeLessThan(1e-12);
      residuals.forEach((v, i) => expect(Math.abs(v - r.residualNorms[i]!), `seed ${seed}`).toBeLessThan(1e-3 * v + 1e-13));
    }
  });

  it('constraints Y that are not invariant: converges to the problem on the B-orthogonal complement of span(Y) (it never converged before)', async () => {
    const rand = mulberry32(1617);
    const n = 80;
    const k = 2;
    const A = withSpectrum(Array.from({ length: n }, (_, i) => i + 1), rand);
    for (const withB of [false, true]) {
      const B = withB ? withSpectrum(Array.from({ length: n }, (_, i) => 10 ** (i / (n - 1))), rand) : Matrix.eye(n);
      const Y = Matrix.from1DArray(n, 2, Array.from({ length: 2 * n }, () => rand() - 0.5));
      const X0 = Matrix.from1DArray(n, k, Array.from({ length: n * k }, () => rand() - 0.5));
      const r = await lobpcg(A.to2DArray(), X0, { ...(withB ? { B: B.to2DArray() } : {}), Y, largest: false, tol: 1e-7, maxiter: 300 });
      expect(r.converged, `B: ${withB}`).toBe(true);
      // the reference: Z spans {z : Yᵀ B z = 0} (the last n − 2 columns of the QR of [B Y, random])
      const full = new Matrix(n, n);
      full.setSubMatrix(B.mmul(Y), 0, 0);
      full.setSubMatrix(Matrix.from1DArray(n, n - 2, Array.from({ length: n * (n - 2) }, () => rand() - 0.5)), 0, 2);
      const Z = new QrDecomposition(full).orthogonalMatrix.subMatrix(0, n - 1, 2, n - 1);
      const sym = (M: Matrix) => M.add(M.transpose()).div(2);
      const ref = generalizedEigenvalues(sym(Z.transpose().mmul(A).mmul(Z)), sym(Z.transpose().mmul(B).mmul(Z)));
      r.eigenvalues.forEach((v, i) => expect(Math.abs(v - ref[i]!) / ref[i]!, `B: ${withB}`).toBeLessThan(1e-9));
      const YBV = Y.transpose().mmul(B).mmul(r.eigenvectors);
      expect(Math.max(...YBV.to1DArray().map(Math.abs)), `B: ${withB}`).toBeLessThan(1e-10);
    }
  });

  it('eigsh refuses the generalized problem by name (M, Minv, mode buckling/cayley), never ignoring it', async () => {
    const S = withSpectrum(Array.from({ length: 20 }, (_, i) => i + 1), mulberry32(5)).to2DArray();
    for (const [key, value] of [['M', S], ['Minv', S], ['mode', 'buckling'], ['mode', 'cayley']] as const) {
      await expect(eigsh(S, 2, { [key]: value } as never)).rejects.toThrow(new RegExp(`${key === 'mode' ? value : key}.*not supported`));
    }
  });
});
