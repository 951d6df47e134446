import { describe, expect, it } from 'vitest';
import { Matrix, solve as denseSolve } from 'ml-matrix';
import { cg } from '../../src/krylov/cg.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import {
  nystromPreconditioner, NystromPreconditioner, defaultMaxRank, nystromDecision, stageMultiplyAdds, applyMultiplyAdds,
  DEFAULT_ITERATIONS_PER_SQRT_KAPPA, type NystromCostModel,
} from '../../src/preconditioners/index.js';
import {
  cgBound, denseOp, eigenvalues, gaussianDense, inv, maxAbs, maxAbsDiff, points, randomVector, relErr, shifted, withSpectrum,
} from './helpers.js';

/** n = 80: r = 6 large eigenvalues, the rest tiny (≤ μ/100), so rank ≥ r captures A. */
function lowRankPlusTiny(n: number, r: number, tiny: number, seed: number): Matrix {
  const lambda = Array.from({ length: n }, (_, i) => (i < r ? 10 ** (3 - (2 * i) / r) : tiny * ((i % 7) / 7)));
  return withSpectrum(lambda, seed);
}

describe('randomized Nyström preconditioner', () => {
  it('equals μ(A + μI)⁻¹ when rank(A) ≤ ℓ (closed form, independent of Ω)', async () => {
    const n = 60;
    const mu = 0.05;
    const A = withSpectrum(Array.from({ length: n }, (_, i) => (i < 5 ? 100 / (i + 1) : 0)), 3);
    const P = (await nystromPreconditioner(denseOp(A), { rank: 8, shift: mu, seed: 7 })) as NystromPreconditioner;
    expect(P).toBeInstanceOf(NystromPreconditioner);
    expect(P.rank).toBe(8);
    const ref = inv(shifted(A, mu)).mul(mu);
    const D = await P.toDense();
    expect(maxAbsDiff(D, ref)).toBeLessThan(1e-9);
    // λ̂ recovers the nonzero spectrum, descending, and zeros beyond it
    expect(P.eigenvalues[0]).toBeCloseTo(100, 8);
    expect(P.eigenvalues[4]).toBeCloseTo(20, 8);
    expect(P.eigenvalues[7]).toBeLessThan(1e-9);
  });

  it('P⁻¹ is symmetric positive definite and equals (λ̂_ℓ+μ)U(Λ̂+μI)⁻¹Uᵀ + (I − UUᵀ) on a full-rank A', async () => {
    const n = 70;
    const mu = 1e-2;
    const A = withSpectrum(Array.from({ length: n }, (_, i) => 50 * Math.exp(-i / 6)), 11);
    const P = (await nystromPreconditioner(denseOp(A), { rank: 20, shift: mu, seed: 1 })) as NystromPreconditioner;
    const U = P.basis();
    expect(maxAbsDiff(U.transpose().mmul(U), Matrix.eye(20))).toBeLessThan(1e-8);
    const lam = P.eigenvalues;
    const lmin = lam[19]!;
    for (let t = 1; t < 20; t++) expect(lam[t - 1]!).toBeGreaterThanOrEqual(lam[t]!);
    const mid = Matrix.diag(Array.from(lam, (l) => (lmin + mu) / (l + mu)));
    const ref = U.mmul(mid).mmul(U.transpose()).add(Matrix.eye(n)).sub(U.mmul(U.transpose()));
    const D = await P.toDense();
    expect(maxAbsDiff(D, ref)).toBeLessThan(1e-9);
    expect(maxAbsDiff(D, D.transpose())).toBeLessThan(1e-12);
    const ev = eigenvalues(D);
    // spectrum of P⁻¹: (λ̂_ℓ+μ)/(λ̂_i+μ) on range(U), 1 on its complement
    expect(ev[0]!).toBeGreaterThan((lmin + mu) / (lam[0]! + mu) - 1e-10);
    expect(ev[n - 1]!).toBeLessThan(1 + 1e-10);
    // Nyström approximations never exceed A: λ̂_i ≤ λ_i
    const exact = eigenvalues(A).reverse();
    for (let t = 0; t < 20; t++) expect(lam[t]!).toBeLessThanOrEqual(exact[t]! * (1 + 1e-10));
  });

  it('block application (matmat) equals column-wise matvec', async () => {
    const A = withSpectrum(Array.from({ length: 40 }, (_, i) => 1 / (1 + i)), 5);
    const P = await nystromPreconditioner(denseOp(A), { rank: 10, shift: 1e-3 });
    const X = new Matrix([...Array(40)].map((_, i) => [Math.sin(i), Math.cos(3 * i), i / 40]));
    const Y = await P.matmat(X);
    for (let c = 0; c < 3; c++) {
      const y = await P.matvec(X.getColumn(c));
      for (let i = 0; i < 40; i++) expect(Y.get(i, c)).toBeCloseTo(y[i]!, 13);
    }
  });

  it('is seeded: the same seed gives the same operator, another seed another', async () => {
    const A = denseOp(withSpectrum(Array.from({ length: 30 }, (_, i) => 1 / (1 + i)), 2));
    const x = randomVector(30, 9);
    const a = await (await nystromPreconditioner(A, { rank: 5, shift: 1e-2, seed: 4 })).matvec(x);
    const b = await (await nystromPreconditioner(A, { rank: 5, shift: 1e-2, seed: 4 })).matvec(x);
    const c = await (await nystromPreconditioner(A, { rank: 5, shift: 1e-2, seed: 5 })).matvec(x);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(relErr(a, c)).toBeGreaterThan(1e-6);
  });

  it('r large eigenvalues + a tiny bulk: rank-r Nyström makes CG converge in a handful of iterations, as the κ bound predicts', async () => {
    const n = 200;
    const r = 12;
    const mu = 1e-2;
    const A = lowRankPlusTiny(n, r, mu / 100, 21);
    const op = denseOp(A);
    const b = randomVector(n, 3);
    const plain = await cg(op.shift(mu), b, { rtol: 1e-10 });
    const P = (await nystromPreconditioner(op, { rank: r + 4, shift: mu, seed: 2 })) as NystromPreconditioner;
    const pre = await cg(op.shift(mu), b, { rtol: 1e-10, M: P });
    expect(pre.info).toBe(0);
    // κ(P⁻¹(A+μI)) ≤ (λ̂_ℓ + μ + ‖A − Â‖)/μ ≤ 1 + (λ̂_ℓ + λ_{r+1})/μ
    const kappa = 1 + (P.eigenvalues[r + 3]! + mu / 100) / mu;
    const bound = cgBound(kappa, 1e-10 / Math.sqrt(kappa));
    expect(pre.iterations).toBeLessThanOrEqual(bound);
    expect(pre.iterations).toBeLessThanOrEqual(8);
    expect(plain.iterations).toBeGreaterThanOrEqual(r);
    expect(plain.iterations).toBeGreaterThan(2 * pre.iterations);
    const exact = denseSolve(shifted(A, mu), Matrix.columnVector(Array.from(b))).getColumn(0);
    expect(relErr(pre.x, exact)).toBeLessThan(1e-8);
  });

  it('preconditioned CG on a Gaussian kernel converges to the dense solution in fewer iterations', async () => {
    const x = points(500, 2, 8);
    const K = gaussianKernel(x, { sigma: 0.15 });
    const Kd = gaussianDense(x, x, 0.15);
    const mu = 1e-3;
    const b = randomVector(500, 1);
    const P = await nystromPreconditioner(K, { rank: 100, shift: mu, seed: 3 });
    const pre = await cg(K.shift(mu), b, { rtol: 1e-10, M: P });
    const plain = await cg(K.shift(mu), b, { rtol: 1e-10 });
    const exact = denseSolve(shifted(Kd, mu), Matrix.columnVector(Array.from(b))).getColumn(0);
    expect(pre.info).toBe(0);
    expect(relErr(pre.x, exact)).toBeLessThan(1e-7);
    expect(pre.iterations * 3).toBeLessThan(plain.iterations);
  });

  it("rank 'auto' doubles ℓ until λ̂_ℓ ≤ tolerance·μ, reusing the sketch columns", async () => {
    const n = 300;
    const mu = 1e-3;
    const A = denseOp(withSpectrum(Array.from({ length: n }, (_, i) => Math.exp(-i / 8)), 4));
    const P = (await nystromPreconditioner(A, { rank: 'auto', shift: mu, initialRank: 8, tolerance: 10 })) as NystromPreconditioner;
    const ranks = P.stages.map((s) => s.rank);
    expect(ranks[0]).toBe(8);
    for (let t = 1; t < ranks.length; t++) expect(ranks[t]).toBe(Math.min(2 * ranks[t - 1]!, defaultMaxRank(n)));
    expect(P.stages[P.stages.length - 1]!.smallestEigenvalue).toBeLessThanOrEqual(10 * mu);
    for (const s of P.stages.slice(0, -1)) expect(s.smallestEigenvalue).toBeGreaterThan(10 * mu);
    expect(P.sketchColumns).toBe(P.rank); // one sketch column per final column: nothing recomputed
    // λ_i = e^{-i/8} ≤ 10μ from i ≈ 37, and λ̂_ℓ ≤ λ_ℓ: certified by ℓ = 32 or 64
    expect([32, 64]).toContain(P.rank);
    // a cap stops the doubling
    const capped = (await nystromPreconditioner(A, { rank: 'auto', shift: mu, initialRank: 8, maxRank: 20, stopping: 'tolerance' })) as NystromPreconditioner;
    expect(capped.stages.map((s) => s.rank)).toEqual([8, 16, 20]);
    // the default rank cap
    expect(defaultMaxRank(8000)).toBe(1024);
    expect(defaultMaxRank(1_048_576)).toBe(106);
    expect(defaultMaxRank(50)).toBe(49);
  });

  describe("rank 'auto', cost rule (injected costs: no test depends on timings)", () => {
    const n = 300;
    const mu = 1e-3;
    const A = denseOp(withSpectrum(Array.from({ length: n }, (_, i) => Math.exp(-i / 8)), 4));
    // products dominate nothing, everything balanced: a baseline the cases below perturb
    const base: Required<NystromCostModel> = {
      sketchMsPerColumn: 1, productMs: 5, hostMsPerMultiplyAdd: 1e-6, eigenMsPerCube: 1e-6, iterationsPerSqrtKappa: DEFAULT_ITERATIONS_PER_SQRT_KAPPA,
    };
    const build = async (costModel: NystromCostModel, extra: object = {}) =>
      (await nystromPreconditioner(A, { rank: 'auto', shift: mu, initialRank: 4, seed: 3, costModel, ...extra })) as NystromPreconditioner;

    it('nystromDecision: next < now ⇔ doubling pays, with the documented formula', () => {
      const costs = { ...base };
      const d = nystromDecision({ n: 1000, mu: 1e-3, rank: 64, nextRank: 128, lambda: 0.1, predictedLambda: 0.01, passesNext: 1, costs });
      const c = DEFAULT_ITERATIONS_PER_SQRT_KAPPA;
      expect(d.iterationsNow).toBeCloseTo(c * Math.sqrt(101), 10);
      expect(d.iterationsNext).toBeCloseTo(c * Math.sqrt(11), 10);
      expect(d.solveMsNow).toBeCloseTo(d.iterationsNow * (5 + 1e-6 * applyMultiplyAdds(1000, 64)), 8);
      expect(d.solveMsNext).toBeCloseTo(d.iterationsNext * (5 + 1e-6 * applyMultiplyAdds(1000, 128)), 8);
      expect(d.buildMsNext).toBeCloseTo(64 * 1 + 1e-6 * stageMultiplyAdds(1000, 64, 128, 1) + 1e-6 * 128 ** 3, 8);
      expect(d.pays).toBe(d.buildMsNext + d.solveMsNext < d.solveMsNow);
      expect(d.pays).toBe(true);
      // the same decision with 100× dearer sketch columns does not pay
      expect(nystromDecision({ n: 1000, mu: 1e-3, rank: 64, nextRank: 128, lambda: 0.1, predictedLambda: 0.01, passesNext: 1, costs: { ...costs, sketchMsPerColumn: 100 } }).pays).toBe(false);
      // stage work: a doubling's new columns only (orthonormalisation, ΩᵀY_new, the B/G extension)
      expect(stageMultiplyAdds(1000, 0, 64, 1)).toBe(1000 * 64 * 64 * 3);
    });

    it('deterministic for a seed: same stages, decisions and operator; no timed product when all costs are given', async () => {
      let matvecs = 0;
      const spy = Object.create(A) as typeof A;
      spy.matvec = async (x) => { matvecs++; return A.matvec(x); };
      const P = (await nystromPreconditioner(spy, { rank: 'auto', shift: mu, initialRank: 4, seed: 3, costModel: base })) as NystromPreconditioner;
      const Q = await build(base);
      expect(matvecs).toBe(0);
      expect(P.stages.map((s) => s.rank)).toEqual(Q.stages.map((s) => s.rank));
      expect(P.stages.map((s) => s.decision)).toEqual(Q.stages.map((s) => s.decision));
      const x = randomVector(n, 2);
      expect(Array.from(await P.matvec(x))).toEqual(Array.from(await Q.matvec(x)));
      // every stage but the last doubled; the last says why it stopped
      for (const s of P.stages.slice(0, -1)) expect(s.decision!.action).toBe('double');
      expect(['cost', 'tolerance', 'maxRank']).toContain(P.stages[P.stages.length - 1]!.decision!.action);
    });

    it('stops earlier when sketch columns or host arithmetic are dear, goes further when CG products are dear', async () => {
      const ref = (await build(base)).rank;
      const dearColumns = (await build({ ...base, sketchMsPerColumn: 200 })).rank;
      const dearHost = (await build({ ...base, hostMsPerMultiplyAdd: 1e-3, eigenMsPerCube: 1e-3 })).rank;
      const dearProducts = (await build({ ...base, productMs: 500 })).rank;
      expect(dearColumns).toBeLessThan(ref);
      expect(dearHost).toBeLessThan(ref);
      expect(dearProducts).toBeGreaterThanOrEqual(ref);
      // free builds double until the tolerance certificate (λ̂_ℓ ≤ 10μ) or maxRank
      const free = await build({ sketchMsPerColumn: 0, productMs: 1, hostMsPerMultiplyAdd: 0, eigenMsPerCube: 0 });
      const last = free.stages[free.stages.length - 1]!;
      expect(last.decision!.action).toBe('tolerance');
      expect(last.smallestEigenvalue).toBeLessThanOrEqual(10 * mu);
      // a stop for cost is a stage whose predicted next build + solve was not cheaper
      const stopped = await build({ ...base, sketchMsPerColumn: 200 });
      const d = stopped.stages[stopped.stages.length - 1]!.decision!;
      expect(d.action).toBe('cost');
      expect(d.buildMsNext + d.solveMsNext).toBeGreaterThanOrEqual(d.solveMsNow);
    });

    it('never exceeds maxRank (a capped last step), and a free build stops there', async () => {
      const free = { sketchMsPerColumn: 0, productMs: 1, hostMsPerMultiplyAdd: 0, eigenMsPerCube: 0 };
      const P = await build(free, { maxRank: 20 });
      expect(P.stages.map((s) => s.rank)).toEqual([4, 8, 16, 20]);
      expect(P.stages[3]!.decision!.action).toBe('maxRank');
      expect(P.rank).toBe(20);
      expect(P.sketchColumns).toBe(20);
      // an explicit tolerance is the tolerance rule (costs ignored) unless stopping: 'cost'
      const T = await build({ ...base, sketchMsPerColumn: 1e6 }, { tolerance: 10 });
      expect(T.stages[T.stages.length - 1]!.smallestEigenvalue).toBeLessThanOrEqual(10 * mu);
      expect(T.stages.every((s) => s.decision === undefined)).toBe(true);
      const C = await build({ ...base, sketchMsPerColumn: 1e6 }, { tolerance: 10, stopping: 'cost' });
      expect(C.rank).toBe(4);
      expect(C.stages[0]!.decision!.action).toBe('cost');
    });

    it('rejects bad cost models and stopping rules', async () => {
      await expect(build({ productMs: -1 })).rejects.toThrow(/costModel.productMs must be a finite number ≥ 0, got -1/);
      await expect(build({ iterationsPerSqrtKappa: 0 })).rejects.toThrow(/costModel.iterationsPerSqrtKappa .* got 0/);
      await expect(build({ sketchMsPerColumn: NaN })).rejects.toThrow(/sketchMsPerColumn .* got NaN/);
      await expect(build(base, { stopping: 'never' })).rejects.toThrow(/stopping must be 'cost' or 'tolerance', got .*never/);
    });
  });

  it('uses ONE matmat for a fixed-rank sketch', async () => {
    const A = denseOp(withSpectrum(Array.from({ length: 50 }, (_, i) => 1 / (1 + i)), 6));
    let matmats = 0;
    let matvecs = 0;
    const spy = Object.create(A) as typeof A;
    spy.matmat = async (X) => { matmats++; return A.matmat(X); };
    spy.matvec = async (x) => { matvecs++; return A.matvec(x); };
    await nystromPreconditioner(spy, { rank: 10, shift: 1e-2 });
    expect(matmats).toBe(1);
    expect(matvecs).toBe(0);
  });

  it('rejects bad input with messages that name the value', async () => {
    const A = denseOp(withSpectrum([3, 2, 1, 0.5], 1));
    await expect(nystromPreconditioner(A, { rank: 4, shift: 1 })).rejects.toThrow(/rank must be an integer with 1 ≤ rank < n = 4, got 4/);
    await expect(nystromPreconditioner(A, { rank: 0, shift: 1 })).rejects.toThrow(/rank .* got 0/);
    await expect(nystromPreconditioner(A, { rank: -2, shift: 1 })).rejects.toThrow(/got -2/);
    await expect(nystromPreconditioner(A, { rank: 1.5, shift: 1 })).rejects.toThrow(/got 1.5/);
    await expect(nystromPreconditioner(A, { rank: NaN, shift: 1 })).rejects.toThrow(/got NaN/);
    await expect(nystromPreconditioner(A, { rank: 2, shift: 0 })).rejects.toThrow(/shift must be a positive finite number .* got 0/);
    await expect(nystromPreconditioner(A, { rank: 2, shift: -1 })).rejects.toThrow(/got -1/);
    await expect(nystromPreconditioner(A, { rank: 2, shift: NaN })).rejects.toThrow(/shift .* got NaN/);
    await expect(nystromPreconditioner(A, { rank: 2, shift: 1, seed: 0.5 })).rejects.toThrow(/seed must be an integer, got 0.5/);
    await expect(nystromPreconditioner(A, { rank: 2, shift: 1, method: 'magic' as never })).rejects.toThrow(/method must be 'randomized' or 'landmarks', got magic/);
    await expect(nystromPreconditioner(A, { rank: 'auto', shift: 1, maxRank: 9 })).rejects.toThrow(/maxRank .* got 9/);
    await expect(nystromPreconditioner(new Matrix([[1, 2, 3], [4, 5, 6]]), { rank: 1, shift: 1 })).rejects.toThrow(/A must be square, got shape 2x3/);
    await expect(nystromPreconditioner(A, { rank: 2, shift: 1, method: 'landmarks' })).rejects.toThrow(/needs a KernelOperator/);
    const bad = denseOp(new Matrix([[1, 0, 0], [0, 1, 0], [0, 0, 1]]));
    const nanOp = Object.create(bad) as typeof bad;
    nanOp.matmat = async (X) => (await bad.matmat(X)).mul(NaN);
    await expect(nystromPreconditioner(nanOp, { rank: 2, shift: 1 })).rejects.toThrow(/the sketch A·Ω has the non-finite value NaN at row 0, column 0/);
    const indefinite = denseOp(withSpectrum([5, -4, -3, 1, 1, 1], 2));
    await expect(nystromPreconditioner(indefinite, { rank: 5, shift: 1e-3 })).rejects.toThrow(/not positive definite .* positive semidefinite/);
  });

  it('magnitudes: P⁻¹ entries bounded by 1 (it never amplifies)', async () => {
    const A = withSpectrum(Array.from({ length: 30 }, (_, i) => 1 / (1 + i * i)), 12);
    const D = await (await nystromPreconditioner(denseOp(A), { rank: 6, shift: 1e-4 })).toDense();
    expect(maxAbs(D)).toBeLessThanOrEqual(1 + 1e-12);
  });
});
