/**
 * The per-operator preconditioner cache is bounded (long-running state must not grow): a loop over α keeps at most
 * MAX_CACHED_PRECONDITIONERS built preconditioners — dense factors are n² doubles each — the evicted ones are
 * disposed (applying one throws, never a wrong answer), and a later solve at an evicted α rebuilds and is right.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { MAX_CACHED_PRECONDITIONERS } from '../../src/preconditioners/auto.js';
import { gaussianDense, points, randomVector, relErr } from './helpers.js';

describe('preconditioner cache bound', () => {
  const n = 300;
  const x = points(n, 3, 5);
  const Kd = gaussianDense(x, x, 0.4);
  const b = randomVector(n, 6);
  const reference = (alpha: number) =>
    new CholeskyDecomposition(Kd.clone().add(Matrix.eye(n).mul(alpha))).solve(Matrix.columnVector(Array.from(b))).to1DArray();

  it('a loop over α keeps the most recent factors only; an evicted one is released, its α rebuilt and right', async () => {
    const K = gaussianKernel(x, { sigma: 0.4 });
    const alphas = Array.from({ length: MAX_CACHED_PRECONDITIONERS + 3 }, (_, i) => 1e-2 * (i + 1));
    const factors = [];
    for (const alpha of alphas) {
      factors.push(await K.preconditioner(alpha, 'cholesky'));
      const sol = await K.solve(b, alpha, { method: 'cholesky' });
      expect(relErr(sol, reference(alpha))).toBeLessThan(1e-9);
    }
    // the most recent ones are still the cached ones: asking again returns the same object
    for (const [i, alpha] of alphas.entries()) {
      if (i < alphas.length - MAX_CACHED_PRECONDITIONERS) continue;
      expect(await K.preconditioner(alpha, 'cholesky')).toBe(factors[i]);
    }
    // the oldest was disposed: applying it throws instead of answering
    await new Promise((r) => setTimeout(r, 0));
    await expect(factors[0]!.matvec(b)).rejects.toThrow(/releas|dispos/i);
    const again = await K.solve(b, alphas[0]!, { method: 'cholesky' });
    expect(relErr(again, reference(alphas[0]!))).toBeLessThan(1e-9);
    await K.dispose();
  });
});
