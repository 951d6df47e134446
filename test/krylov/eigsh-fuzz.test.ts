/**
 * eigsh against dense eigenvalues (ml-matrix's EVD) on seeded random symmetric matrices Q·diag(λ)·Qᵀ with the default
 * ncv: a result eigsh reports as converged must be the wanted set; an honest EigshNoConvergence is allowed. Spectra
 * as bench/eigen-fuzz.mjs (its full runs: docs in bench/RESULTS.md), without repeated eigenvalues and without 'SM'
 * (interior eigenvalues: smallest-magnitude.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import { eigsh, EigshNoConvergence, type Which } from '../../src/krylov/eigsh.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { mulberry32 } from '../../src/krylov/random.js';

const KINDS = ['uniform', 'spiked', 'geometric', 'alternating'] as const;

function spectrum(kind: (typeof KINDS)[number], n: number, rand: () => number): number[] {
  return Array.from({ length: n }, (_, i) => {
    switch (kind) {
      case 'uniform': return rand() * 10 - 5;
      case 'spiked': return i < 3 ? 10 : rand();
      case 'geometric': return Math.exp(-i / 8) * (1 + 0.01 * rand());
      default: return (i % 2 ? 1 : -1) * (1 + i * 0.05 + 0.01 * rand());
    }
  });
}

function wantedSet(values: number[], k: number, which: Which): number[] {
  const asc = values.slice().sort((a, b) => a - b);
  if (which === 'LA') return asc.slice(-k);
  if (which === 'SA') return asc.slice(0, k);
  if (which === 'BE') return [...asc.slice(0, Math.floor(k / 2)), ...asc.slice(asc.length - (k - Math.floor(k / 2)))];
  return values.slice().sort((a, b) => Math.abs(b) - Math.abs(a)).slice(0, k).sort((a, b) => a - b);
}

describe('eigsh: what it reports as converged is the wanted set (seeded random spectra, default ncv)', () => {
  const rand = mulberry32(2026);
  const cases = Array.from({ length: 40 }, (_, t) => {
    const kind = KINDS[t % KINDS.length]!;
    const n = 25 + Math.floor(rand() * 60);
    const lam = spectrum(kind, n, rand);
    const Q = new QrDecomposition(Matrix.rand(n, n, { random: rand })).orthogonalMatrix;
    const M = Q.mmul(Matrix.diag(lam)).mmul(Q.transpose());
    const which = (['LM', 'LA', 'SA', 'BE'] as const)[Math.floor(rand() * 4)]!;
    const k = 1 + Math.floor(rand() * 5);
    return { t, kind, n, k, which, S: M.add(M.transpose()).div(2) };
  });

  it.each(cases)('case $t: $kind n = $n, k = $k, $which', async ({ S, k, which }) => {
    const dense = Array.from(new EigenvalueDecomposition(S).realEigenvalues);
    const want = wantedSet(dense, k, which);
    const scale = Math.max(...dense.map(Math.abs));
    try {
      const r = await eigsh(aslinearoperator(S.to2DArray()), k, { which, method: 'lanczos', maxiter: 2000 });
      Array.from(r.eigenvalues).forEach((l, i) => expect(Math.abs(l - want[i]!) / scale).toBeLessThan(1e-9));
    } catch (error) {
      expect(error).toBeInstanceOf(EigshNoConvergence);
    }
  });
});
