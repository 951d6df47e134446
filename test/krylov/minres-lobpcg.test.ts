import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix, QrDecomposition, solve } from 'ml-matrix';
import { minres } from '../../src/krylov/minres.js';
import { lobpcg } from '../../src/krylov/lobpcg.js';
import * as krylov from '../../src/krylov/index.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import {
  countingOperator, kernelMatrix, loadFixture, matvecDense, norm2, randomSpd, randomSymmetric, randomVec, relErr,
} from './helpers.js';
import { mulberry32 } from '../../src/krylov/random.js';

const fx = loadFixture('krylov_small.json');
const L = fx.laplacian;
const Kl = kernelMatrix(L.points, 2, 'laplacian', L.sigma);

describe('minres vs scipy fixtures', () => {
  // scipy's minres stops on ‖r‖ ≤ rtol·‖A‖·‖x‖ (a backward error): in each fixture its info 0 comes with a residual
  // above rtol·‖b‖. minres follows scipy's recurrence to that point (the same iterate), checks the claim on a true
  // residual, and goes on until ‖b − (A − shift·I) x‖ ≤ rtol·‖b‖.
  for (const c of L.minres) {
    it(`(K − ${c.shift.toPrecision(4)}I) x = b, rtol ${c.rtol}${c.Mdiag ? ', diagonal M' : ''}`, async () => {
      const M = c.Mdiag ? Matrix.diag(c.Mdiag) : undefined;
      const iterates: Float64Array[] = [];
      const res = await minres(countingOperator(Kl), L.b, { shift: c.shift, rtol: c.rtol, ...(M ? { M } : {}), callback: (xk) => iterates.push(xk) });
      // scipy's iterate where it stopped (± one iteration: its test fires by rounding on the shift-0 case)
      const near = [-1, 0, 1].map((d) => relErr(iterates[c.iterations - 1 + d]!, c.x));
      expect(Math.min(...near)).toBeLessThan(Math.max(1e-7, 100 * c.rtol));
      const bnorm = norm2(L.b);
      expect(c.info).toBe(0);
      expect(c.residual).toBeGreaterThan(c.rtol * bnorm); // scipy's false claim
      expect(res.info).toBe(0);
      expect(res.iterations).toBeGreaterThan(c.iterations);
      const r = norm2(matvecDense(Kl, res.x).map((v, i) => L.b[i] - (v - c.shift * res.x[i]!)));
      expect(r).toBeLessThanOrEqual(c.rtol * bnorm);
      expect(res.residualNorms[res.iterations]! / r).toBeCloseTo(1, 6);
      expect(res.residualNorms.length).toBe(res.iterations + 1);
    });
  }
});

describe('minres', () => {
  it('solves symmetric indefinite systems like a dense solve', async () => {
    const A = randomSymmetric(60, 21);
    const b = randomVec(60, 22);
    const ref = solve(A, Matrix.columnVector(Array.from(b))).getColumn(0);
    const res = await minres(A, b, { rtol: 1e-13, maxiter: 1000 });
    expect(res.info).toBe(0);
    expect(relErr(res.x, ref)).toBeLessThan(1e-7);
    // shift: (A − 0.3 I) x = b
    const As = A.clone().sub(Matrix.eye(60).mul(0.3));
    const ref2 = solve(As, Matrix.columnVector(Array.from(b))).getColumn(0);
    const res2 = await minres(A, b, { shift: 0.3, rtol: 1e-13, maxiter: 1000, x0: new Float64Array(60).fill(0.1) });
    expect(relErr(res2.x, ref2)).toBeLessThan(1e-7);
  });

  it('b = 0, maxiter, callbacks, input errors, check', async () => {
    const A = randomSymmetric(30, 3);
    const zero = await minres(A, new Float64Array(30));
    expect(zero.info).toBe(0);
    expect(zero.x.every((v) => v === 0)).toBe(true);
    let calls = 0;
    const few = await minres(A, randomVec(30, 1), { maxiter: 4, rtol: 1e-14, callback: () => calls++ });
    expect(few.info).toBe(4);
    expect(calls).toBe(4);
    await expect(minres(A, [1, 2])).rejects.toThrow(/length 2, expected 30/);
    await expect(minres(new Matrix(2, 3), [1, 2])).rejects.toThrow(/square/);
    const nonsym = Matrix.rand(30, 30, { random: mulberry32(4) });
    const chk = await minres(nonsym, randomVec(30, 1), { check: true });
    expect(chk.info).toBe(-1);
    expect(chk.message).toMatch(/symmetric/);
  });
});

describe('lobpcg', () => {
  const denseEigs = (A: Matrix) => [...new EigenvalueDecomposition(A, { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
  const X0 = (n: number, k: number, seed: number) => {
    const rng = mulberry32(seed);
    return Matrix.from1DArray(n, k, Array.from({ length: n * k }, () => rng() - 0.5));
  };

  it('largest eigenpairs of a kernel matrix, one matmat per iteration', async () => {
    const A = countingOperator(Kl);
    const res = await lobpcg(A, X0(300, 4, 1), { maxiter: 200, tol: 1e-8, verify: false });
    expect(res.converged).toBe(true);
    const top = L.denseEigenvalues.all.slice(-4);
    res.eigenvalues.forEach((v, i) => expect(Math.abs(v - top[i]) / top[i]).toBeLessThan(1e-12));
    expect(A.count.matvec + A.count.matmat).toBeLessThanOrEqual(res.iterations + 1);
    // the check of the convergence claim (on by default): at most 20 one-vector products more, the same answer
    const checked = countingOperator(Kl);
    const again = await lobpcg(checked, X0(300, 4, 1), { maxiter: 200, tol: 1e-8 });
    expect(Array.from(again.eigenvalues)).toEqual(Array.from(res.eigenvalues));
    expect(checked.count.matvec + checked.count.matmat).toBeLessThanOrEqual(res.iterations + 1 + 20);
    for (let i = 0; i < 4; i++) {
      const v = res.eigenvectors.getColumn(i);
      const r = matvecDense(Kl, v).map((x, t) => x - res.eigenvalues[i]! * v[t]!);
      expect(norm2(r)).toBeLessThanOrEqual(1e-8);
      expect(norm2(v)).toBeCloseTo(1, 12);
    }
  });

  it('smallest eigenpairs with a preconditioner, and constraints Y', async () => {
    // A = Q diag(1..200) Qᵀ with a random orthogonal Q, so the spectrum is known exactly.
    const rng = mulberry32(8);
    const Q = new QrDecomposition(Matrix.from1DArray(200, 200, Array.from({ length: 40000 }, () => rng() - 0.5))).orthogonalMatrix;
    const D = Array.from({ length: 200 }, (_, i) => i + 1);
    const A = Q.mmul(Matrix.diag(D)).mmul(Q.transpose());
    for (let i = 0; i < 200; i++) for (let j = 0; j < i; j++) A.set(i, j, A.get(j, i));
    const all = D;
    const res = await lobpcg(aslinearoperator(A), X0(200, 3, 2), { largest: false, maxiter: 500, tol: 1e-9 });
    console.log('lobpcg smallest: iterations', res.iterations);
    expect(res.converged).toBe(true);
    res.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(all[i]!, 9));
    expect(res.residualNorms.every((r) => r <= 1e-9)).toBe(true);
    // Jacobi preconditioner
    const Minv = Matrix.diag(Array.from({ length: 200 }, (_, i) => 1 / A.get(i, i)));
    const pre = await lobpcg(A, X0(200, 3, 2), { largest: false, maxiter: 500, tol: 1e-9, M: Minv });
    pre.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(all[i]!, 9));
    // Constraining off the top eigenvector gives the next ones.
    const top = await lobpcg(A, X0(200, 1, 3), { maxiter: 500, tol: 1e-9 });
    const next = await lobpcg(A, X0(200, 2, 4), { maxiter: 500, tol: 1e-9, Y: top.eigenvectors });
    expect(next.eigenvalues[1]).toBeCloseTo(all[198]!, 8);
    expect(next.eigenvalues[0]).toBeCloseTo(all[197]!, 8);
  });

  it('wanted: only the best `wanted` pairs must converge, the other columns guard them', async () => {
    // A = Q diag(1..200) Qᵀ: the top 2 converge to tol, the 4 guard columns need not
    const rng = mulberry32(9);
    const Q = new QrDecomposition(Matrix.from1DArray(200, 200, Array.from({ length: 40000 }, () => rng() - 0.5))).orthogonalMatrix;
    const A = Q.mmul(Matrix.diag(Array.from({ length: 200 }, (_, i) => i + 1))).mmul(Q.transpose());
    for (let i = 0; i < 200; i++) for (let j = 0; j < i; j++) A.set(i, j, A.get(j, i));
    const all = await lobpcg(A, X0(200, 6, 5), { maxiter: 500, tol: 1e-6 });
    const two = await lobpcg(A, X0(200, 6, 5), { maxiter: 500, tol: 1e-6, wanted: 2 });
    expect(all.converged && two.converged).toBe(true);
    expect(two.iterations).toBeLessThan(all.iterations);
    for (const i of [4, 5]) { // ascending: the wanted (largest) two come last
      expect(two.residualNorms[i]).toBeLessThanOrEqual(1e-6);
      expect(two.eigenvalues[i]).toBeCloseTo(195 + i, 9);
      const v = two.eigenvectors.getColumn(i);
      const r = A.mmul(Matrix.columnVector(v)).getColumn(0).map((x, t) => x - two.eigenvalues[i]! * v[t]!);
      expect(norm2(r)).toBeLessThanOrEqual(1e-6);
    }
    expect(Math.max(...two.residualNorms.subarray(0, 4))).toBeGreaterThan(1e-6); // the guards stopped short
    await expect(lobpcg(A, X0(200, 3, 1), { wanted: 4 })).rejects.toThrow(/wanted \(4\) exceeds the block size k = 3/);
    await expect(lobpcg(A, X0(200, 3, 1), { wanted: 0 } as never)).rejects.toThrow(/wanted/);
  });

  it('falls back to a dense solve when n < 5k (scipy rule) and reports non-convergence without throwing', async () => {
    const A = randomSymmetric(12, 5);
    const res = await lobpcg(A, X0(12, 3, 1));
    const all = denseEigs(A);
    res.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(all[9 + i]!, 11));
    const slow = await lobpcg(countingOperator(Kl), X0(300, 3, 1), { maxiter: 2, tol: 1e-14 });
    expect(slow.converged).toBe(false);
    expect(slow.iterations).toBe(2);
    await expect(lobpcg(A, new Matrix(11, 2))).rejects.toThrow(/11 rows, expected 12/);
  });

  it('the dense path reports once through onProgress and warns of M and maxiter, which take no part (both were silent)', async () => {
    const A = randomSymmetric(12, 6);
    const warnings: string[] = [];
    const listen = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
    process.on('warning', listen);
    try {
      const seen: number[][] = [];
      const res = await lobpcg(A, X0(12, 3, 2), { maxiter: 3, M: aslinearoperator(Matrix.eye(12)), onProgress: (p) => { seen.push(Array.from(p.eigenvalues)); } });
      expect(res.iterations).toBe(0);
      expect(seen.map((e) => [...e].sort((a, b) => a - b))).toEqual([Array.from(res.eigenvalues)]); // the iteration's (wanted-first) order
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect(warnings).toEqual(["LAZYLINALG_LOBPCG_DENSE: lobpcg: n − (constraints) = 12 < 5·k = 15: solved by a dense eigensolver, as scipy does (exact, no iterations); 'M' and 'maxiter' take no part"]);
      warnings.length = 0;
      await lobpcg(A, X0(12, 3, 2)); // nothing given that it ignores: no warning
      await new Promise((r) => setImmediate(r));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', listen);
    }
  });

  it('a block started inside an invariant subspace is not reported as the wanted eigenpairs (scipy\'s is)', async () => {
    // diag(1..30): unit vectors are eigenvectors, so a block of them has residual 0 from the start
    const d = Array.from({ length: 30 }, (_, i) => i + 1);
    const A = aslinearoperator({ shape: [30, 30], matvec: (x: Float64Array) => x.map((v, i) => v * d[i]!) });
    const unit = (...at: number[]) => Array.from({ length: 30 }, (_, i) => at.map((a) => (i === a ? 1 : 0)));
    // before: [1, 2] (largest) and [6, 10] (smallest) with converged: true — the eigenvalues of the start, not the wanted
    const top = await lobpcg(A, unit(0, 1), { maxiter: 200, tol: 1e-6 });
    expect(top.converged).toBe(true);
    top.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(29 + i, 8));
    const low = await lobpcg(A, unit(5, 9), { largest: false, maxiter: 200, tol: 1e-6 });
    expect(low.converged).toBe(true);
    low.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(1 + i, 8));
    // out of iterations: not converged, and not the start's residual-0 block as its best iterate
    const short = await lobpcg(A, unit(0, 1), { maxiter: 5 });
    expect(short.converged).toBe(false);
    expect(Math.min(...short.eigenvalues)).toBeGreaterThan(2);
    // the search finds the miss at the last iteration allowed: not converged
    const last = await lobpcg(A, unit(0, 1), { maxiter: 1 });
    expect(last.converged).toBe(false);
    // verify: false leaves the check out: scipy's answer
    const unchecked = await lobpcg(A, unit(0, 1), { verify: false });
    expect(Array.from(unchecked.eigenvalues)).toEqual([1, 2]);
  });

  it('refuses a non-symmetric A or B by name (as eigsh): its Rayleigh–Ritz reads one triangle', async () => {
    const d = Array.from({ length: 30 }, (_, i) => i + 1);
    const X = Array.from({ length: 30 }, (_, i) => [Math.sin(i), Math.cos(i)]);
    const lopsided = aslinearoperator({ shape: [30, 30], matvec: (x: Float64Array) => { const y = x.map((v, i) => v * d[i]!); y[0]! += 10 * x[1]!; return y; } });
    await expect(lobpcg(lopsided, X)).rejects.toThrow(/lobpcg: A is not symmetric \(.*the probe/);
    await expect(lobpcg(aslinearoperator([[2, 1, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 5]]), [[1], [0], [0], [0]])).rejects.toThrow(/lobpcg: A is not symmetric \(.*entry \(0, 1\) = 1 differs from \(1, 0\) = 0/);
    const diagonal = aslinearoperator({ shape: [30, 30], matvec: (x: Float64Array) => x.map((v, i) => v * d[i]!), symmetric: true });
    await expect(lobpcg(diagonal, X, { B: lopsided })).rejects.toThrow(/lobpcg: B is not symmetric/);
  });

  it('refuses a B that is not positive definite by name (it stopped after one iteration unconverged, or blamed X\'s rank)', async () => {
    const n = 40;
    const d = Array.from({ length: n }, (_, i) => i + 1);
    const A = aslinearoperator({ shape: [n, n], matvec: (x: Float64Array) => x.map((v, i) => v * d[i]!), symmetric: true });
    const diag = (f: (i: number) => number) => aslinearoperator({ shape: [n, n], matvec: (x: Float64Array) => x.map((v, i) => v * f(i)), symmetric: true });
    const X = X0(n, 3, 5);
    const notDefinite = /lobpcg: B is not positive definite: (xᵀBx = [-\d.e]+ for a nonzero vector|XᵀBX of the search space has the eigenvalue -)/;
    for (const B of [diag((i) => (i % 2 ? 1 : -1)), diag(() => -1), diag(() => 0), diag((i) => (i === 7 ? -0.5 : 1))]) {
      await expect(lobpcg(A, X, { B, maxiter: 50 })).rejects.toThrow(notDefinite);
    }
    // a positive definite B still solves: the generalized problem A v = λ B v with B = diag(d)/2 has every λ = 2
    const res = await lobpcg(A, X, { B: diag((i) => d[i]! / 2), maxiter: 50 });
    res.eigenvalues.forEach((v) => expect(v).toBeCloseTo(2, 8));
  });

  it('takes k = n − (constraints), the whole complement, as scipy does, and refuses k beyond it by name', async () => {
    const A = randomSymmetric(7, 11);
    const all = denseEigs(A);
    for (const largest of [true, false]) {
      const res = await lobpcg(A, X0(7, 7, 2), { largest });
      res.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(all[i]!, 11));
      expect(res.converged).toBe(true);
    }
    // one constraint: the 6 eigenpairs of A on the complement of Y = e_0
    const Y = new Matrix(7, 1);
    Y.set(0, 0, 1);
    const sub = denseEigs(new Matrix(Array.from({ length: 6 }, (_, i) => Array.from({ length: 6 }, (_, j) => A.get(i + 1, j + 1)))));
    const onComplement = await lobpcg(A, X0(7, 6, 3), { Y });
    onComplement.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(sub[i]!, 11));
    await expect(lobpcg(A, X0(7, 8, 2))).rejects.toThrow(/block size k = 8 plus 0 constraints must be ≤ n = 7/);
    await expect(lobpcg(A, X0(7, 7, 2), { Y })).rejects.toThrow(/block size k = 7 plus 1 constraints must be ≤ n = 7/);
  });
});

describe('index exports the contract names', () => {
  it('exports', () => {
    for (const name of ['cg', 'minres', 'eigsh', 'lobpcg', 'EigshNoConvergence', 'CgNoConvergence']) {
      expect(typeof (krylov as Record<string, unknown>)[name]).toBe('function');
    }
  });
});

describe('lobpcg: products that are not finite are named (before: "symmetricEigen: non-finite entry at (0, 0)")', () => {
  it('on the block iteration and on the dense path, for A and for B', async () => {
    const nanAt = (n: number, i: number) => aslinearoperator({ shape: [n, n], symmetric: true, matvec: (x: Float64Array) => Float64Array.from(x, (v, t) => (t === i ? NaN : 2 * v)) });
    const start = (n: number) => new Matrix(Array.from({ length: n }, (_, i) => [Math.sin(i + 1), Math.cos(2 * i + 1), Math.sin(3 * i + 2)]));
    await expect(lobpcg(nanAt(200, 7), start(200))).rejects.toThrow(/^lobpcg: a product with A has a non-finite entry \(row 7 of a block's column \d+: NaN\)/);
    await expect(lobpcg(nanAt(10, 7), start(10))).rejects.toThrow(/^lobpcg: a product with A has a non-finite entry \(row 7/);
    const A = aslinearoperator({ shape: [200, 200], symmetric: true, matvec: (x: Float64Array) => Float64Array.from(x, (v, t) => (t + 1) * v) });
    await expect(lobpcg(A, start(200), { B: nanAt(200, 3) })).rejects.toThrow(/^lobpcg: a product with B has a non-finite entry \(row 3/);
  });
});
