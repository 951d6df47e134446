import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { cg } from '../../src/krylov/cg.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { DenseOperator } from '../../src/operators/dense.js';
import {
  choleskyFactorPreconditioner,
  jacobiPreconditioner,
  landmarkPreconditioner,
  nystromPreconditioner,
  partialPivotedCholesky,
  pivotedCholeskyPreconditioner,
  LandmarkPreconditioner,
  adaptiveLandmarkPreconditioner,
  landmarkIterations,
  landmarkStages,
  preconditionedConditionEstimate,
  restrictRows,
  type LandmarkStage,
  subKernel,
} from '../../src/preconditioners/index.js';
import { gaussianDense, denseOp, inv, maxAbsDiff, points, randomVector, relErr, shifted, withSpectrum, eigenvalues } from './helpers.js';

/** Textbook partial pivoted Cholesky on a dense matrix (ml-matrix, no shortcuts). */
function densePartialCholesky(K: Matrix, r: number): { L: Matrix; pivots: number[] } {
  const n = K.rows;
  const R = K.clone(); // residual K − LLᵀ
  const L = new Matrix(n, r);
  const pivots: number[] = [];
  for (let k = 0; k < r; k++) {
    let p = 0;
    for (let i = 1; i < n; i++) if (R.get(i, i) > R.get(p, p)) p = i;
    pivots.push(p);
    const s = Math.sqrt(R.get(p, p));
    for (let i = 0; i < n; i++) L.set(i, k, R.get(i, p) / s);
    const l = L.getColumnVector(k);
    R.sub(l.mmul(l.transpose()));
  }
  return { L, pivots };
}

describe('Jacobi preconditioner', () => {
  it('is (diag(A) + shift)⁻¹ and rescues CG on a badly scaled matrix', async () => {
    const n = 120;
    // A = D C D with D spanning 1e-2..1e2 and C a well-conditioned SPD matrix: κ(A) ~ 1e8, κ(D⁻¹AD⁻¹) ~ 10.
    const C = withSpectrum(Array.from({ length: n }, (_, i) => 1 + (9 * i) / (n - 1)), 5);
    const d = Array.from({ length: n }, (_, i) => 10 ** (-2 + (4 * ((i * 37) % n)) / (n - 1)));
    const A = Matrix.diag(d).mmul(C).mmul(Matrix.diag(d));
    const op = denseOp(A);
    const mu = 1e-6;
    const P = await jacobiPreconditioner(op, mu);
    const diag = await P.diagonal();
    for (let i = 0; i < n; i++) expect(diag[i]).toBeCloseTo(1 / (A.get(i, i) + mu), 12);
    const b = randomVector(n, 2);
    const plain = await cg(op.shift(mu), b, { rtol: 1e-8, maxiter: 5000 });
    const pre = await cg(op.shift(mu), b, { rtol: 1e-8, M: P });
    expect(pre.info).toBe(0);
    expect(pre.iterations).toBeLessThan(60);
    expect(plain.iterations).toBeGreaterThan(5 * pre.iterations);
    // shift 0: the plain Jacobi preconditioner diag(A)⁻¹ of an SPD A (it was refused: "shift must be a positive finite number")
    const P0 = await jacobiPreconditioner(op, 0);
    (await P0.diagonal()).forEach((v, i) => expect(v).toBeCloseTo(1 / A.get(i, i), 12));
    const pre0 = await cg(op, b, { rtol: 1e-8, M: P0 });
    expect(pre0.info).toBe(0);
    expect(pre0.iterations).toBeLessThan(60);
  });

  it('rejects bad input', async () => {
    const op = denseOp(new Matrix([[1, 0], [0, -3]]));
    await expect(jacobiPreconditioner(op, 1)).rejects.toThrow(/diag\(A\)\[1\] \+ shift = -3 \+ 1 = -2 is not a positive finite number/);
    await expect(jacobiPreconditioner(op, 0)).rejects.toThrow(/diag\(A\)\[1\] \+ shift = -3 \+ 0 = -3 is not a positive finite number/);
    await expect(jacobiPreconditioner(op, -1)).rejects.toThrow('jacobiPreconditioner: shift must be a finite number ≥ 0, got number -1');
    await expect(jacobiPreconditioner(op, '1' as never)).rejects.toThrow('jacobiPreconditioner: shift must be a finite number ≥ 0, got a string "1"');
    await expect(jacobiPreconditioner(new DenseOperator([[1, 2]]), 1)).rejects.toThrow(/must be square, got shape 1x2/);
  });
});

describe('pivoted Cholesky preconditioner', () => {
  const x = points(150, 2, 4);
  const K = gaussianKernel(x, { sigma: 0.3 });
  const Kd = gaussianDense(x, x, 0.3);

  it('factors equal the dense partial pivoted Cholesky (pivots, L, residual trace)', async () => {
    const r = 12;
    const ref = densePartialCholesky(Kd, r);
    const f = await partialPivotedCholesky(K, r);
    expect(Array.from(f.pivots)).toEqual(ref.pivots);
    let m = 0;
    for (let i = 0; i < 150; i++) for (let k = 0; k < r; k++) m = Math.max(m, Math.abs(f.L.data[i * r + k]! - ref.L.get(i, k)));
    expect(m).toBeLessThan(1e-10);
    const res = Kd.clone().sub(ref.L.mmul(ref.L.transpose()));
    expect(f.residualTrace[r]).toBeCloseTo(res.trace(), 9);
    expect(f.residualTrace[0]).toBeCloseTo(150, 12);
    // the same through a non-kernel operator (columns by products with e_p)
    const g = await partialPivotedCholesky(denseOp(Kd), r);
    expect(Array.from(g.pivots)).toEqual(ref.pivots);
  });

  it('P⁻¹ = (LLᵀ + μI)⁻¹ by Woodbury, SPD, and CG converges to the dense solution', async () => {
    const mu = 1e-3;
    const P = await pivotedCholeskyPreconditioner(K, { rank: 20, shift: mu });
    const L = P.L;
    const ref = inv(L.mmul(L.transpose()).add(Matrix.eye(150).mul(mu)));
    const D = await P.toDense();
    expect(maxAbsDiff(D, ref) / Math.max(...eigenvalues(ref).map(Math.abs))).toBeLessThan(1e-9);
    expect(eigenvalues(D)[0]).toBeGreaterThan(0);
    const b = randomVector(150, 5);
    const pre = await cg(K.shift(mu), b, { rtol: 1e-10, M: P });
    const plain = await cg(K.shift(mu), b, { rtol: 1e-10 });
    const exact = inv(shifted(Kd, mu)).mmul(Matrix.columnVector(Array.from(b))).getColumn(0);
    expect(relErr(pre.x, exact)).toBeLessThan(1e-7);
    expect(pre.iterations * 2).toBeLessThan(plain.iterations);
  });

  it('stops early on a low-rank matrix and on tol; rejects bad input', async () => {
    const A = denseOp(withSpectrum([5, 4, 3, 0, 0, 0, 0, 0, 0, 0], 3));
    const f = await partialPivotedCholesky(A, 8);
    expect(f.L.cols).toBe(3);
    const P = await pivotedCholeskyPreconditioner(K, { rank: 100, shift: 1e-2, tol: 1e-3 });
    expect(P.rank).toBeLessThan(100);
    expect(P.residualTrace[P.rank]!).toBeLessThanOrEqual(1e-3 * 150);
    await expect(pivotedCholeskyPreconditioner(K, { rank: 150, shift: 1 })).rejects.toThrow('pivotedCholeskyPreconditioner: rank must be an integer with 1 ≤ r < n = 150, got number 150');
    await expect(pivotedCholeskyPreconditioner(K, { rank: 3, shift: -1 })).rejects.toThrow('got number -1');
    await expect(pivotedCholeskyPreconditioner(K, { rank: 3, shift: 1, tol: 2 })).rejects.toThrow('tol must be a finite number ≥ 0 and < 1, got number 2');
    await expect(pivotedCholeskyPreconditioner(K, { rank: 3, shift: 1, tolerance: 0.1 } as never)).rejects.toThrow(
      "pivotedCholeskyPreconditioner: unknown option 'tolerance' in options; known options: rank, tol, shift");
    await expect(partialPivotedCholesky(A, 11)).rejects.toThrow('partialPivotedCholesky: rank must be an integer ≥ 1 and ≤ 10, got number 11');
    await expect(partialPivotedCholesky(denseOp(new Matrix([[1, 0], [0, -1]])), 1)).rejects.toThrow(/diag\(A\)\[1\] = -1/);
    // a non-symmetric A: refused as solve refuses it (Nyström built one before, a preconditioner without meaning)
    const lopsided = new DenseOperator([[2, 1, 0], [0, 2, 0], [0, 0, 2]]);
    await expect(pivotedCholeskyPreconditioner(lopsided, { rank: 1, shift: 1 })).rejects.toThrow(/pivotedCholeskyPreconditioner: .* is not symmetric \(.*entry \(0, 1\) = 1 differs from \(1, 0\) = 0/);
    await expect(nystromPreconditioner(lopsided, { rank: 1, shift: 1 })).rejects.toThrow(/nystromPreconditioner: .* is not symmetric/);
    // a cross kernel K(x, x + 10⁻³): its upper triangle is positive definite, and was factored as if K were symmetric
    const x = Array.from({ length: 200 }, (_, i) => [Math.sin(i), Math.cos(i * 1.3)]);
    const Kxy = gaussianKernel(x, { y: x.map(([a, b]) => [a! + 1e-3, b!]), sigma: 0.5 });
    await expect(choleskyFactorPreconditioner(Kxy, 0.1)).rejects.toThrow(/choleskyFactorPreconditioner: .* is not symmetric \(.*the probe/);
  });
});

describe('landmark (Falkon-style) Nyström preconditioner', () => {
  const n = 200;
  const x = points(n, 3, 6);
  const sigma = 0.25;
  const K = gaussianKernel(x, { sigma });
  const Kd = gaussianDense(x, x, sigma);
  const mu = 1e-2;

  /** (K_nm K_mm⁻¹ K_mn + μI)⁻¹ densely, with K_mm inverted outright (well-conditioned here). */
  function denseLandmarkInverse(idx: ArrayLike<number>): Matrix {
    const S = Array.from(idx);
    const Knm = Kd.subMatrixColumn(S);
    const Kmm = Knm.subMatrixRow(S);
    return inv(Knm.mmul(inv(Kmm)).mmul(Knm.transpose()).add(Matrix.eye(n).mul(mu)));
  }

  for (const [factor, landmarks] of [['stored', 'uniform'], ['symbolic', 'uniform'], ['stored', 'farthest-point'], ['symbolic', 'farthest-point']] as const) {
    it(`${landmarks} landmarks, ${factor} K_nm: equals the dense Woodbury formula`, async () => {
      const P = (await nystromPreconditioner(K, { rank: 15, shift: mu, method: 'landmarks', seed: 3, factor, landmarks })) as LandmarkPreconditioner;
      expect(P).toBeInstanceOf(LandmarkPreconditioner);
      expect(P.stored).toBe(factor === 'stored');
      expect(P.wasm).toBe(factor === 'stored'); // CPU backend: K_mn, its Gram and the factor of S in WASM memory
      expect(P.landmarks.length).toBe(15);
      expect(new Set(P.landmarks).size).toBe(15);
      const D = await P.toDense();
      const ref = denseLandmarkInverse(P.landmarks);
      expect(maxAbsDiff(D, ref) * mu).toBeLessThan(1e-8);
      expect(maxAbsDiff(D, D.transpose()) * mu).toBeLessThan(1e-12);
    });
  }

  it('a float32 operator stores K_nm in float32: P = B K_mm⁻¹ Bᵀ + μI with B = K_nm rounded, K_mm in float64; SPD', async () => {
    const K32 = gaussianKernel(x, { sigma, dtype: 'float32' });
    const P = (await nystromPreconditioner(K32, { rank: 15, shift: mu, method: 'landmarks', seed: 3 })) as LandmarkPreconditioner;
    expect(P.wasm).toBe(true);
    const S = Array.from(P.landmarks);
    const B = Kd.subMatrixColumn(S).clone();
    for (let i = 0; i < n; i++) for (let c = 0; c < S.length; c++) B.set(i, c, Math.fround(B.get(i, c)));
    const C = Kd.subMatrixColumn(S).subMatrixRow(S); // not rounded
    const ref = inv(B.mmul(inv(C)).mmul(B.transpose()).add(Matrix.eye(n).mul(mu)));
    const D = await P.toDense();
    expect(maxAbsDiff(D, ref) * mu).toBeLessThan(1e-8);
    const ev = new EigenvalueDecomposition(D.add(D.transpose()).mul(0.5)).realEigenvalues;
    expect(Math.min(...ev)).toBeGreaterThan(0);
    await P.dispose();
  });

  it("'pivoted-cholesky' landmarks equal the pivoted Cholesky preconditioner (same Nyström approximation)", async () => {
    const L = await nystromPreconditioner(K, { rank: 25, shift: mu, method: 'landmarks', landmarks: 'pivoted-cholesky' });
    const C = await pivotedCholeskyPreconditioner(K, { rank: 25, shift: mu });
    expect(Array.from((L as LandmarkPreconditioner).landmarks)).toEqual(Array.from(C.pivots));
    const v = randomVector(n, 1);
    expect(relErr(await L.matvec(v), await C.matvec(v))).toBeLessThan(1e-7);
    const b = randomVector(n, 9);
    const pre = await cg(K.shift(mu), b, { rtol: 1e-10, M: L });
    const plain = await cg(K.shift(mu), b, { rtol: 1e-10 });
    expect(pre.info).toBe(0);
    expect(pre.iterations * 2).toBeLessThan(plain.iterations);
    const exact = inv(shifted(Kd, mu)).mmul(Matrix.columnVector(Array.from(b))).getColumn(0);
    expect(relErr(pre.x, exact)).toBeLessThan(1e-7);
  });

  it('explicit landmark indices; bad input', async () => {
    const P = await landmarkPreconditioner(K, { shift: mu, landmarks: [3, 50, 199] });
    expect(Array.from((P as LandmarkPreconditioner).landmarks)).toEqual([3, 50, 199]);
    const Q = await nystromPreconditioner(K, { shift: mu, method: 'landmarks', landmarks: [3, 50, 199] });
    expect(Array.from((Q as LandmarkPreconditioner).landmarks)).toEqual([3, 50, 199]);
    await expect(landmarkPreconditioner(K, { rank: 2, shift: mu, landmarks: [3, 50, 199] })).rejects.toThrow('rank = 2 but 3 landmark indices were given');
    await expect(landmarkPreconditioner(K, { shift: mu, landmarks: [3, 3] })).rejects.toThrow('landmark index 1 is number 3: indices must be distinct integers in [0, 200)');
    await expect(landmarkPreconditioner(K, { shift: mu, landmarks: [3, 200] })).rejects.toThrow('landmark index 1 is number 200');
    await expect(landmarkPreconditioner(K, { shift: mu, landmarks: [3, 1.5] })).rejects.toThrow('landmark index 1 is number 1.5');
    await expect(landmarkPreconditioner(K, { shift: mu, landmarks: 'uniform' })).rejects.toThrow("option 'rank' (the number of landmarks m) is required with landmarks 'uniform'");
    await expect(nystromPreconditioner(K, { rank: 200, shift: mu, method: 'landmarks' })).rejects.toThrow(/got number 200/);
    await expect(nystromPreconditioner(denseOp(Kd), { rank: 'auto', shift: mu, method: 'landmarks' })).rejects.toThrow(/method 'landmarks' needs a KernelOperator/);
    await expect(nystromPreconditioner(K, { rank: 'auto', shift: mu, method: 'landmarks', initialRank: 0 })).rejects.toThrow('initialRank must be an integer with 1 ≤ r < n = 200, got number 0');
    await expect(nystromPreconditioner(K, { rank: 5, shift: mu, method: 'landmarks', landmarks: 'leverage' as never })).rejects.toThrow(/got a string "leverage"/);
    await expect(nystromPreconditioner(K, { rank: 5, shift: mu, method: 'landmarks', factor: 'dense' as never }))
      .rejects.toThrow('factor must be one of "auto", "stored", "symbolic", got a string "dense"');
    const rect = gaussianKernel(x, { y: x.slice(0, 10) });
    await expect(nystromPreconditioner(rect, { rank: 5, shift: mu, method: 'landmarks' })).rejects.toThrow(/must be square, got shape 200x10/);
  });

  it('restrictRows / subKernel give K[I, J] from the rebound formula', async () => {
    const I = [5, 0, 17];
    const J = [2, 9];
    const sub = subKernel(K, { i: I, j: J }, 'sub');
    expect(sub.shape).toEqual([3, 2]);
    const D = await sub.toDense();
    for (let a = 0; a < 3; a++) for (let b = 0; b < 2; b++) expect(D.get(a, b)).toBeCloseTo(Kd.get(I[a]!, J[b]!), 14);
    const y = await sub.matvec([1, -2]);
    expect(y[1]).toBeCloseTo(Kd.get(0, 2) - 2 * Kd.get(0, 9), 12);
    expect(() => restrictRows(K.formula.node, { j: [n] })).toThrow(/row index 200 out of range for 'y' with 200 rows/);
  });
});

describe("adaptive landmarks (rank 'auto', the CPU default of K.solve)", () => {
  const n = 700;
  const x = points(n, 3, 21);
  const sigma = 0.1;
  const K = gaussianKernel(x, { sigma });
  const Kd = gaussianDense(x, x, sigma);
  const mu = 1e-3;

  it('doubles m from initialRank; κ̂ of each stage is the largest eigenvalue of P⁻¹(K + μI) from below; the rule is consistent', async () => {
    const seen: LandmarkStage[] = [];
    const P = await adaptiveLandmarkPreconditioner(K, { shift: mu, seed: 2, initialRank: 16, maxRank: 256, onStage: (s) => seen.push(s) });
    const stages = landmarkStages(P);
    expect(stages).toEqual(seen);
    expect(stages.length).toBeGreaterThanOrEqual(1);
    stages.forEach((s, k) => {
      expect(s.rank).toBe(16 * 2 ** k);
      expect(s.action).toBe(k < stages.length - 1 ? 'grow' : s.rank === 256 ? 'maxRank' : 'cost');
      if (s.action === 'grow' || s.action === 'cost') expect(s.action === 'grow').toBe(s.nextMs! < s.nowMs!);
      expect(s.predictedIterations).toBeCloseTo(landmarkIterations(s.kappa, 1e-6), 10);
    });
    expect(P.rank).toBe(stages[stages.length - 1]!.rank);
    // the largest eigenvalue of P⁻¹(K + μI), densely: κ̂ (8 Lanczos steps) approaches it from below
    const Pinv = await P.toDense();
    const ev = new EigenvalueDecomposition(Pinv.mmul(shifted(Kd, mu))).realEigenvalues;
    const lambdaMax = Math.max(...ev);
    expect(Math.min(...ev)).toBeGreaterThan(1 - 1e-6); // P ≼ K + μI
    const last = stages[stages.length - 1]!;
    expect(last.kappa).toBeLessThanOrEqual(lambdaMax * (1 + 1e-8));
    expect(last.kappa).toBeGreaterThan(0.5 * lambdaMax);
  });

  it('stays within maxStoredBytes: the first m halves until K_mn fits, and growth stops on memory', async () => {
    const budget = n * 32 * 8 + 32 * 32 * 8;
    const P = await adaptiveLandmarkPreconditioner(K, { shift: mu, maxStoredBytes: budget });
    expect(P.rank).toBe(32);
    expect(P.wasm).toBe(true);
    expect(landmarkStages(P).map((s) => s.action)).toEqual(['memory']);
  });

  it('estimates κ of a given preconditioner from PCG steps', async () => {
    const P = (await nystromPreconditioner(K, { rank: 64, shift: mu, method: 'landmarks', seed: 4 })) as LandmarkPreconditioner;
    const ev = new EigenvalueDecomposition((await P.toDense()).mmul(shifted(Kd, mu))).realEigenvalues;
    const est = await preconditionedConditionEstimate(K, P, mu, 30, 1);
    expect(est.kappa / Math.max(...ev)).toBeGreaterThan(0.99);
    expect(est.kappa / Math.max(...ev)).toBeLessThanOrEqual(1 + 1e-8);
    expect(est.productMs).toBeGreaterThanOrEqual(0);
    expect(est.applyMs).toBeGreaterThanOrEqual(0);
  });
});
