/**
 * Solves at a tiny α against dense float64 references in JS (ml-matrix): 'auto' takes the dense factor where CG with
 * landmarks would need far more work (it priced preconditioned CG at a fixed cost whatever α: n = 6,000, α = 10⁻⁸ ran
 * 1,875 iterations for 38 s); the landmark preconditioner stays positive definite at such α (its Woodbury form lost
 * definiteness to rounding: CG broke down with "the preconditioner M is not positive definite"); and a stagnation says
 * its cause — the products' rounding at x, ε·‖A‖·‖x‖, or far above it an ill-conditioned system — naming α and the
 * preconditioner (it blamed "the products' accuracy" whatever the cause).
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { IdentityOperator } from '../../src/operators/dense.js';
import { landmarkPreconditioner, solvePlan, type SolveResult } from '../../src/preconditioners/index.js';
import { gaussianDense, points, randomVector, relativeResidual } from './helpers.js';

const sigma = 0.2;

/** λ_max of a symmetric positive semidefinite dense A by 50 power steps (a lower bound, close for a kernel's gap). */
function largestEigenvalue(A: Matrix): number {
  let v = Matrix.ones(A.rows, 1);
  let lambda = 0;
  for (let k = 0; k < 50; k++) {
    const w = A.mmul(v);
    lambda = w.norm() / v.norm();
    v = w.div(w.norm());
  }
  return lambda;
}

const norm = (v: Float64Array) => Math.hypot(...v);

describe("'auto' at a tiny α, where K fits the dense budget: the factor", () => {
  // from AUTO_MIN_N = 4,096 points 'auto' builds landmarks; this n is just above it
  const n = 4200;
  const x = points(n, 3, 1);
  const b = randomVector(n, 2);

  it('α = 10⁻⁷: the landmark build measures CG far dearer than the factor, the plan says so, and x meets rtol against the dense matrix', async () => {
    const K = gaussianKernel(x, { sigma });
    const alpha = 1e-7;
    const rtol = 1e-6;
    const plan = await solvePlan(K, b, alpha, { rtol });
    expect(plan.method).toBe('cholesky');
    expect(plan.reason).toMatch(/^factorisation cheaper at α = 1e-7: the landmark preconditioner \(m = \d+\) leaves κ̂ = [\d.e+]+ of P⁻¹\(A \+ αI\), ≈ \d+ CG iterations/);
    expect(plan.estimate!.cgProducts).toBeGreaterThan(plan.estimate!.choleskyProducts);
    const r = (await K.solve(b, alpha, { rtol, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBe(0);
    expect(r.plan.method).toBe('cholesky');
    expect(relativeResidual(gaussianDense(x, x, sigma), alpha, r.x, b)).toBeLessThanOrEqual(rtol);
    // a moderate α keeps landmark-preconditioned CG, as before
    const moderate = await solvePlan(K, b, 1e-2, { rtol });
    expect(moderate.method).toBe('cg');
    expect(moderate.preconditioner).toBe('landmarks');
    await K.dispose();
  }, 60_000);
});

describe('the landmark preconditioner at a tiny α stays positive definite', () => {
  const n = 1500;
  const x = points(n, 3, 1);
  const K = gaussianKernel(x, { sigma });

  /** P⁻¹ as applied, materialised column by column and symmetrised: whether it has a Cholesky factor. */
  async function positiveDefinite(P: { matmat(X: Matrix): Promise<Matrix> }): Promise<boolean> {
    const inverse = await P.matmat(Matrix.eye(n));
    const sym = inverse.add(inverse.transpose()).mul(0.5);
    return new CholeskyDecomposition(sym).isPositiveDefinite();
  }

  it('m = 512 at μ = 10⁻⁸ and 10⁻¹⁰: P⁻¹ is positive definite (it was indefinite at both); its shift is raised to the rounding floor where μ is below it, never at μ = 10⁻³', async () => {
    for (const mu of [1e-8, 1e-10]) {
      const P = await landmarkPreconditioner(K, { rank: 512, shift: mu });
      expect(await positiveDefinite(P)).toBe(true);
      expect(P.requestedShift).toBe(mu);
      expect(P.mu).toBeGreaterThanOrEqual(mu);
      expect(P.mu).toBeLessThan(1e-6);
      expect(P.jitter).toBeGreaterThan(0);
      if (P.mu > mu) expect(String(P)).toMatch(/shift=[\d.e-]+ \(raised from 1e-10: rounding floor\), .*, jitter=/);
      await P.dispose();
    }
    const moderate = await landmarkPreconditioner(K, { rank: 512, shift: 1e-3 });
    expect(moderate.mu).toBe(1e-3);
    await moderate.dispose();
  }, 60_000);

  it("method 'cg' with landmarks at α = 10⁻⁸ converges to rtol against the dense matrix (it broke down: rᵀM r < 0 at iteration 531)", async () => {
    const b = randomVector(n, 3);
    const alpha = 1e-8;
    const r = (await K.solve(b, alpha, {
      method: 'cg', preconditioner: 'landmarks', preconditionerOptions: { rank: 512 }, rtol: 1e-5, returnInfo: true,
    })) as SolveResult<Float64Array>;
    expect(r.breakdown).toBeUndefined();
    expect(r.info).toBe(0);
    expect(relativeResidual(gaussianDense(x, x, sigma), alpha, r.x, b)).toBeLessThanOrEqual(1e-5);
  }, 60_000);
});

describe('why CG stopped short, said truthfully', () => {
  const n = 1500;
  const x = points(n, 3, 1);
  const Kd = gaussianDense(x, x, sigma);
  const lambdaMax = largestEigenvalue(Kd);

  /** The cause the message gives must match the floor ε·λ_max·‖x‖ computed here from the dense matrix. */
  function expectTruthfulStagnation(r: SolveResult<Float64Array>, alpha: number, b: Float64Array): void {
    const residual = relativeResidual(Kd, alpha, r.x, b) * norm(b);
    const floor = Number.EPSILON * lambdaMax * norm(r.x);
    expect(r.message).toMatch(/^stagnated at residual .* after \d+ iterations \(returning the best iterate\): /);
    expect(r.message).toMatch(/ε·‖A‖·‖x‖ ≈ [\d.e+-]+ \(‖x‖ = [\d.e+-]+, ‖A‖ ≥ [\d.e+-]+\)/);
    // away from the threshold (tenfold the floor) the cause is unambiguous
    if (residual < 5 * floor) expect(r.message).toMatch(/the products' accuracy limits the attainable residual/);
    if (residual > 20 * floor) expect(r.message).toMatch(/so not their accuracy: the rounding of \d+ slowly converging iterations accumulated/);
    expect(r.message).toContain(`CG ran on A + αI at α = ${alpha}`);
  }

  it('at the products\' rounding floor (CG preconditioned by the exact factor, α = 10⁻¹⁰): the floor, with its figure', async () => {
    const K = gaussianKernel(x, { sigma });
    const b = randomVector(n, 4);
    const alpha = 1e-10;
    const r = (await K.solve(b, alpha, { method: 'cg', preconditioner: 'cholesky', rtol: 1e-10, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBeGreaterThan(0);
    const residual = relativeResidual(Kd, alpha, r.x, b) * norm(b);
    expect(residual).toBeLessThan(5 * Number.EPSILON * lambdaMax * norm(r.x));
    expectTruthfulStagnation(r, alpha, b);
    expect(r.message).toMatch(/preconditioned by <1500x1500 CholeskyFactorPreconditioner/);
    expect(r.message).not.toMatch(/method 'cholesky' factors/); // it is the factor already
  }, 60_000);

  it('far above it (landmarks m = 700 at α = 10⁻¹⁰, shift raised to the floor): slow convergence of an ill-conditioned system, naming α and the preconditioner', async () => {
    const K = gaussianKernel(x, { sigma });
    const b = randomVector(n, 5);
    const alpha = 1e-10;
    const r = (await K.solve(b, alpha, {
      method: 'cg', preconditioner: 'landmarks', preconditionerOptions: { rank: 700 }, rtol: 1e-3, returnInfo: true,
    })) as SolveResult<Float64Array>;
    expect(r.breakdown).toBeUndefined();
    expect(r.info).toBeGreaterThan(0);
    expect(relativeResidual(Kd, alpha, r.x, b) * norm(b)).toBeGreaterThan(20 * Number.EPSILON * lambdaMax * norm(r.x));
    expectTruthfulStagnation(r, alpha, b);
    expect(r.message).toMatch(/preconditioned by <1500x1500 LandmarkPreconditioner\(m=700, shift=[\d.e-]+ \(raised from 1e-10: rounding floor\)/);
    expect(r.message).toMatch(/A's entries are stored within the dense budget: method 'cholesky' factors A \+ αI instead$/);
  }, 60_000);

  it('an indefinite preconditioner: the breakdown names α and the preconditioner', async () => {
    const K = gaussianKernel(x.slice(0, 200), { sigma });
    const M = new IdentityOperator(200).scale(-1);
    const r = (await K.solve(randomVector(200, 6), 1e-8, { M, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.breakdown).toBe('preconditioner');
    expect(r.message).toMatch(/the preconditioner M is not positive definite; CG ran on A \+ αI at α = 1e-8, preconditioned by <200x200 .*>/);
  });
});
