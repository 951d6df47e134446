/**
 * One route for one quantity: `logdet`, `inverseQuadLogdet` and the GP likelihood take the same exact dense Cholesky up
 * to GP_DENSE_MAX_N rows (policy.ts), against an independent dense float64 computation (ml-matrix); SLQ above it or
 * where an option only SLQ reads is given; such an option with method 'cholesky' is refused by name, never ignored.
 * Before: `logdet(K.shift(0.1))` at n = 300 was SLQ's −956.9 ± 8.9 where the GP likelihood's log det of the same
 * matrix was exact (−944.6), and `gpNegativeLogMarginalLikelihood(…, { probes: 3 })` factored, ignoring `probes`.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix, inverse } from 'ml-matrix';
import { inverseQuadLogdet, logdet } from '../../src/autodiff/slq.js';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { GP_DENSE_MAX_N, logdetRoute } from '../../src/autodiff/policy.js';
import { gaussianKernel, laplacianKernel } from '../../src/operators/kernels.js';
import { DenseOperator, DiagonalOperator } from '../../src/operators/dense.js';
import { ScaledPreconditioner, type Preconditioner } from '../../src/preconditioners/common.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { seededPoints, seededVector } from '../random-data.js';

const n = 300;
const X = seededPoints(21, n, 3);
const alpha = 0.1;

/** log det and the Cholesky of a dense SPD matrix (ml-matrix: an implementation independent of the WASM factor). */
function denseReference(A: Matrix): { logdet: number; chol: CholeskyDecomposition } {
  const chol = new CholeskyDecomposition(A);
  const L = chol.lowerTriangularMatrix;
  let s = 0;
  for (let i = 0; i < A.rows; i++) s += 2 * Math.log(L.get(i, i));
  return { logdet: s, chol };
}

describe("log-determinants: 'auto' takes the exact route up to GP_DENSE_MAX_N rows", () => {
  it('logdet(K + αI) at n = 300 is exact (stderr 0), for a kernel, a sum with a scaled kernel and a dense matrix alike', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const K2 = laplacianKernel(X, { sigma: 0.5 });
    const Kd = await K.toDense();
    const ref = denseReference(Kd.clone().add(Matrix.eye(n).mul(alpha))).logdet;
    const r = await logdet(K.shift(alpha));
    expect(r.method).toBe('cholesky');
    expect(r.reason).toMatch(/n = 300 ≤ 1000/);
    expect(r.stderr).toBe(0);
    expect(r.probes).toBe(0);
    expect(Math.abs(r.value - ref)).toBeLessThan(1e-10 * Math.abs(ref));
    // the same matrix by other roads: a dense operator, and the GP likelihood's own log det
    const viaDense = await logdet(aslinearoperator(Kd).shift(alpha));
    expect(Math.abs(viaDense.value - ref)).toBeLessThan(1e-10 * Math.abs(ref));
    const gp = await gpNegativeLogMarginalLikelihood(K, seededVector(22, n), alpha);
    expect(Math.abs(gp.logdet - r.value)).toBeLessThan(1e-10 * Math.abs(ref));
    // a sum: K + 0.5·K₂ + αI
    const sumRef = denseReference(Kd.clone().add((await K2.toDense()).mul(0.5)).add(Matrix.eye(n).mul(alpha))).logdet;
    const sum = await logdet(K.add(K2.scale(0.5)).shift(alpha));
    expect(sum.method).toBe('cholesky');
    expect(Math.abs(sum.value - sumRef)).toBeLessThan(1e-10 * Math.abs(sumRef));
  });

  it('inverseQuadLogdet at n = 300: A⁻¹y, yᵀA⁻¹y, log det and trace terms exact against ml-matrix', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const Ad = (await K.toDense()).add(Matrix.eye(n).mul(alpha));
    const D = laplacianKernel(X, { sigma: 0.5 });
    const Dd = await D.toDense();
    const y = seededVector(23, n);
    const { logdet: refLogdet, chol } = denseReference(Ad);
    const u = chol.solve(Matrix.columnVector([...y])).getColumn(0);
    const Ainv = inverse(Ad);
    let trace = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) trace += Ainv.get(i, j) * Dd.get(j, i);
    const Du = Dd.mmul(Matrix.columnVector(u)).getColumn(0);
    const quad = u.reduce((s, v, i) => s + v * Du[i]!, 0);
    const r = await inverseQuadLogdet(K.shift(alpha), y, { derivatives: [D] });
    expect(r.logdet.method).toBe('cholesky');
    expect(Math.abs(r.logdet.value - refLogdet)).toBeLessThan(1e-10 * Math.abs(refLogdet));
    const maxU = Math.max(...u.map(Math.abs));
    expect(Math.max(...Array.from(r.solve, (v, i) => Math.abs(v - u[i]!)))).toBeLessThan(1e-9 * maxU);
    expect(Math.abs(r.inverseQuad - u.reduce((s, v, i) => s + v * y[i]!, 0))).toBeLessThan(1e-9 * Math.abs(r.inverseQuad));
    expect(Math.abs(r.traces[0]! - trace)).toBeLessThan(1e-9 * Math.abs(trace));
    expect(Math.abs(r.quads[0]! - quad)).toBeLessThan(1e-9 * Math.abs(quad));
    expect(r.traceStderrs).toEqual([0]);
    expect(r.iterations).toBe(0);
  });

  it('an option only SLQ reads asks for SLQ under auto, and is refused by name with method cholesky', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const A = K.shift(alpha);
    const seeded = await logdet(A, { seed: 3 });
    expect(seeded.method).toBe('slq');
    expect(seeded.reason).toMatch(/'seed'/);
    expect(seeded.stderr).toBeGreaterThan(0);
    expect(seeded.probes).toBe(16);
    // the 'auto' preconditioner asked for by name is not a request for SLQ
    expect((await logdet(A, { preconditioner: 'auto' })).method).toBe('cholesky');
    await expect(logdet(A, { method: 'cholesky', probes: 4 })).rejects.toThrow(/logdet: option 'probes' is for stochastic Lanczos quadrature; method 'cholesky'/);
    await expect(inverseQuadLogdet(A, seededVector(24, n), { method: 'cholesky', lanczosSteps: 5 })).rejects.toThrow(/'lanczosSteps'/);
    // rtol stops inverseQuadLogdet's solve A⁻¹y; logdet makes none (it was ignored)
    await expect(logdet(A, { rtol: 1e-9 })).rejects.toThrow(/logdet: option 'rtol' is the tolerance of inverseQuadLogdet's solve A⁻¹y, which logdet does not make; probeRtol/);
    // the GP likelihood: probes given → SLQ (before: the dense factor, probes ignored); with cholesky → refused
    const y = seededVector(25, n);
    const gp = await gpNegativeLogMarginalLikelihood(K, y, alpha, { probes: 3 });
    expect(gp.method).toBe('slq');
    expect(gp.stderr.value).toBeGreaterThan(0);
    await expect(gpNegativeLogMarginalLikelihood(K, y, alpha, { method: 'cholesky', seed: 2 })).rejects.toThrow(/gpNegativeLogMarginalLikelihood: option 'seed'/);
    // method 'slq' asked for at a small n, and the route by size above GP_DENSE_MAX_N
    expect((await logdet(A, { method: 'slq' })).method).toBe('slq');
    expect(logdetRoute('logdet', GP_DENSE_MAX_N + 1, 'auto').method).toBe('slq');
    expect(logdetRoute('logdet', GP_DENSE_MAX_N, 'auto').method).toBe('cholesky');
  });

  it('the exact route refuses what SLQ refuses: indefinite, non-symmetric, a misspelt method', async () => {
    const indefinite = new DenseOperator(Matrix.diag([1, -1, 2]), undefined, { symmetric: true });
    await expect(logdet(indefinite)).rejects.toThrow(/logdet: .* is not positive definite \(its Cholesky factorisation met a pivot ≤ 0\)/);
    await expect(logdet(new DenseOperator([[2, 1], [0, 2]]))).rejects.toThrow(/logdet: .* is not symmetric \(.*entry \(0, 1\) = 1 differs from \(1, 0\) = 0/);
    await expect(logdet(gaussianKernel(X, { sigma: 0.3 }).shift(alpha), { method: 'lu' } as never)).rejects.toThrow(/logdet: method must be one of .*"lu"/);
    // an operator whose products are NaN: named as such on both routes (the exact one said "not symmetric (NaN ≠ NaN)")
    const nan = aslinearoperator({ shape: [30, 30], symmetric: true, matvec: (x: Float64Array) => Float64Array.from(x, (v, t) => (t === 4 ? NaN : 2 * v)) });
    await expect(logdet(nan)).rejects.toThrow(/^logdet: .* has a non-finite entry \(4, 0\) = NaN \(its products returned it\)/);
    await expect(logdet(nan, { method: 'slq' })).rejects.toThrow(/^logdet: pᵀA p is NaN in column 0 at step 1 \(the operator returned NaN\)/);
    // a symmetric K made indefinite by a negative scale: refused on the exact route, as SLQ's Ritz check refuses it
    await expect(logdet(gaussianKernel(X, { sigma: 0.3 }).scale(-1).shift(alpha))).rejects.toThrow(/not positive definite/);
  });
});

describe('SLQ preconditions what is K + αI up to a positive scale and diagonal parts (it took none: 30–100× the standard error)', () => {
  const m = GP_DENSE_MAX_N + 100; // above the exact route
  const Xm = seededPoints(23, m, 3);

  it('logdet(c·(K + αI)), K.scale(c).shift(cα): K + αI\'s preconditioner scaled — n·log c + the same estimate, probe for probe', async () => {
    const K = gaussianKernel(Xm, { sigma: 0.3 });
    const base = await logdet(K.shift(alpha));
    expect(base.method).toBe('slq');
    expect(base.preconditioner).toMatch(/PivotedCholesky/);
    for (const A of [K.shift(alpha).scale(2), K.scale(2).shift(2 * alpha)]) {
      const r = await logdet(A);
      expect(r.preconditioner).toMatch(/^<\d+x\d+ 2·<.*PivotedCholesky/);
      expect(Math.abs(r.value - m * Math.log(2) - base.value)).toBeLessThanOrEqual(1e-12 * Math.abs(base.value));
      expect(r.stderr).toBeCloseTo(base.stderr, 10);
    }
    // the GP likelihood of an output-scaled kernel (GPyTorch's ScaleKernel): the same log det, shifted by n·log c
    const y = seededVector(8, m);
    const gp = await gpNegativeLogMarginalLikelihood(K, y, alpha);
    const gp2 = await gpNegativeLogMarginalLikelihood(K.scale(2), y, 2 * alpha);
    expect(gp2.method).toBe('slq');
    expect(Math.abs(gp2.logdet - m * Math.log(2) - gp.logdet)).toBeLessThanOrEqual(1e-12 * Math.abs(gp.logdet));
    // asked for by name too (it was refused: "built for A = K + αI … (K.shift(α))")
    expect((await logdet(K.shift(alpha).scale(3), { preconditioner: 'pivoted-cholesky' })).preconditioner).toMatch(/3·/);
    await expect(logdet(K.scale(2), { preconditioner: 'pivoted-cholesky' })).rejects.toThrow(/preconditioner 'pivoted-cholesky' is built for A = c·\(K \+ αI\) with α > 0/);
    await K.dispose();
  });

  it('logdet(K + D), per-point noise: K + (min D)·I\'s preconditioner; unbiased against the exact route, with a smaller error than none', async () => {
    const K = gaussianKernel(Xm, { sigma: 0.3 });
    const D = new DiagonalOperator(seededVector(5, m).map((v) => 0.05 + 0.05 * Math.abs(v)));
    const A = K.add(D);
    const exact = await logdet(A, { method: 'cholesky' });
    const r = await logdet(A, { probes: 16 });
    const plain = await logdet(A, { probes: 16, preconditioner: 'none' });
    expect(r.preconditioner).toMatch(/PivotedCholesky/);
    expect(Math.abs(r.value - exact.value)).toBeLessThanOrEqual(4 * r.stderr);
    expect(r.stderr).toBeLessThan(plain.stderr / 2);
    await K.dispose();
  });
});

describe('ScaledPreconditioner: c·P carries P\'s log det, probes, trace and inverse', () => {
  it('against P itself', async () => {
    const K = gaussianKernel(seededPoints(25, 200, 2), { sigma: 0.4 });
    const P = await K.preconditioner(0.1, 'pivoted-cholesky', { rank: 20 });
    const S = new ScaledPreconditioner(P as Preconditioner, 4);
    const inner = P as Preconditioner;
    expect(S.logdet()).toBeCloseTo(inner.logdet()! + 200 * Math.log(4), 9);
    expect(S.mu).toBeCloseTo(0.4, 15);
    expect((await S.traceInverseProduct())!).toBeCloseTo((await inner.traceInverseProduct())! / 4, 9);
    const v = seededVector(6, 200);
    const a = await S.matvec(v);
    const b = await inner.matvec(v);
    expect(Math.max(...a.map((x, i) => Math.abs(4 * x - b[i]!)))).toBeLessThanOrEqual(1e-14 * Math.max(...b.map(Math.abs)));
    const rng = () => 0.37; // the same draws for both
    const zs = (await S.sampleProbes(2, rng))!;
    const zi = (await inner.sampleProbes(2, rng))!;
    expect(Array.from(zs.data)).toEqual(Array.from(zi.data, (x) => 2 * x));
    expect(() => new ScaledPreconditioner(inner, 0)).toThrow(/positive finite number, got number 0/);
    await K.dispose();
  });
});

