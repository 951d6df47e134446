import { afterEach, describe, expect, it } from 'vitest';
import { cg } from '../../src/krylov/cg.js';
import { eigsh } from '../../src/krylov/eigsh.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { registerKrylovModule, type KrylovModule } from '../../src/operators/krylov-bridge.js';
import {
  AUTO_MIN_N, AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS, JacobiPreconditioner, LandmarkPreconditioner, NystromPreconditioner,
  LANDMARK_ESTIMATE_STEPS, PivotedCholeskyPreconditioner, cgIterationBound, defaultPreconditionerChoice, landmarkStages,
} from '../../src/preconditioners/index.js';
import { onesRayleighEstimate } from '../../src/preconditioners/common.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { F32_SUMS_ERROR } from '../../src/cpu/dense-product.js';
import { points, randomVector, relErr } from './helpers.js';

afterEach(() => registerKrylovModule(undefined));

/** The real krylov module, recording the options each cg call receives. */
function recordingKrylov(): { seen: Record<string, unknown>[]; iterations: number[] } {
  const seen: Record<string, unknown>[] = [];
  const iterations: number[] = [];
  const m: KrylovModule = {
    eigsh: (A, k, o) => eigsh(A, k, o as never) as never,
    cg: async (A, b, o) => {
      seen.push({ ...(o as Record<string, unknown>) });
      const r = await cg(A, b as Float64Array, o as never);
      iterations.push(r.iterations);
      return r;
    },
  };
  registerKrylovModule(m);
  return { seen, iterations };
}

describe('LinearOperator.solve picks a preconditioner', () => {
  const n = AUTO_MIN_N;
  const K = gaussianKernel(points(n, 3, 2), { sigma: 0.1 });
  const alpha = 0.1;
  const b = randomVector(n, 4);

  it("default rule: a symmetric CPU kernel with n ≥ 4096 and α > 0 → adaptive landmarks (rank 'auto'), built once and cached", async () => {
    expect(defaultPreconditionerChoice(K, alpha)).toBe('landmarks');
    expect(defaultPreconditionerChoice(K, 0)).toBe('none');
    expect(defaultPreconditionerChoice(gaussianKernel(points(n - 1, 3, 2)), alpha)).toBe('none');
    const rec = recordingKrylov();
    const x = (await K.solve(b, alpha, { rtol: 1e-10 })) as Float64Array;
    const P = await K.preconditioner(alpha);
    expect(P).toBeInstanceOf(LandmarkPreconditioner);
    expect((P as LandmarkPreconditioner).wasm).toBe(true);
    expect(rec.seen[0]!.M).toBe(P); // the cached instance was the one used
    expect(rec.seen[0]!.rtol).toBe(1e-10);
    expect('preconditioner' in rec.seen[0]!).toBe(false);
    // the build's κ-estimate steps ran PCG on b: CG resumed from them — their iterate is the same as 8 PCG steps
    // from 0, and estimate steps + CG's iterations are the straight run's
    const warm = rec.seen[0]!.x0 as Float64Array;
    expect(warm).toBeInstanceOf(Float64Array);
    expect(rec.seen[0]!.resume).toBeDefined();
    const eight = await cg(K.shift(alpha), b, { M: P!, maxiter: LANDMARK_ESTIMATE_STEPS, rtol: 0 });
    expect(relErr(warm, eight.x)).toBeLessThan(1e-9);
    const straight = await cg(K.shift(alpha), b, { M: P!, rtol: 1e-10 });
    expect(Math.abs(LANDMARK_ESTIMATE_STEPS + rec.iterations[0]! - straight.iterations)).toBeLessThanOrEqual(1);
    // the adjoint/second solve reuses it (no new build) and has no warm start (its b is another)
    await K.solve(randomVector(n, 5), alpha, { rtol: 1e-6 });
    expect(rec.seen[1]!.M).toBe(P);
    expect(rec.seen[1]!.x0).toBeUndefined();
    // converged to the solution: the true residual of (K + αI) x = b
    const r = await K.shift(alpha).matvec(x);
    expect(relErr(r, b)).toBeLessThan(1e-9);
    // rank 'auto' stopped by its cost rule (measured costs: the rank depends on the machine), and
    // the preconditioned solve takes fewer iterations than plain CG
    const stages = landmarkStages(P as LandmarkPreconditioner);
    expect(['cost', 'maxRank', 'memory']).toContain(stages[stages.length - 1]!.action);
    const plain = await cg(K.shift(alpha), b, { rtol: 1e-10 });
    expect(rec.iterations[0]!).toBeLessThan(plain.iterations);
  });

  it("default rule: a well-conditioned system (CG bound < AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS from λ̂ = ‖K1‖/‖1‖) runs unpreconditioned", async () => {
    // λ̂ ≈ 64 here: α = 4 bounds plain CG by ½·√17·ln(2·10⁵) ≈ 25 iterations; α = 1 by 49
    const ones = await K.matvec(new Float64Array(n).fill(1));
    const lambda = Math.hypot(...ones) / Math.sqrt(n);
    expect(cgIterationBound(lambda / 4 + 1)).toBeLessThan(AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS);
    expect(cgIterationBound(lambda / 1 + 1)).toBeGreaterThanOrEqual(AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS);
    expect(await K.preconditioner(4)).toBeUndefined();
    expect(await K.preconditioner(4, 'nystrom', { rank: 16 })).toBeInstanceOf(NystromPreconditioner); // named: built as asked
    const rec = recordingKrylov();
    const x = (await K.solve(b, 4, { rtol: 1e-8 })) as Float64Array;
    expect(rec.seen[0]!.M).toBeUndefined();
    expect(relErr(await K.shift(4).matvec(x), b)).toBeLessThan(1e-7);
  });

  it('λ̂ = ‖K1‖/‖1‖ is one product per operator, shared by every rule that asks for it', async () => {
    const A = gaussianKernel(points(300, 3, 7), { sigma: 0.2 });
    let products = 0;
    const counted = Object.assign(Object.create(Object.getPrototypeOf(A) as object) as typeof A, A);
    const matvec = A.matvec.bind(A);
    counted.matvec = async (x: Float64Array) => { products++; return matvec(x); };
    const ones = await A.matvec(new Float64Array(300).fill(1));
    const want = Math.sqrt(ones.reduce((s, v) => s + v * v, 0) / 300);
    const [first, second] = await Promise.all([onesRayleighEstimate(counted), onesRayleighEstimate(counted)]);
    expect(first).toBeCloseTo(want, 12);
    expect(second).toBe(first);
    expect(await onesRayleighEstimate(counted)).toBe(first);
    expect(products).toBe(1);
  });

  it('a float32 CPU kernel: CG takes its float32-sums view once the residual allows (relaxed), and still meets rtol', async () => {
    const K32 = gaussianKernel(points(n, 3, 2), { sigma: 0.1, dtype: 'float32' });
    const rec = recordingKrylov();
    // rtol 1e-8 is below the float32 entries' floor ε₃₂·λ̂/α: x met it on those entries and missed it against the exact
    // ones (info > 0 before); the solve now refines x on the exact residual (float32-refinement.test.ts), its
    // corrections by the same relaxed CG
    const r32 = (await K32.solve(b, alpha, { rtol: 1e-8, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r32.info).toBe(0);
    expect(r32.float32Entries?.refinementSteps).toBeGreaterThan(0);
    expect(rec.seen.length).toBe(1 + r32.float32Entries!.refinementSteps!);
    const x = r32.x;
    const relaxed = rec.seen[0]!.relaxed as { A: unknown; below: number };
    const lambda = await onesRayleighEstimate(K32);
    expect(relaxed.below).toBeCloseTo(1e-8 / (F32_SUMS_ERROR * (lambda / alpha + 1)), 12);
    expect(String(relaxed.A)).toMatch(/with float32 sums/);
    // rtol holds against the float64 kernel (the exact entries) …
    expect(K32.isDenseCached).toBe(true);
    const K64 = gaussianKernel(points(n, 3, 2), { sigma: 0.1, denseCache: 'never' });
    expect(relErr(await K64.shift(alpha).matvec(x), b)).toBeLessThanOrEqual(1e-8);
    // … which differs from the operator's own matrix (float32 entries, float64 sums) by its entries' rounding
    expect(relErr(await K32.shift(alpha).matvec(x), b)).toBeLessThan(1e-5);
    // float64 operators, and float32 ones that never store K (their view's products are the same), have none
    const seen = rec.seen.length;
    await K.solve(b, alpha, { rtol: 1e-6 });
    expect(rec.seen[seen]!.relaxed).toBeUndefined();
    const symbolic = gaussianKernel(points(n, 3, 2), { sigma: 0.1, dtype: 'float32', denseCache: 'never' });
    await symbolic.solve(b, alpha, { rtol: 1e-3, preconditioner: 'none', maxiter: 3, returnInfo: true });
    expect(rec.seen[seen + 1]!.relaxed).toBeUndefined();
  });

  it("overrides: { M }, 'none', named choices with options; block right-hand sides", async () => {
    const rec = recordingKrylov();
    const J = await K.preconditioner(alpha, 'jacobi');
    expect(J).toBeInstanceOf(JacobiPreconditioner);
    await K.solve(b, alpha, { M: J, rtol: 1e-3 });
    expect(rec.seen[0]!.M).toBe(J);
    await K.solve(b, alpha, { preconditioner: 'none', rtol: 1e-3 });
    expect(rec.seen[1]!.M).toBeUndefined();
    expect('preconditioner' in rec.seen[1]!).toBe(false);
    await K.solve(b, alpha, { preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 50 }, rtol: 1e-4 });
    const C = rec.seen[2]!.M as PivotedCholeskyPreconditioner;
    expect(C).toBeInstanceOf(PivotedCholeskyPreconditioner);
    expect(C.rank).toBe(50);
    expect(await K.preconditioner(alpha, 'pivoted-cholesky', { rank: 50 })).toBe(C);
    expect(await K.preconditioner(alpha, 'pivoted-cholesky', { rank: 51 })).not.toBe(C);
    // a progress callback does not change what is built: the cached instance is found with or without one
    expect(await K.preconditioner(alpha, 'pivoted-cholesky', { rank: 50, onProgress: () => {} })).toBe(C);
    await K.solve(b, alpha, { preconditioner: J, rtol: 1e-3 });
    expect(rec.seen[3]!.M).toBe(J);
    // a block b goes through the same preconditioner (one matmat per iteration)
    const B = (await K.solve([...Array(n)].map((_, i) => [b[i]!, 1]), alpha, { rtol: 1e-6 })) as import('ml-matrix').Matrix;
    expect(B.columns).toBe(2);
    expect(rec.seen[4]!.M).toBe(await K.preconditioner(alpha));
  });

  it('bad choices are clear errors', async () => {
    await expect(K.solve(b, alpha, { preconditioner: 'ilu' })).rejects.toThrow(/solve: preconditioner must be one of "auto", "none", "nystrom", "landmarks", "device-landmarks", "jacobi", "pivoted-cholesky", "cholesky" or a LinearOperator, got a string "ilu"/);
    await expect(K.preconditioner(NaN)).rejects.toThrow(/preconditioner \(alpha\): expected a finite number, got NaN/);
    await expect(K.preconditioner(0, 'nystrom')).rejects.toThrow('nystromPreconditioner: shift must be a positive finite number, got number 0');
  });

  it('preconditioner options are checked by name: unknown keys (even where none is built) and keys the chosen build would not read', async () => {
    await expect(K.solve(b, alpha, { preconditionerOptions: { rnak: 5 } as never })).rejects.toThrow(
      "solve: unknown option 'rnak' in preconditionerOptions (did you mean 'rank'?)");
    const small = gaussianKernel(points(50, 3, 2), { sigma: 0.1 }); // 'auto' builds nothing here
    await expect(small.solve(randomVector(50, 1), alpha, { preconditionerOptions: { sed: 1 } as never })).rejects.toThrow(/unknown option 'sed'.*did you mean 'seed'/);
    await expect(K.preconditioner(alpha, 'jacobi', { rank: 5 })).rejects.toThrow("preconditioner 'jacobi': takes no options (its only parameter is the solve's α), got 'rank'");
    await expect(K.preconditioner(alpha, 'nystrom', { tol: 1e-3 })).rejects.toThrow(/nystromPreconditioner: unknown option 'tol' in options; known options: .*tolerance/);
    await expect(K.preconditioner(alpha, 'pivoted-cholesky', { rank: 20, seed: 3 })).rejects.toThrow("pivotedCholeskyPreconditioner: unknown option 'seed'");
    await expect(K.preconditioner(alpha, 'landmarks', { method: 'randomized' })).rejects.toThrow("preconditioner 'landmarks': method must be 'landmarks' (or left out), got a string \"randomized\"");
  });
});
