import { describe, expect, it } from 'vitest';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { cg } from '../../src/krylov/index.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** SPD A = Q diag(λ) Qᵀ with λ spread over `decades` decades (exact float64 reference). */
function spd(n: number, decades: number, seed: number): Matrix {
  const r = mulberry32(seed);
  const G = Matrix.from1DArray(n, n, Array.from({ length: n * n }, () => r() - 0.5));
  const Q = new QrDecomposition(G).orthogonalMatrix;
  const lam = Array.from({ length: n }, (_, i) => 10 ** (-decades * i / (n - 1)));
  return Q.mmul(Matrix.diag(lam)).mmul(Q.transpose());
}

function exactResidual(A: Matrix, x: Float64Array, b: Float64Array): number {
  const Ax = A.mmul(Matrix.columnVector(Array.from(x))).getColumn(0);
  return Math.hypot(...Ax.map((v, i) => b[i]! - v)) / Math.hypot(...b);
}

describe('cg with inexact (float32-like) products: never drifts away, returns its best iterate', () => {
  it('stops with info > 0 and a stagnation message instead of diverging', async () => {
    const n = 120;
    const A = spd(n, 3, 1);
    const noise = mulberry32(9);
    // products with ~1e-6 relative error, as float32 kernel products on an ill-conditioned system
    const op = aslinearoperator({
      shape: [n, n],
      dtype: 'float32',
      matvec: (x: Float64Array) => {
        const y = A.mmul(Matrix.columnVector(Array.from(x))).getColumn(0);
        const scale = Math.hypot(...y);
        return Float64Array.from(y, (v) => v + 1e-6 * scale * (noise() - 0.5));
      },
    });
    const b = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const res = await cg(op, b, { rtol: 1e-12, maxiter: 5000 });
    expect(res.info).toBeGreaterThan(0);
    expect(res.message).toMatch(/stagnated/);
    expect(res.iterations).toBeLessThan(5000);
    // the returned iterate is as good as the products allow (floor ≈ 1e-6·κ ≈ 1e-3), no blow-up
    expect(exactResidual(A, res.x as Float64Array, b)).toBeLessThan(1e-2);
  });

  it('float64 products still converge to tight tolerances (no false stagnation)', async () => {
    const n = 120;
    const A = spd(n, 4, 2);
    const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
    const res = await cg(aslinearoperator(A), b, { rtol: 1e-10, maxiter: 5000 });
    expect(res.info).toBe(0);
    expect(exactResidual(A, res.x as Float64Array, b)).toBeLessThan(1e-9);
  });
});
