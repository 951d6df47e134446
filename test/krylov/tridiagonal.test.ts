import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { arrowToTridiagonal, symmetricEigen, tridiagonalEigen, TridiagonalNoConvergence } from '../../src/krylov/tridiagonal.js';
import { mulberry32 } from '../../src/krylov/random.js';

function denseTridiagonal(d: ArrayLike<number>, e: ArrayLike<number>): Matrix {
  const k = d.length;
  const T = Matrix.zeros(k, k);
  for (let i = 0; i < k; i++) T.set(i, i, d[i]!);
  for (let i = 0; i < k - 1; i++) {
    T.set(i, i + 1, e[i]!);
    T.set(i + 1, i, e[i]!);
  }
  return T;
}

function referenceValues(T: Matrix): number[] {
  return [...new EigenvalueDecomposition(T, { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
}

/** max_j ‖T z_j − λ_j z_j‖ and max |ZᵀZ − I|. */
function checkVectors(T: Matrix, values: Float64Array, Z: Float64Array): { residual: number; orth: number } {
  const k = values.length;
  let residual = 0;
  let orth = 0;
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += T.get(i, l) * Z[l * k + j]!;
      residual = Math.max(residual, Math.abs(s - values[j]! * Z[i * k + j]!));
    }
    for (let j2 = 0; j2 < k; j2++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += Z[l * k + j]! * Z[l * k + j2]!;
      orth = Math.max(orth, Math.abs(s - (j === j2 ? 1 : 0)));
    }
  }
  return { residual, orth };
}

describe('tridiagonalEigen', () => {
  const rng = mulberry32(7);
  const cases: [string, () => [number[], number[]]][] = [
    ['random', () => {
      const k = 40;
      return [Array.from({ length: k }, () => 2 * rng() - 1), Array.from({ length: k - 1 }, () => 2 * rng() - 1)];
    }],
    ['zero off-diagonals (split blocks)', () => {
      const k = 30;
      const e = Array.from({ length: k - 1 }, () => 2 * rng() - 1);
      e[5] = 0;
      e[6] = 0;
      e[20] = 0;
      return [Array.from({ length: k }, () => rng() * 10), e];
    }],
    ['clustered (Wilkinson W21+)', () => {
      const k = 21;
      return [Array.from({ length: k }, (_, i) => Math.abs(i - 10)), Array(k - 1).fill(1)];
    }],
    ['graded', () => {
      const k = 25;
      return [Array.from({ length: k }, (_, i) => 10 ** -i), Array.from({ length: k - 1 }, (_, i) => 10 ** (-i - 0.5))];
    }],
    ['repeated diagonal, tiny coupling', () => {
      const k = 20;
      return [Array(k).fill(3), Array(k - 1).fill(1e-14)];
    }],
    ['diagonal', () => [[3, -1, 2, 0, 5], [0, 0, 0, 0]]],
    ['1×1', () => [[4.5], []]],
  ];
  for (const [name, make] of cases) {
    it(`matches ml-matrix on ${name}`, () => {
      const [d, e] = make();
      const T = denseTridiagonal(d, e);
      const ref = referenceValues(T);
      const scale = Math.max(...ref.map(Math.abs), 1e-300);
      const { eigenvalues, eigenvectors } = tridiagonalEigen(d, e, { eigenvectors: true });
      expect(eigenvalues.length).toBe(d.length);
      for (let i = 0; i < ref.length; i++) {
        expect(Math.abs(eigenvalues[i]! - ref[i]!)).toBeLessThanOrEqual(1e-13 * scale);
        if (i > 0) expect(eigenvalues[i]!).toBeGreaterThanOrEqual(eigenvalues[i - 1]!);
      }
      const { residual, orth } = checkVectors(T, eigenvalues, eigenvectors!);
      expect(residual).toBeLessThan(1e-13 * scale);
      expect(orth).toBeLessThan(1e-13);
    });
  }

  it('returns only the requested rows, identical to the full matrix rows', () => {
    const k = 35;
    const d = Array.from({ length: k }, () => rng());
    const e = Array.from({ length: k - 1 }, () => rng());
    const full = tridiagonalEigen(d, e, { eigenvectors: true });
    const part = tridiagonalEigen(d, e, { eigenvectors: [k - 1, 0] });
    const none = tridiagonalEigen(d, e);
    expect(none.eigenvectors).toBeUndefined();
    expect([...none.eigenvalues]).toEqual([...full.eigenvalues]);
    for (let j = 0; j < k; j++) {
      expect(part.eigenvectors![j]).toBe(full.eigenvectors![(k - 1) * k + j]);
      expect(part.eigenvectors![k + j]).toBe(full.eigenvectors![j]);
    }
  });

  it('rejects NaN and honours the iteration cap', () => {
    expect(() => tridiagonalEigen([1, NaN], [1])).toThrow(/non-finite/);
    expect(() => tridiagonalEigen([1, 2, 3], [1])).toThrow(/offDiag has length 1/);
    const k = 50;
    const d = Array.from({ length: k }, () => rng());
    const e = Array.from({ length: k - 1 }, () => rng());
    expect(() => tridiagonalEigen(d, e, { maxIterationsPerValue: 0 })).toThrow(TridiagonalNoConvergence);
  });
});

describe('symmetricEigen', () => {
  it('matches ml-matrix on random dense symmetric matrices', () => {
    const rng = mulberry32(3);
    for (const m of [1, 2, 3, 10, 37]) {
      const A = Matrix.zeros(m, m);
      for (let i = 0; i < m; i++) for (let j = 0; j <= i; j++) {
        const v = 2 * rng() - 1;
        A.set(i, j, v);
        A.set(j, i, v);
      }
      const ref = referenceValues(A);
      const { eigenvalues, eigenvectors } = symmetricEigen(A.to1DArray(), m);
      for (let i = 0; i < m; i++) expect(eigenvalues[i]!).toBeCloseTo(ref[i]!, 12);
      const { residual, orth } = checkVectors(A, eigenvalues, eigenvectors);
      expect(residual).toBeLessThan(1e-12);
      expect(orth).toBeLessThan(1e-12);
    }
  });

  it('a Gaussian kernel matrix (a cluster of eigenvalues at the rounding of ‖K‖) converges: TridiagonalNoConvergence before', () => {
    // points (sin 2i, sin 2i+1), σ = 0.3, n = 300: eigsh(K, 3, { method: 'dense' }) threw at eigenvalue 12
    const n = 300;
    const x = Array.from({ length: 2 * n }, (_, i) => Math.sin(i));
    const K = Matrix.zeros(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      K.set(i, j, Math.exp(-((x[2 * i]! - x[2 * j]!) ** 2 + (x[2 * i + 1]! - x[2 * j + 1]!) ** 2) / (2 * 0.3 ** 2)));
    }
    const ref = referenceValues(K);
    const top = ref[n - 1]!;
    const { eigenvalues, eigenvectors } = symmetricEigen(K.to1DArray(), n);
    for (let i = 0; i < n; i++) expect(Math.abs(eigenvalues[i]! - ref[i]!)).toBeLessThan(1e-13 * top);
    const { residual, orth } = checkVectors(K, eigenvalues, eigenvectors);
    expect(residual).toBeLessThan(1e-12 * top);
    expect(orth).toBeLessThan(1e-12);
  });

  it('handles an arrowhead matrix with a repeated block (thick-restart shape)', () => {
    const m = 8;
    const A = Matrix.zeros(m, m);
    for (let i = 0; i < m - 1; i++) {
      A.set(i, i, i < 4 ? 2 : i);
      A.set(i, m - 1, 0.1 * (i + 1));
      A.set(m - 1, i, 0.1 * (i + 1));
    }
    A.set(m - 1, m - 1, 1);
    const ref = referenceValues(A);
    const { eigenvalues, eigenvectors } = symmetricEigen(A.to1DArray(), m);
    for (let i = 0; i < m; i++) expect(eigenvalues[i]!).toBeCloseTo(ref[i]!, 13);
    expect(checkVectors(A, eigenvalues, eigenvectors).orth).toBeLessThan(1e-13);
  });

  it('forms only the rows asked for, equal bit for bit to the full matrix\'s rows (eigsh\'s convergence checks)', () => {
    const rng = mulberry32(11);
    for (const m of [1, 2, 5, 20]) {
      const a = new Float64Array(m * m);
      for (let i = 0; i < m; i++) for (let j = 0; j <= i; j++) a[i * m + j] = a[j * m + i] = 2 * rng() - 1;
      const full = symmetricEigen(a, m);
      for (const rows of [[m - 1], [0, m - 1], [m - 1, 0]]) {
        const part = symmetricEigen(a, m, rows);
        expect(Array.from(part.eigenvalues)).toEqual(Array.from(full.eigenvalues));
        expect(part.eigenvectors.length).toBe(rows.length * m);
        rows.forEach((r, i) => expect(Array.from(part.eigenvectors.subarray(i * m, (i + 1) * m))).toEqual(Array.from(full.eigenvectors.subarray(r * m, (r + 1) * m))));
      }
    }
    expect(() => symmetricEigen(new Float64Array(4), 2, [2])).toThrow(/row 2 out of range \[0, 2\)/);
    expect(() => symmetricEigen(new Float64Array(4), 2, [0.5])).toThrow(/row 0.5 out of range/);
  });
});

describe('arrowToTridiagonal', () => {
  it('rotates a thick restart\'s arrow to tridiagonal form: Qᵀdiag(θ)Q tridiagonal, Qᵀs on the last index, Q orthogonal', () => {
    const rng = mulberry32(5);
    for (const keep of [1, 2, 3, 12]) {
      // a repeated Ritz value and a zero coupling among them, as restarts produce
      const theta = Float64Array.from({ length: keep }, (_, i) => (i === 1 ? 3 : 10 * rng() - 5));
      const s = Float64Array.from({ length: keep }, (_, i) => (i === keep - 2 ? 0 : 1e-3 * (2 * rng() - 1)));
      const { d, e, Q } = arrowToTridiagonal(theta, s);
      // QᵀMQ against the dense product, M = diag(θ) bordered by s at index keep
      let worst = 0;
      for (let p = 0; p < keep; p++) {
        for (let q = 0; q < keep; q++) {
          let v = 0;
          for (let r = 0; r < keep; r++) v += Q[r * keep + p]! * theta[r]! * Q[r * keep + q]!;
          const want = p === q ? d[p]! : Math.abs(p - q) === 1 ? e[Math.min(p, q)]! : 0;
          worst = Math.max(worst, Math.abs(v - want));
          let qq = 0;
          for (let r = 0; r < keep; r++) qq += Q[r * keep + p]! * Q[r * keep + q]!;
          expect(Math.abs(qq - (p === q ? 1 : 0))).toBeLessThan(1e-14);
        }
        let qs = 0;
        for (let r = 0; r < keep; r++) qs += Q[r * keep + p]! * s[r]!;
        expect(Math.abs(qs - (p === keep - 1 ? e[keep - 1]! : 0))).toBeLessThan(1e-16);
      }
      expect(worst).toBeLessThan(1e-13);
      // the whole projection: same eigenvalues as the arrow matrix itself (ml-matrix's)
      const A = Matrix.zeros(keep + 2, keep + 2);
      theta.forEach((t, i) => (A.set(i, i, t), A.set(i, keep, s[i]!), A.set(keep, i, s[i]!)));
      A.set(keep, keep, 0.5);
      A.set(keep + 1, keep + 1, -1);
      A.set(keep, keep + 1, 0.2);
      A.set(keep + 1, keep, 0.2);
      const tri = tridiagonalEigen([...d, 0.5, -1], [...e, 0.2]);
      const ref = referenceValues(A);
      ref.forEach((v, i) => expect(tri.eigenvalues[i]!).toBeCloseTo(v, 13));
    }
  });
});
