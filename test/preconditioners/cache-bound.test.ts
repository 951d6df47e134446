/**
 * The per-operator preconditioner cache is bounded (long-running state must not grow): a loop over α keeps at most
 * MAX_CACHED_PRECONDITIONERS built preconditioners — dense factors are n² doubles each — the evicted ones are
 * disposed (applying one throws, never a wrong answer), and a later solve at an evicted α rebuilds and is right.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { MAX_CACHED_PRECONDITIONERS } from '../../src/preconditioners/auto.js';
import { solveShifted, type SolveResult } from '../../src/preconditioners/solve.js';
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

  it('solves running at once keep their factors past the bound, and release them when they end (a Promise.all over α)', async () => {
    // before: the later solves' factors evicted the earlier ones as they were cached — at n = 1,500, 4 of 7 rejected
    // ("the 1500x1500 factor was released"); residuals checked on the symbolic products (no stored K, no factor)
    const big = points(1500, 3, 7);
    const bb = randomVector(1500, 8);
    const K = gaussianKernel(big, { sigma: 0.2 });
    const symbolic = gaussianKernel(big, { sigma: 0.2, denseCache: 'never' });
    const alphas = Array.from({ length: MAX_CACHED_PRECONDITIONERS + 4 }, (_, i) => 1e-3 * (i + 1));
    const results = (await Promise.all(alphas.map((alpha) => solveShifted(K, bb, alpha, { rtol: 1e-10, returnInfo: true })))) as SolveResult<Float64Array>[];
    for (const [i, r] of results.entries()) {
      expect(r.plan.method).toBe('cholesky');
      const Kx = await symbolic.matvec(r.x);
      expect(relErr(Kx.map((v, t) => v + alphas[i]! * r.x[t]!), bb)).toBeLessThan(1e-9);
    }
    // once they ended, the retired factors are disposed (no leak past the bound); the cached ones still serve
    await new Promise((r) => setTimeout(r, 0));
    const live = await Promise.all(results.map((r) => r.plan.M!.matvec(bb).then(() => true, (e: Error) => (/releas|dispos/i.test(e.message) ? false : Promise.reject(e)))));
    expect(live.filter(Boolean)).toHaveLength(MAX_CACHED_PRECONDITIONERS);
    await K.dispose();
    // dispose() during a solve (at its first refinement step, the factor built and in use): the solve goes on with
    // its factor — the refinement steps after it apply it — which is released once the solve ends
    const small = gaussianKernel(x, { sigma: 0.4 });
    let disposing: Promise<void> | undefined;
    const late = (await solveShifted(small, b, 1e-3, {
      rtol: 1e-13, returnInfo: true, onProgress: (p) => { if (p.iteration === 0) disposing = small.dispose(); },
    })) as SolveResult<Float64Array>;
    await disposing;
    expect(late.plan.method).toBe('cholesky');
    expect(late.iterations).toBeGreaterThan(0); // refinement steps ran after the dispose()
    expect(relErr(late.x, reference(1e-3))).toBeLessThan(1e-9);
    await new Promise((r) => setTimeout(r, 0));
    await expect(late.plan.M!.matvec(b)).rejects.toThrow(/releas|dispos/i);
  });
});
