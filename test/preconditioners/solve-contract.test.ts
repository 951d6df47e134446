/**
 * `solve`'s contract (issue 16 items 1 and 19): no answer returned without meeting the tolerance (CgNoConvergence
 * carrying the partial result, or the result object with `returnInfo`), non-symmetric operators and α that make
 * A + αI indefinite refused, options checked by name; the dense Cholesky path against a dense reference, its factor
 * cached on the operator for later solves with the same α and released by dispose().
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import type { ScaledOperator } from '../../src/operators/linear-operator.js';
import { DenseOperator, DiagonalOperator, IdentityOperator } from '../../src/operators/dense.js';
import { gaussianKernel, kernelOperator } from '../../src/operators/kernels.js';
import { Vi, Vj } from '../../src/formula/index.js';
import { NotPositiveDefinite, solvePlan, solveShifted, type CholeskyFactorPreconditioner, type SolveResult } from '../../src/preconditioners/index.js';
import { gaussianDense, points, randomVector, relErr, relativeResidual } from './helpers.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** (A + αI)⁻¹ B by ml-matrix's Cholesky (the independent reference). */
function denseSolve(A: Matrix, alpha: number, B: Matrix): Matrix {
  return new CholeskyDecomposition(A.clone().add(Matrix.eye(A.rows).mul(alpha))).solve(B);
}

describe('solve never returns an answer that misses the tolerance (item 1)', () => {
  const x = points(200, 3, 1);
  const K = gaussianKernel(x, { sigma: 0.5 });
  const Kd = gaussianDense(x, x, 0.5);
  const b = randomVector(200, 2);

  it('α = −10: refused, the diagonal shows K − 10·I is not positive definite', async () => {
    await expect(K.solve(b, -10)).rejects.toThrow(/solve: A \+ αI is not positive definite for α = -10: its diagonal entry \d+ is 1 \+ \(-10\) ≤ 0/);
    // an operator whose diagonal is unknown: CG's breakdown, thrown with the partial result
    const opaque = aslinearoperator({ shape: [200, 200], matvec: (v: Float64Array) => K.matvec(v), symmetric: true });
    const err = await opaque.solve(b, -10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { result } = err as CgNoConvergence;
    expect(result.info).toBeLessThan(0);
    expect(result.breakdown).toBe('operator');
    expect(result.x).toBeInstanceOf(Float64Array);
  });

  it('rtol: 0 after the dense factor ends as a stagnation at the products\' accuracy, with the measured residual (it blamed the factor: "M is not positive definite", history down to 5e-173)', async () => {
    const err = await K.solve(b, 1e-2, { rtol: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { result } = err as CgNoConvergence;
    expect(result.info).toBeGreaterThan(0);
    expect(result.breakdown).toBeUndefined();
    expect(result.message).toMatch(/stagnated at iteration \d+: the recursive residual fell to .* where rᵀM r underflows to 0, .*below what the float64 products can verify/);
    expect((err as Error).message).not.toMatch(/singular|indefinite|not positive definite/);
    // the history ends on b − (K + αI)x of the x returned, within rounding of the dense reference's
    const history = result.residualNorms as number[];
    const measured = relativeResidual(Kd, 1e-2, result.x as Float64Array, b) * Math.hypot(...b);
    expect(history.at(-1)!).toBeGreaterThan(0.5 * measured);
    expect(history.at(-1)!).toBeLessThan(2 * measured + 1e-15);
    expect(measured / Math.hypot(...b)).toBeLessThan(1e-12);
  });

  it('a singular system (duplicate points, α = 0) that CG cannot solve returns its shortest best iterate, the message and history ending on its measured residual (it returned x ≈ ±5.6e31 "with residual 2.3e2")', async () => {
    const twin = gaussianKernel([[0.5, 0.5], [0.5, 0.5]], { sigma: 0.3 });
    const err = await twin.solve([1, 2], 0, { method: 'cg', maxiter: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { result } = err as CgNoConvergence;
    const x = result.x as Float64Array;
    // K = [[1, 1], [1, 1]]: the residual of x is |b − Kx| with Kx = (x₀ + x₁)(1, 1)
    const measured = Math.hypot(1 - x[0]! - x[1]!, 2 - x[0]! - x[1]!);
    expect(Math.hypot(...x)).toBeLessThan(10);
    expect((result.residualNorms as number[]).at(-1)).toBeCloseTo(measured, 12);
    expect(result.message).toContain(`residual ${measured.toExponential(3)}`);
  });

  it('preconditioner options that name two preconditioners or a build that never runs are refused by name (one side was ignored)', async () => {
    const P = aslinearoperator({ shape: [200, 200], matvec: (v: Float64Array) => v.slice(), symmetric: true });
    await expect(K.solve(b, 1e-3, { M: P, preconditioner: 'nystrom' })).rejects.toThrow(/solve: options 'M' and 'preconditioner' both name the preconditioner; give one/);
    await expect(K.solve(b, 1e-3, { M: P, preconditionerOptions: { rank: 10 } })).rejects.toThrow(/solve: option 'preconditionerOptions' is for a preconditioner solve builds, and 'M' is given/);
    await expect(K.solve(b, 1e-3, { preconditioner: P, preconditionerOptions: { rank: 10 } })).rejects.toThrow(/'preconditionerOptions' is for a preconditioner solve builds, and preconditioner \(a LinearOperator\) is given/);
    await expect(K.solve(b, 1e-3, { preconditioner: 'none', preconditionerOptions: { rank: 10 } })).rejects.toThrow(/'preconditionerOptions' takes no part with preconditioner 'none'/);
    for (const key of ['refine', 'innerRtol', 'maxOuter'] as const) {
      const value = key === 'refine' ? true : key === 'innerRtol' ? 1e-3 : 3;
      await expect(K.solve(b, 1e-3, { [key]: value })).rejects.toThrow(new RegExp(`solve: option '${key}' is for the refinement on a more accurate operator, and none runs here \\(.*has no more accurate twin`));
    }
  });

  it('maxiter: 2 throws CgNoConvergence carrying x, info, iterations and the residual history', async () => {
    const err = await K.solve(b, 1e-3, { maxiter: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    const { result } = err as CgNoConvergence;
    expect(result.info).toBe(2);
    expect(result.iterations).toBe(2);
    const history = result.residualNorms as number[];
    expect(history).toHaveLength(3);
    // the partial x is the one whose residual the result reports
    const bNorm = Math.hypot(...b);
    expect(relativeResidual(Kd, 1e-3, result.x as Float64Array, b)).toBeCloseTo(history[2]! / bNorm, 6);
    expect(history[2]! / bNorm).toBeGreaterThan(1e-5);
  });

  it('a square kernel with y ≠ x is refused as not symmetric', async () => {
    const Kxy = gaussianKernel(x, { sigma: 0.5, y: points(200, 3, 9) });
    await expect(Kxy.solve(b, 1e-3)).rejects.toThrow(/solve: .*KernelOperator.* is not symmetric/);
  });

  it('DenseOperator([[1, 2], [3, 1]]).solve([1, 1]) is refused as not symmetric; the same matrix made symmetric solves', async () => {
    await expect(new DenseOperator([[1, 2], [3, 1]]).solve([1, 1])).rejects.toThrow(/is not symmetric/);
    const x2 = await new DenseOperator([[2, 1], [1, 2]]).solve([1, 1], 0, { rtol: 1e-12 });
    expect(Array.from(x2)).toEqual([expect.closeTo(1 / 3, 12), expect.closeTo(1 / 3, 12)]);
  });

  it('returnInfo: the result object (info ≠ 0 returned, not thrown) with the plan it followed', async () => {
    const partial = await K.solve(b, 1e-3, { maxiter: 2, returnInfo: true });
    expect(partial.info).toBe(2);
    expect(partial.x).toBeInstanceOf(Float64Array);
    const full = (await K.solve(b, 1e-3, { method: 'cg', rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
    expect(full.info).toBe(0);
    expect(full.plan.method).toBe('cg');
    expect(full.plan.reason).toBe("method: 'cg'");
    expect(relativeResidual(Kd, 1e-3, full.x, b)).toBeLessThanOrEqual(1e-8);
  });

  it("options are checked by name: unknown keys and wrong types refused, CG's keys refused by method 'cholesky'", async () => {
    await expect(K.solve(b, 1e-3, { rtoll: 1e-8 })).rejects.toThrow(/solve: unknown option 'rtoll' in options \(did you mean 'rtol'\?\)/);
    await expect(K.solve(b, 1e-3, { returnInfo: 'yes' })).rejects.toThrow(/solve: returnInfo must be true or false, got a string "yes"/);
    await expect(K.solve(b, 1e-3, { maxiter: 0 })).rejects.toThrow(/solve: maxiter must be an integer ≥ 1, got number 0/);
    await expect(K.solve(b, 1e-3, { method: 'lu' })).rejects.toThrow(/solve: method must be one of "auto", "cholesky", "cg"/);
    await expect(K.solve(b, 1e-3, { method: 'cholesky', x0: b })).rejects.toThrow(/solve: option 'x0' is for CG; method 'cholesky' does not use it/);
    // maxiter with 'cholesky' was taken and ignored (docs/guarantees.md lists it among the refused)
    await expect(K.solve(b, 1e-3, { method: 'cholesky', maxiter: 5 })).rejects.toThrow(/solve: option 'maxiter' is for CG; method 'cholesky' does not use it/);
    await expect(K.solve(b, 1e-3, { preconditioner: 'ilu' })).rejects.toThrow(/solve: preconditioner must be one of "auto", .*"cholesky" or a LinearOperator, got a string "ilu"/);
  });

  it("an operator with no stored form (a FunctionOperator, KᵀK) is read by n products and factored where CG's bound needs as many (it ran CG: κ = 1e9, n = 40 stopped at 0.33·‖b‖)", async () => {
    const m = 40;
    const { QrDecomposition } = await import('ml-matrix');
    const rng = mulberry32(3);
    const Q = new QrDecomposition(new Matrix(Array.from({ length: m }, () => Array.from({ length: m }, () => rng() - 0.5)))).orthogonalMatrix;
    const S = Q.mmul(Matrix.diag(Array.from({ length: m }, (_, i) => 10 ** (-9 * i / (m - 1))))).mmul(Q.transpose());
    const M = S.add(S.transpose()).mul(0.5);
    const opaque = aslinearoperator({ shape: [m, m], symmetric: true, matvec: (x: Float64Array) => Float64Array.from(M.mmul(Matrix.columnVector(Array.from(x))).to1DArray()) });
    const rhs = Float64Array.from({ length: m }, (_, i) => Math.sin(i));
    const r = (await opaque.solve(rhs, 0, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.plan.method).toBe('cholesky');
    expect(r.plan.reason).toBe("no stored dense form of A: read by 40 products and factored (CG's bound: 40 iterations × 1 columns, no α to bound it)");
    expect(relativeResidual(M, 0, r.x, rhs)).toBeLessThanOrEqual(1e-7);
    // where CG's bound is shorter than reading A, CG: α = 10 makes A + αI well conditioned (λ ≤ 1)
    const cgPlanned = (await opaque.solve(rhs, 10, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(cgPlanned.plan.method).toBe('cg');
    expect(cgPlanned.plan.reason).toMatch(/CG's bound \(\d+ iterations × 1 columns\) is below the 40 products that would read A/);
    // KᵀK of a cross kernel: its own entries, read by its products
    const Kc = gaussianKernel(points(m, 3, 7), { y: points(30, 3, 8), sigma: 0.5 });
    const KtK = Kc.T.dot(Kc);
    const b30 = Float64Array.from({ length: 30 }, (_, i) => Math.cos(i));
    const g = (await KtK.solve(b30, 1e-9, { returnInfo: true })) as SolveResult<Float64Array>;
    expect(g.plan.method).toBe('cholesky');
    const G = (await KtK.toDense());
    expect(relativeResidual(G, 1e-9, g.x, b30)).toBeLessThanOrEqual(1e-5); // the solve's rtol: A + αI of κ ≈ 10⁹
    // a kernel that declines to store K keeps CG (its entries would be stored after all)
    const never = gaussianKernel(points(m, 3, 9), { sigma: 0.5, denseCache: 'never' });
    expect(((await never.solve(rhs, 0.1, { returnInfo: true })) as SolveResult<Float64Array>).plan.method).toBe('cg');
  });

  it('an n×0 block is refused by the call made (it reached cg: "cg: b has no columns"); matmat keeps its n×0 product', async () => {
    const n = K.shape[0];
    const empty = Array.from({ length: n }, () => [] as number[]);
    const message = `b is a ${n}×0 block: no right-hand side to solve for (give at least one column)`;
    await expect(K.solve(empty, 1e-3)).rejects.toThrow(`solve: ${message}`);
    await expect(K.solve(new Matrix(n, 0), 1e-3, { returnInfo: true })).rejects.toThrow(`solve: ${message}`);
    await expect(solvePlan(K, empty, 1e-3)).rejects.toThrow(`solvePlan: ${message}`);
    const { solveWithVjp } = await import('../../src/autodiff/index.js');
    await expect(solveWithVjp(K, empty, 1e-3)).rejects.toThrow(`solveWithVjp: ${message}`);
    const product = await K.matmat(empty);
    expect([product.rows, product.columns]).toEqual([n, 0]);
  });
});

describe('small problems: a dense Cholesky factor of K + αI (item 19)', () => {
  const x = points(300, 3, 3);
  const Kd = gaussianDense(x, x, 0.5);
  const B = new Matrix(300, 3);
  for (let j = 0; j < 3; j++) B.setColumn(j, Array.from(randomVector(300, 10 + j)));

  it("'auto' factors where it costs less than CG's bound, and the answer matches a dense reference", async () => {
    const K = gaussianKernel(x, { sigma: 0.5 });
    const plan = await solvePlan(K, B, 1e-3);
    expect(plan.method).toBe('cholesky');
    expect(plan.estimate!.choleskyProducts).toBeLessThan(plan.estimate!.cgProducts);
    const result = (await solveShifted(K, B, 1e-3, { rtol: 1e-10, returnInfo: true })) as SolveResult<Matrix>;
    expect(result.info).toBe(0);
    const want = denseSolve(Kd, 1e-3, B);
    for (let j = 0; j < 3; j++) {
      expect(relErr(Float64Array.from(result.x.getColumn(j)), Float64Array.from(want.getColumn(j)))).toBeLessThan(1e-8);
      // the residuals reported are true ones, each within rtol
      const hist = result.residualNorms[j]!;
      expect(hist.at(-1)! / hist[0]!).toBeLessThanOrEqual(1e-10);
    }
    // a large α makes CG short: then CG
    expect((await solvePlan(K, B.getColumnVector(0).to1DArray(), 100)).method).toBe('cg');
    await K.dispose();
  });

  it('the factor is cached on the operator: reused by every later solve with that α, rebuilt after dispose()', async () => {
    const K = gaussianKernel(x, { sigma: 0.5 });
    const first = await solvePlan(K, B, 1e-3);
    const factor = first.M!;
    expect(await K.preconditioner(1e-3, 'cholesky')).toBe(factor);
    const b = randomVector(300, 20);
    // one vector, whose CG bound alone would not pay for a factor: the cached one serves
    const again = (await K.solve(b, 1e-3, { rtol: 1e-10, returnInfo: true })) as SolveResult<Float64Array>;
    expect(again.plan.M).toBe(factor);
    expect(again.plan.reason).toMatch(/cached/);
    expect(relativeResidual(Kd, 1e-3, again.x, b)).toBeLessThanOrEqual(1e-10);
    expect((await solvePlan(K, b, 1e-2)).M).not.toBe(factor); // another α, another factor
    await K.dispose();
    await expect(factor.matvec(b)).rejects.toThrow(/released/);
    const rebuilt = await solvePlan(K, B, 1e-3);
    expect(rebuilt.M).not.toBe(factor);
    expect(relErr(await rebuilt.M!.matvec(b), again.x)).toBeLessThan(1e-8);
    await K.dispose();
  });

  it('a factorisation that fails (A + αI indefinite) falls back to CG under auto, and is an error when asked for', async () => {
    const K = gaussianKernel(x, { sigma: 0.5 });
    // diagonal 1 − 0.5 > 0, but λ_min(K) ≈ 0: K − 0.5·I is indefinite
    const plan = await solvePlan(K, B, -0.5);
    expect(plan.method).toBe('cg');
    expect(plan.reason).toMatch(/not numerically positive definite .*CG instead/);
    await expect(K.solve(B, -0.5, { method: 'cholesky' })).rejects.toThrow(NotPositiveDefinite);
    // CG cannot solve it either: an error with the partial result, never a wrong answer
    const err = await K.solve(B.getColumnVector(0).to1DArray(), -0.5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    await K.dispose();
  });

  it("method: 'cholesky' on an operator without a stored form factors toDense(); float32 kernels factor their stored entries", async () => {
    const A = new DenseOperator(Kd, undefined, { symmetric: true });
    const b = randomVector(300, 21);
    const result = (await A.solve(b, 1e-3, { method: 'cholesky', rtol: 1e-10, returnInfo: true })) as SolveResult<Float64Array>;
    expect(result.plan.method).toBe('cholesky');
    expect(relErr(result.x, Float64Array.from(denseSolve(Kd, 1e-3, Matrix.columnVector(Array.from(b))).getColumn(0)))).toBeLessThan(1e-8);
    const K32 = gaussianKernel(x, { sigma: 0.5, dtype: 'float32' });
    const r32 = (await K32.solve(b, 1e-3, { method: 'cholesky', rtol: 1e-10, returnInfo: true })) as SolveResult<Float64Array>;
    const x32 = r32.x;
    // rtol 1e-10 is far below the float32 entries' floor ε₃₂·λ̂/α: the factor's x met it on the operator's own products
    // (float32 entries, float64 sums) and missed it against the exact entries (info > 0 before; before that, info 0);
    // refined on the exact residual by the same factor, x meets it against the float64 matrix
    // (float32-refinement.test.ts) …
    expect(r32.info).toBe(0);
    expect(r32.float32Entries?.refinementSteps).toBeGreaterThan(0);
    expect(relativeResidual(Kd, 1e-3, x32, b)).toBeLessThanOrEqual(1e-10);
    // … whose products differ from the operator's own by the entries' rounding
    expect(relErr(await K32.shift(1e-3).matvec(x32), b)).toBeLessThan(1e-3);
    await K32.dispose();
  });

  it("a dense matrix's own entries: aslinearoperator(M).solve(b, α) factors them (it ran CG: 5,000 iterations, no convergence)", async () => {
    const b = Float64Array.from(B.getColumn(1));
    const A = aslinearoperator(Kd); // 300×300, symmetric by its entries (probed), not declared
    for (const [op, alpha] of [[A, 1e-7], [A.T, 1e-7], [A, 1e-2]] as const) {
      const r = (await solveShifted(op, b, alpha, { rtol: 1e-6, returnInfo: true })) as SolveResult<Float64Array>;
      expect({ op: String(op), method: r.plan.method, info: r.info }).toEqual({ op: String(op), method: 'cholesky', info: 0 });
      expect(relativeResidual(Kd, alpha, r.x, b)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('a sum of kernels (K₁ + K₂, 2·K₁ + K₂) factors the sum of their stored entries (it ran CG)', async () => {
    const b = Float64Array.from(B.getColumn(2));
    const K1 = gaussianKernel(x, { sigma: 0.5 });
    const K2 = gaussianKernel(x, { sigma: 2 });
    const D2 = gaussianDense(x, x, 2);
    for (const [A, dense] of [[K1.add(K2), Kd.clone().add(D2)], [K1.scale(2).add(K2), Kd.clone().mul(2).add(D2)]] as const) {
      const r = (await solveShifted(A, b, 1e-5, { rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
      expect({ A: String(A), method: r.plan.method, info: r.info }).toEqual({ A: String(A), method: 'cholesky', info: 0 });
      expect(relativeResidual(dense, 1e-5, r.x, b)).toBeLessThanOrEqual(1e-8);
    }
    await K1.dispose();
    await K2.dispose();
  });

  it('a kernel plus a diagonal (per-point noise, K + D; K + c·I as a sum) factors; a diagonal alone keeps CG', async () => {
    const b = Float64Array.from(B.getColumn(2));
    const K = gaussianKernel(x, { sigma: 0.5 });
    const noise = Float64Array.from({ length: 300 }, (_, i) => 1e-6 * (1 + (i % 7)));
    const withNoise = Kd.clone();
    for (let i = 0; i < 300; i++) withNoise.set(i, i, withNoise.get(i, i) + noise[i]!);
    for (const [A, dense] of [[K.add(new DiagonalOperator(noise)), withNoise], [K.add(new IdentityOperator(300).scale(1e-5)), Kd.clone().add(Matrix.eye(300).mul(1e-5))]] as const) {
      const r = (await solveShifted(A, b, 0, { rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
      expect({ A: String(A), method: r.plan.method, info: r.info }).toEqual({ A: String(A), method: 'cholesky', info: 0 });
      expect(relativeResidual(dense, 0, r.x, b)).toBeLessThanOrEqual(1e-8);
    }
    // n³/3 work for a diagonal would be waste: it has no dense source of its own
    expect((await solvePlan(new DiagonalOperator(noise), b, 1e-3)).method).toBe('cg');
    await K.dispose();
  });

  it('K.shift(s).solve(b) and K.scale(c).solve(b, α) plan as K.solve(b, α) does: the factor of the stored K (they ran CG)', async () => {
    const K = gaussianKernel(x, { sigma: 0.5 });
    const b = Float64Array.from(B.getColumn(0));
    const cases: [ReturnType<typeof K.shift>, number, Matrix, number, number][] = [
      [K.shift(1e-3), 0, Kd, 1e-3, 1e-10], // (K + 10⁻³I) x = b
      [K.scale(2), 1e-3, Kd.clone().mul(2), 1e-3, 1e-10], // (2K + 10⁻³I) x = b
      [K.scale(0.5).shift(1e-9), 0, Kd.clone().mul(0.5), 1e-9, 1e-5], // κ ≈ 10¹⁰: CG ran out of iterations here
    ];
    for (const [A, alpha, dense, shift, rtol] of cases) {
      const r = (await solveShifted(A, b, alpha, { rtol, returnInfo: true })) as SolveResult<Float64Array>;
      expect({ A: String(A), method: r.plan.method, info: r.info }).toEqual({ A: String(A), method: 'cholesky', info: 0 });
      expect(relativeResidual(dense, shift, r.x, b)).toBeLessThanOrEqual(rtol);
    }
    await K.dispose();
  });

  it('a shift in A, or a diagonal part, counts as α: K.shift(s) plans on K with α = s; K + D sees min D (they planned as unregularised)', async () => {
    // n = 3,000, s = 1: CG's bound is short. Before, K.shift(1) and K + I (a diagonal part) took the n³/3 factor (bound
    // n iterations), where K.solve(b, 1) takes CG
    const big = points(3000, 3, 9);
    const b3 = randomVector(3000, 10);
    const K = gaussianKernel(big, { sigma: 0.2 });
    const byAlpha = await solvePlan(K, b3, 1);
    expect(byAlpha.method).toBe('cg');
    const ways = [[K.shift(1), 0], [K.shift(0.5), 0.5], [K.add(new DiagonalOperator(new Float64Array(3000).fill(1))), 0]] as const;
    for (const [A, alpha] of ways) {
      const plan = await solvePlan(A, b3, alpha);
      // the bound from ‖A1‖/‖1‖ (which counts the diagonal part too, not the shift) over the same regularisation
      expect({ A: String(A), method: plan.method, bound: plan.estimate?.iterations }).toEqual({ A: String(A), method: 'cg', bound: expect.closeTo(byAlpha.estimate!.iterations, -1) });
    }
    const r = (await solveShifted(K.shift(0.5), b3, 0.5, { rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
    expect({ method: r.plan.method, info: r.info }).toEqual({ method: 'cg', info: 0 });
    await K.dispose();
    // below it, the factor's precision follows the same regularisation: K.shift(s) as K at α = s (it was float64 for α = 0)
    const K2 = gaussianKernel(points(1500, 3, 11), { sigma: 0.2 });
    const b2 = randomVector(1500, 12);
    const dtype = async (A: Parameters<typeof solvePlan>[0], alpha: number) => ((await solvePlan(A, b2, alpha)).M as CholeskyFactorPreconditioner | undefined)?.factorDtype;
    expect(await dtype(K2, 1e-3)).toBe('float32');
    expect(await dtype(K2.shift(1e-3), 0)).toBe('float32');
    expect(await dtype(K2.add(new DiagonalOperator(new Float64Array(1500).fill(1e-3))), 0)).toBe('float32');
    await K2.dispose();
  });

  it("factorDtype given makes 'auto' factor, as CG's options make it run CG (it was ignored where CG was cheaper)", async () => {
    const K = gaussianKernel(points(3000, 3, 9), { sigma: 0.2 });
    const b = randomVector(3000, 10);
    expect((await solvePlan(K, b, 1)).method).toBe('cg');
    const plan = await solvePlan(K, b, 1, { factorDtype: 'float32' });
    expect({ method: plan.method, reason: plan.reason, dtype: (plan.M as CholeskyFactorPreconditioner).factorDtype })
      .toEqual({ method: 'cholesky', reason: "option 'factorDtype' is for the dense factor", dtype: 'float32' });
    await expect(solvePlan(K, b, 1, { factorDtype: 'float64', x0: new Float64Array(3000) })).rejects.toThrow(/solve: option 'factorDtype' is for the dense factor and 'x0' for CG; give method 'cholesky' or 'cg'/);
    await expect(solvePlan(K, b, 1, { factorDtype: 'float64', maxiter: 50 })).rejects.toThrow(/'factorDtype' is for the dense factor and 'maxiter' for CG/);
    expect((await solvePlan(K, b, 1, { factorDtype: 'auto', maxiter: 50 })).method).toBe('cg');
    await K.dispose();
  });

  it("a factor of non-finite entries is named as such (it read 'not numerically positive definite … pivot ≤ 0 at row 4')", async () => {
    const nan = aslinearoperator({ shape: [30, 30], symmetric: true, matvec: (x: Float64Array) => Float64Array.from(x, (v, t) => (t === 4 ? NaN : 2 * v)) });
    await expect(solveShifted(nan, new Float64Array(30).fill(1), 1, { method: 'cholesky' })).rejects.toThrow(/^cholesky: .*FunctionOperator.* has a non-finite entry \(4, 0\) = NaN, read from its products/);
    // a kernel infinite at r = 0, through the landmark preconditioner (it read "is K positive semidefinite?")
    const x = points(300, 3, 15);
    const K = kernelOperator('1 / (sqnorm2(x - y) + c)', { x: Vi(x), y: Vj(x), c: 0 });
    await expect(solveShifted(K, randomVector(300, 16), 1e-2, { preconditioner: 'landmarks' })).rejects.toThrow(/K has a non-finite entry K\(\d+, \d+\) = Infinity \(between landmarks\)/);
  });

  it('from AUTO_MIN_N points K.shift(s).solve(b) and (K + D).solve(b) take the landmark preconditioner K.solve(b, s) builds — the same one, cached on K (they factored n = 8,000 densely: 7.3 s against 1.35 s)', async () => {
    const K = gaussianKernel(points(4096, 3, 13), { sigma: 0.2 });
    const b = randomVector(4096, 14);
    const plan = await solvePlan(K, b, 1e-2);
    expect(plan.preconditioner).toBe('landmarks');
    const shifted = await solvePlan(K.shift(1e-2), b);
    expect({ method: shifted.method, preconditioner: shifted.preconditioner, same: shifted.M === plan.M }).toEqual({ method: 'cg', preconditioner: 'landmarks', same: true });
    // K + D (per-point noise from 10⁻² to 10⁻¹): K's preconditioner for K + (min D)·I; it took the n³/3 factor
    // (n = 8,000: 4.2 s against 1.2 s), and the first attempt, warm-started from K's own κ-estimate steps, did not converge
    const D = Float64Array.from({ length: 4096 }, (_, i) => 1e-2 * (1 + 9 * ((i * 7919) % 4096) / 4096));
    const A = K.add(new DiagonalOperator(D));
    const minD = D.reduce((m, v) => Math.min(m, v), Infinity);
    const sumPlan = await solvePlan(A, b);
    expect({ method: sumPlan.method, preconditioner: sumPlan.preconditioner, same: sumPlan.M === (await solvePlan(K, b, minD)).M })
      .toEqual({ method: 'cg', preconditioner: 'landmarks', same: true });
    const r = (await solveShifted(A, b, 0, { rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBe(0);
    expect(r.iterations).toBeLessThan(100);
    const Ax = await A.matvec(r.x);
    const res = Math.hypot(...Array.from(Ax, (v, i) => v - b[i]!)) / Math.hypot(...b);
    expect(res).toBeLessThanOrEqual(1e-8);
    // an output scale, 2·K + D + αI (as GPyTorch's ScaleKernel): ½·K's preconditioner for K + ((α + min D)/2)·I (it
    // factored: n = 8,000, K.scale(2).solve(b, 2·10⁻³) 3.65 s against 1.19 s)
    const scaled = K.scale(2).add(new DiagonalOperator(D));
    const scaledPlan = await solvePlan(scaled, b, 1e-2);
    const base = (await solvePlan(K, b, (1e-2 + minD) / 2)).M;
    const M = scaledPlan.M as ScaledOperator;
    expect({ method: scaledPlan.method, preconditioner: scaledPlan.preconditioner, factor: M.factor, sameP: M.base === base })
      .toEqual({ method: 'cg', preconditioner: 'landmarks', factor: 0.5, sameP: true });
    const rs = (await solveShifted(scaled, b, 1e-2, { rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
    expect(rs.info).toBe(0);
    expect(rs.iterations).toBeLessThan(100);
    const Sx = await scaled.matvec(rs.x);
    expect(Math.hypot(...Array.from(Sx, (v, i) => v + 1e-2 * rs.x[i]! - b[i]!)) / Math.hypot(...b)).toBeLessThanOrEqual(1e-8);
    await K.dispose();
  });

  it("onProgress and the 'auto' preconditioner's options leave 'auto' free to factor (they made it run CG: the CLI's default)", async () => {
    const K = gaussianKernel(x, { sigma: 0.5 });
    const seen: { iteration: number; residualNorm: number; residualNorms?: number[] }[] = [];
    const onProgress = (p: (typeof seen)[number]) => seen.push(p);
    const result = (await solveShifted(K, B, 1e-3, { rtol: 1e-10, returnInfo: true, onProgress, preconditionerOptions: { seed: 3 } })) as SolveResult<Matrix>;
    expect(result.plan.method).toBe('cholesky'); // before: 'cg', "option 'onProgress' is for CG"
    expect(result.info).toBe(0);
    // the refinement's steps are reported: true residuals, every column's, the last within rtol
    expect(seen.length).toBe(result.iterations + 1);
    expect(seen.map((p) => p.iteration)).toEqual(Array.from(seen, (_, i) => i));
    const last = seen.at(-1)!;
    expect(last.residualNorms).toEqual(result.residualNorms.map((h) => (h as number[]).at(-1)));
    expect(last.residualNorm).toBe(Math.max(...last.residualNorms!));
    expect(last.residualNorm).toBeLessThanOrEqual(1e-10 * Math.max(...Array.from({ length: 3 }, (_, j) => Math.hypot(...B.getColumn(j)))));
    // 'cholesky' takes onProgress too; a named preconditioner's options still choose CG, and 'cholesky' refuses them
    const one = B.getColumnVector(0).to1DArray();
    seen.length = 0;
    await K.solve(one, 1e-3, { method: 'cholesky', onProgress });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]!.residualNorms).toBeUndefined();
    expect((await solvePlan(K, one, 1e-3, { preconditioner: 'nystrom', preconditionerOptions: { seed: 3 } })).method).not.toBe('cholesky');
    await expect(K.solve(one, 1e-3, { method: 'cholesky', preconditionerOptions: { seed: 3 } })).rejects.toThrow(/option 'preconditionerOptions' is for CG/);
    // the 'auto' preconditioner's options are checked where the factor is chosen too: a misspelt key is refused, not unseen
    await expect(K.solve(one, 1e-3, { preconditionerOptions: { sed: 3 } as never })).rejects.toThrow(/unknown option 'sed' in preconditionerOptions/);
    await K.dispose();
  });
});
