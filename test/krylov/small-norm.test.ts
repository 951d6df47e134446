// Operators of norm ≪ 1 (found by bench/algebra-fuzz.mjs): eigsh's convergence floor ε^⅔ and lobpcg's default
// tolerance n·√ε were absolute, so a small operator's loose Ritz pairs passed as converged — eigsh's eigenvectors with
// ‖Av − λv‖/‖A‖ ≈ 2.7e-8 at ‖A‖ ≈ 1e-19 (1e-2 at 1e-99), lobpcg's initial Ritz values as eigenvalues. Both now scale
// to the operator; at norm 1 and above nothing changes (scipy's defaults).
import { describe, expect, it } from 'vitest';
import { DiagonalOperator } from '../../src/operators/dense.js';
import { eigsh } from '../../src/krylov/eigsh.js';
import { lobpcg } from '../../src/krylov/lobpcg.js';
import { mulberry32 } from '../random-data.js';

const n = 50;
const diagonal = (scale: number) => Float64Array.from({ length: n }, (_, i) => (i + 1) * scale);

describe('eigensolvers on operators of small norm', () => {
  for (const scale of [1e-20, 1e-99, 1]) {
    it(`eigsh: eigenvectors of diag(1..50)·${scale} to rounding, relative to ‖A‖`, async () => {
      const d = diagonal(scale);
      const r = await eigsh(new DiagonalOperator(d), 2);
      expect(Array.from(r.eigenvalues, (v) => v / scale)).toEqual([expect.closeTo(49, 10), expect.closeTo(50, 10)]);
      for (let j = 0; j < 2; j++) {
        let res = 0;
        for (let i = 0; i < n; i++) res += ((d[i]! - r.eigenvalues[j]!) * r.eigenvectors!.get(i, j)) ** 2;
        expect(Math.sqrt(res) / (n * scale)).toBeLessThan(1e-12);
      }
    });

    it(`lobpcg, default tol: converged means the eigenvalues of diag(1..50)·${scale}`, async () => {
      const rand = mulberry32(1);
      const X = Array.from({ length: n }, () => [rand(), rand()]);
      const r = await lobpcg(new DiagonalOperator(diagonal(scale)), X, { largest: true, maxiter: 200 });
      expect(r.converged).toBe(true);
      expect(Array.from(r.eigenvalues, (v) => v / scale)).toEqual([expect.closeTo(49, 6), expect.closeTo(50, 6)]);
    });
  }
});
