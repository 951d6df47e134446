/**
 * solve's float32 dense factor (factorDtype): refined on A's float64 products to a float64 factor's accuracy, and
 * replaced by a float64 factor where float32 fails (a pivot ≤ 0) or its refinement stalls. References: the plain-JS
 * float64 Cholesky of preconditioners/dense.ts on K.toDense() + αI, and true residuals computed here in float64.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { DenseOperator } from '../../src/operators/dense.js';
import { matrixToRowMajor } from '../../src/operators/validate.js';
import { choleskySolveInPlace, choleskyUpper } from '../../src/preconditioners/dense.js';
import { CholeskyFactorPreconditioner } from '../../src/preconditioners/dense-factor.js';
import { solveColumnsFor } from '../../src/cpu/dense-cholesky.js';
import {
  autoFactorDtype, FLOAT32_FACTOR_MAX_KAPPA_EPS, FLOAT32_FACTOR_MIN_N, FLOAT32_FACTOR_N_PER_COLUMN, solveShifted, type SolveResult,
} from '../../src/preconditioners/solve.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { mulberry32 } from '../../src/krylov/random.js';

afterAll(() => shutdownCpuPool());

function problem(n: number, sigma: number, seed: number) {
  const rng = mulberry32(seed);
  const data = Float64Array.from({ length: n * 3 }, () => rng());
  const b = Float64Array.from({ length: n }, () => rng() - 0.5);
  return { n, b, K: () => gaussianKernel({ data, rows: n, cols: 3 }, { sigma }) };
}

/** (K + αI) as a row-major float64 array from K's dense form. */
async function denseShifted(K: ReturnType<typeof gaussianKernel>, alpha: number): Promise<Float64Array> {
  const n = K.shape[0];
  const M = matrixToRowMajor(await K.toDense());
  for (let i = 0; i < n; i++) M[i * n + i]! += alpha;
  return M;
}

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => norm(Array.from(a, (v, i) => v - b[i]!)) / norm(b);

function residual(M: Float64Array, x: Float64Array, b: Float64Array): number {
  const n = b.length;
  const r = Float64Array.from(b);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) r[i]! -= M[i * n + j]! * x[j]!;
  return norm(r) / norm(b);
}

const factorOf = (r: SolveResult) => r.plan.M as CholeskyFactorPreconditioner;

describe('autoFactorDtype', () => {
  it('float32 from FLOAT32_FACTOR_MIN_N on, for α > 0 and κ̂·ε₃₂ up to FLOAT32_FACTOR_MAX_KAPPA_EPS', () => {
    const eps32 = 2 ** -23;
    const edge = FLOAT32_FACTOR_MAX_KAPPA_EPS / eps32 - 1; // λ̂/α at the bound
    expect(autoFactorDtype(FLOAT32_FACTOR_MIN_N, 1, 0.99 * edge)).toBe('float32');
    expect(autoFactorDtype(FLOAT32_FACTOR_MIN_N, 1, 1.01 * edge)).toBe('float64');
    expect(autoFactorDtype(FLOAT32_FACTOR_MIN_N - 1, 1, 10)).toBe('float64');
    expect(autoFactorDtype(5000, 0, 10)).toBe('float64');
    expect(autoFactorDtype(5000, 1, -3)).toBe('float64'); // λ̂ ≤ 0: not a positive semidefinite A, float64
  });

  it('with several right-hand sides, float32 only from FLOAT32_FACTOR_N_PER_COLUMN rows per column on', () => {
    const from10 = FLOAT32_FACTOR_N_PER_COLUMN * 10;
    expect(from10).toBeGreaterThan(FLOAT32_FACTOR_MIN_N);
    expect(autoFactorDtype(from10, 1, 10, 10)).toBe('float32');
    expect(autoFactorDtype(from10 - 1, 1, 10, 10)).toBe('float64');
    expect(autoFactorDtype(from10 - 1, 1, 10, 1)).toBe('float32');
    expect(autoFactorDtype(FLOAT32_FACTOR_MIN_N, 1, 10, 2)).toBe('float32'); // 2 × per-column is below the floor
  });
});

describe("solve's float32 dense factor", () => {
  it("'auto' factors in float32 where κ̂·ε₃₂ is small, and x matches the float64 reference as the float64 factor's does", async () => {
    const { n, b, K: make } = problem(FLOAT32_FACTOR_MIN_N + 40, 0.3, 11);
    const alpha = 1e-3;
    const K = make();
    const M = await denseShifted(K, alpha);
    const want = choleskySolveInPlace(choleskyUpper(Float64Array.from(M), n)!, n, Float64Array.from(b), 1);
    const r32 = (await solveShifted(K, b, alpha, { rtol: 1e-6, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r32.plan.method).toBe('cholesky');
    expect(factorOf(r32).factorDtype).toBe('float32');
    expect(r32.info).toBe(0);
    const r64 = (await solveShifted(make(), b, alpha, { rtol: 1e-6, returnInfo: true, factorDtype: 'float64' })) as SolveResult<Float64Array>;
    expect(factorOf(r64).factorDtype).toBe('float64');
    // refined past rtol to the float64 factor's accuracy, not merely to 1e-6
    expect(relDiff(r32.x, want)).toBeLessThan(Math.max(10 * relDiff(r64.x, want), 1e-11));
    // the true residual as small as the float64 factor's (both at ε₆₄·‖A‖·‖x‖), far below rtol
    expect(residual(M, r32.x, b)).toBeLessThan(Math.max(4 * residual(M, r64.x, b), 1e-13));
    expect(r32.iterations).toBeGreaterThan(0); // refinement steps were taken: the first float32 solve is far from 1e-12
    await K.dispose();
  });

  it('ten right-hand sides at once: every column to the float64 reference', async () => {
    const { n, K: make } = problem(FLOAT32_FACTOR_MIN_N + 8, 0.3, 12);
    const alpha = 1e-3;
    const K = make();
    const B = Matrix.rand(n, 10, { random: mulberry32(3) });
    const r = (await solveShifted(K, B, alpha, { rtol: 1e-6, returnInfo: true, factorDtype: 'float32' })) as SolveResult<Matrix>;
    expect(factorOf(r).factorDtype).toBe('float32');
    const M = await denseShifted(K, alpha);
    const R = choleskyUpper(Float64Array.from(M), n)!;
    for (let c = 0; c < 10; c++) {
      const want = choleskySolveInPlace(R, n, Float64Array.from(B.getColumn(c)), 1);
      expect(relDiff(r.x.getColumn(c), want)).toBeLessThan(1e-9);
    }
    await K.dispose();
  });

  it('a factor built for one vector widens at the first block solved with it (cached): the block to the float64 reference', async () => {
    const { n, b, K: make } = problem(FLOAT32_FACTOR_MIN_N + 8, 0.3, 13);
    const alpha = 1e-3;
    const K = make();
    // one vector: the one-column solve program, unless an earlier block solve of this process asked for the wide one
    const first = solveColumnsFor('float64');
    const r1 = (await solveShifted(K, b, alpha, { rtol: 1e-8, returnInfo: true, factorDtype: 'float64' })) as SolveResult<Float64Array>;
    const solver = (factorOf(r1) as unknown as { solver: { columns: number } }).solver;
    expect(solver.columns).toBe(first);
    const B = Matrix.rand(n, 10, { random: mulberry32(4) });
    const r = (await solveShifted(K, B, alpha, { rtol: 1e-8, returnInfo: true, factorDtype: 'float64' })) as SolveResult<Matrix>;
    expect(factorOf(r)).toBe(factorOf(r1)); // the cached factor
    expect(solver.columns).toBe(8);
    const R = choleskyUpper(await denseShifted(K, alpha), n)!;
    for (let c = 0; c < 10; c++) expect(relDiff(r.x.getColumn(c), choleskySolveInPlace(R, n, Float64Array.from(B.getColumn(c)), 1))).toBeLessThan(1e-9);
    expect(relDiff(r1.x, choleskySolveInPlace(R, n, Float64Array.from(b), 1))).toBeLessThan(1e-9);
    await K.dispose();
  });

  it("'auto' keeps float64 where κ̂·ε₃₂ is large (α = 1e-7) and below FLOAT32_FACTOR_MIN_N", async () => {
    const big = problem(FLOAT32_FACTOR_MIN_N + 8, 0.3, 13);
    const r = (await solveShifted(big.K(), big.b, 1e-7, { method: 'cholesky', rtol: 1e-4, returnInfo: true })) as SolveResult;
    expect(factorOf(r).factorDtype).toBe('float64');
    const small = problem(200, 0.3, 14);
    const s = (await solveShifted(small.K(), small.b, 1e-3, { rtol: 1e-6, returnInfo: true })) as SolveResult;
    expect(s.plan.method).toBe('cholesky');
    expect(factorOf(s).factorDtype).toBe('float64');
  });

  it('a matrix positive definite in float64 but not in float32 is factored in float64, and solved right', async () => {
    // 11ᵀ + δI: in float32 the diagonal 1 + δ rounds to 1 and the second pivot to 0
    const n = 40;
    const delta = 1e-8;
    const A = Matrix.ones(n, n).add(Matrix.eye(n).mul(delta));
    // mostly along 1 (κ = n/δ: a b at random would put the exact solution's residual at ε·κ)
    const b = Float64Array.from({ length: n }, (_, i) => 1 + 1e-9 * Math.sin(i + 1));
    const r = (await solveShifted(new DenseOperator(A, undefined, { symmetric: true }), b, 0, {
      method: 'cholesky', factorDtype: 'float32', rtol: 1e-8, returnInfo: true,
    })) as SolveResult<Float64Array>;
    expect(factorOf(r).factorDtype).toBe('float64');
    expect(r.info).toBe(0);
    expect(residual(matrixToRowMajor(A), r.x, b)).toBeLessThan(1e-8);
  });

  it('a float32 factor whose refinement stalls short of rtol is replaced by a float64 factor', async () => {
    // κ ≈ 10⁷: the float32 factor exists but its refinement stalls near 4e-7 relative; float64 reaches 1e-8
    const { b, K: make } = problem(400, 0.3, 5);
    const alpha = 1e-5;
    const K = make();
    const r = (await solveShifted(K, b, alpha, { rtol: 1e-8, returnInfo: true, factorDtype: 'float32' })) as SolveResult<Float64Array>;
    expect(r.plan.reason).toMatch(/float32 factor's refinement stalled/);
    expect(factorOf(r).factorDtype).toBe('float64');
    expect(r.info).toBe(0);
    expect(residual(await denseShifted(K, alpha), r.x, b)).toBeLessThan(1e-8);
    await K.dispose();
  });

  it("preconditioner 'cholesky' takes factorDtype (CG preconditioned by a float32 factor); 'jacobi' refuses it by name", async () => {
    const { b, K: make } = problem(300, 0.3, 16);
    const alpha = 1e-2;
    const K = make();
    const r = (await solveShifted(K, b, alpha, {
      method: 'cg', preconditioner: 'cholesky', preconditionerOptions: { factorDtype: 'float32' }, rtol: 1e-10, returnInfo: true,
    })) as SolveResult<Float64Array>;
    expect(r.plan.method).toBe('cg');
    expect(factorOf(r).factorDtype).toBe('float32');
    expect(r.info).toBe(0);
    expect(r.iterations).toBeLessThan(10); // a float32 factor is a near-exact preconditioner
    expect(residual(await denseShifted(K, alpha), r.x, b)).toBeLessThan(2e-10);
    await expect(solveShifted(K, b, alpha, { method: 'cg', preconditioner: 'jacobi', preconditionerOptions: { factorDtype: 'float32' } }))
      .rejects.toThrow(/factorDtype/);
    await K.dispose();
  });

  it("refuses factorDtype with method 'cg' and an unknown precision, by name", async () => {
    const { b, K } = problem(50, 0.3, 15);
    await expect(solveShifted(K(), b, 1e-2, { method: 'cg', factorDtype: 'float32' })).rejects.toThrow(/factorDtype/);
    await expect(solveShifted(K(), b, 1e-2, { factorDtype: 'float16' as 'float32' })).rejects.toThrow(/factorDtype/);
  });
});
