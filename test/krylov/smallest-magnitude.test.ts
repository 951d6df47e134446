/**
 * eigsh 'SM' on indefinite operators: the wanted eigenvalues are interior, which Lanczos on A can miss (one that has
 * not emerged when the others converge: before, these seeds returned a larger |λ| as converged, with the default
 * options). Where sigma = 0 would plan a dense factor, 'SM' runs through (A − 0·I)⁻¹ — compared with ml-matrix's
 * dense eigenvalues; where A has no dense form to read, Lanczos on A as before.
 */
import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import { eigsh, EigshNoConvergence } from '../../src/krylov/eigsh.js';
import { mulberry32 } from '../../src/krylov/random.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';

/** Q·diag(λ)·Qᵀ with λ uniform in [−5, 5] (the eigen fuzz's 'uniform' spectrum), n = 60 + seed mod 40. */
function indefinite(seed: number): { S: Matrix; lam: number[] } {
  const rand = mulberry32(seed);
  const n = 60 + (seed % 40);
  const lam = Array.from({ length: n }, () => rand() * 10 - 5);
  const Q = new QrDecomposition(Matrix.rand(n, n, { random: rand })).orthogonalMatrix;
  const S = Q.mmul(Matrix.diag(lam)).mmul(Q.transpose());
  return { S: S.add(S.transpose()).div(2), lam };
}

describe("eigsh which 'SM' (interior eigenvalues of an indefinite A)", () => {
  for (const seed of [71, 171, 177, 286]) {
    it(`seed ${seed}: the 4 smallest |λ|, as the dense eigenvalues say`, async () => {
      const { S } = indefinite(seed);
      const dense = [...new EigenvalueDecomposition(S, { assumeSymmetric: true }).realEigenvalues];
      const want = dense.sort((a, b) => Math.abs(a) - Math.abs(b)).slice(0, 4).sort((a, b) => a - b);
      const res = await eigsh(aslinearoperator(S.to2DArray()), 4, { which: 'SM' });
      res.eigenvalues.forEach((v, i) => expect(Math.abs(v - want[i]!), `eigenvalue ${i}`).toBeLessThan(1e-10));
      // the pairs are eigenpairs of A itself
      const V = res.eigenvectors!;
      for (let c = 0; c < 4; c++) {
        const v = V.getColumnVector(c);
        const r = S.mmul(v).sub(v.mul(res.eigenvalues[c]!));
        expect(r.norm()).toBeLessThan(1e-10);
      }
      expect(res.innerMatvecs, 'through the dense factor of A').toBeDefined();
    });
  }

  it('an operator with no dense form to read (matvec only, n > 1,024) runs Lanczos on A, bounded by maxiter', async () => {
    const n = 1100;
    const rand = mulberry32(2);
    const d = Float64Array.from({ length: n }, () => rand() * 10 - 5);
    const A = aslinearoperator({ shape: [n, n], matvec: (x: Float64Array) => x.map((v, i) => d[i]! * v), symmetric: true });
    const res = await eigsh(A, 4, { which: 'SM', ncv: 9, maxiter: 40 }).catch((e: unknown) => e);
    // interior eigenvalues with little room: no convergence within 40 restarts, reported (never a wrong set)
    expect(res).toBeInstanceOf(EigshNoConvergence);
    expect((res as EigshNoConvergence).iterations).toBe(40);
    expect((res as EigshNoConvergence).matvecs).toBeGreaterThan(40); // products with A, no factor
  });

  it('A exactly singular at 0 (QΛQᵀ with an eigenvalue 0): Lanczos on A instead of a nearly singular factor', async () => {
    // through the factor (pivots ≈ 1e-16) the pairs beside 0 came back as 1.010 and 2.234 for 1 and 2
    for (const [lam, want] of [[(i: number) => i, [0, 1, 2]], [(i: number) => i - 30, [-1, 0, 1]], [(i: number) => (i < 2 ? 0 : i), [0, 0, 2]]] as const) {
      const rand = mulberry32(3);
      const S = (() => {
        const Q = new QrDecomposition(Matrix.rand(60, 60, { random: rand })).orthogonalMatrix;
        const M = Q.mmul(Matrix.diag(Array.from({ length: 60 }, (_, i) => lam(i)))).mmul(Q.transpose());
        return M.add(M.transpose()).div(2);
      })();
      const res = await eigsh(aslinearoperator(S.to2DArray()), 3, { which: 'SM' });
      res.eigenvalues.forEach((v, i) => expect(Math.abs(v - want[i]!), `${want}: ${res.eigenvalues}`).toBeLessThan(1e-9));
    }
  });
});
