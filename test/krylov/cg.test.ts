import { describe, expect, it } from 'vitest';
import { Matrix, solve } from 'ml-matrix';
import { cg, CgNoConvergence } from '../../src/krylov/cg.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import {
  countingOperator, kernelMatrix, loadFixture, matvecDense, norm2, randomSpd, randomSymmetric, randomVec, relErr,
} from './helpers.js';

const fx = loadFixture('krylov_small.json');
const g = fx.gaussian;
const Kg = kernelMatrix(g.points, 2, 'gaussian', g.sigma);

describe('cg vs scipy fixtures', () => {
  for (const c of g.cg) {
    it(`(K + ${c.alpha}I) x = b, rtol ${c.rtol}, atol ${c.atol}${c.x0 ? ', x0' : ''}`, async () => {
      const A = countingOperator(Kg, { shift: c.alpha });
      const res = await cg(A, g.b, { rtol: c.rtol, atol: c.atol, ...(c.x0 ? { x0: c.x0 } : {}) });
      expect(res.info).toBe(0);
      expect(Math.abs(res.iterations - c.iterations)).toBeLessThanOrEqual(2);
      const tol = Math.max(c.rtol * norm2(g.b), c.atol);
      const Ax = matvecDense(Kg, res.x).map((v, i) => v + c.alpha * res.x[i]!);
      const trueRes = norm2(Ax.map((v, i) => g.b[i] - v));
      expect(trueRes).toBeLessThanOrEqual(tol);
      expect(res.residualNorms[res.residualNorms.length - 1]).toBeCloseTo(trueRes, 10);
      expect(res.residualNorms.length).toBe(res.iterations + 1);
      // Early iterates agree with scipy's to rounding (same algorithm, same arithmetic order up to ulps).
      const iterates: Float64Array[] = [];
      await cg(A, g.b, { rtol: c.rtol, atol: c.atol, maxiter: 3, ...(c.x0 ? { x0: c.x0 } : {}), callback: (xk) => iterates.push(xk) });
      for (let i = 0; i < 3; i++) expect(relErr(iterates[i]!, c.iterates[i])).toBeLessThan(1e-12);
      // Final iterate: within the tolerance-sized difference of scipy's.
      expect(relErr(res.x, c.x)).toBeLessThan(Math.max(1e-6, 100 * c.rtol));
    });
  }
});

describe('cg', () => {
  it('verify: false accepts the recursive residual (one product fewer, the same iterate); true residual still ≤ tol on exact products', async () => {
    const c = g.cg[0]!;
    const A = countingOperator(Kg, { shift: c.alpha });
    const checked = await cg(A, g.b, { rtol: c.rtol });
    const trusted = await cg(A, g.b, { rtol: c.rtol, verify: false });
    expect(trusted.info).toBe(0);
    expect(trusted.iterations).toBe(checked.iterations);
    expect(trusted.matvecs).toBe(checked.matvecs - 1);
    expect(relErr(trusted.x, checked.x)).toBeLessThan(1e-12);
    const Ax = matvecDense(Kg, trusted.x).map((v, i) => v + c.alpha * trusted.x[i]!);
    expect(norm2(Ax.map((v, i) => g.b[i] - v))).toBeLessThanOrEqual(c.rtol * norm2(g.b));
    await expect(cg(A, g.b, { verify: 'no' as unknown as boolean })).rejects.toThrow('cg: verify must be true or false, got a string "no"');
  });

  it('solves random SPD systems like a dense solve', async () => {
    for (const [n, seed] of [[30, 1], [80, 2]] as const) {
      const A = randomSpd(n, seed);
      const b = randomVec(n, seed + 10);
      const ref = solve(A, Matrix.columnVector(Array.from(b))).getColumn(0);
      const res = await cg(aslinearoperator(A), b, { rtol: 1e-12 });
      expect(res.info).toBe(0);
      expect(relErr(res.x, ref)).toBeLessThan(1e-8);
    }
  });

  it('accepts a Matrix and number[][] as A', async () => {
    const A = randomSpd(20, 5);
    const b = Array.from(randomVec(20, 6));
    const r1 = await cg(A, b, { rtol: 1e-10 });
    const r2 = await cg(A.to2DArray(), new Float32Array(b), { rtol: 1e-10 });
    expect(r1.info).toBe(0);
    expect(relErr(r2.x, r1.x)).toBeLessThan(1e-5); // Float32Array b rounds b itself
  });

  it('block b: one matmat per iteration, same answers as column-by-column', async () => {
    const n = 120;
    const A = countingOperator(Kg.subMatrix(0, n - 1, 0, n - 1), { shift: 0.05 });
    const B = new Matrix(n, 4);
    for (let j = 0; j < 4; j++) B.setColumn(j, Array.from(randomVec(n, 100 + j)).map((v) => v * (j + 1) ** 3));
    B.setColumn(3, new Array(n).fill(0)); // a zero column converges at once
    const res = await cg(A, B, { rtol: 1e-8, residualCheckEvery: 0 });
    expect(res.info).toBe(0);
    expect(res.x).toBeInstanceOf(Matrix);
    // One product per iteration (a matmat while several columns run), plus the acceptance checks.
    expect(A.count.matmat).toBeGreaterThan(0);
    expect(A.count.matvec + A.count.matmat).toBeLessThanOrEqual(res.iterations + 3);
    expect(res.columnIterations![3]).toBe(0);
    expect(res.x.getColumn(3).every((v) => v === 0)).toBe(true);
    for (let j = 0; j < 3; j++) {
      const single = await cg(A, B.getColumn(j), { rtol: 1e-8, residualCheckEvery: 0 });
      expect(single.iterations).toBe(res.columnIterations![j]);
      expect(relErr(res.x.getColumn(j), single.x)).toBeLessThan(1e-12);
      expect(res.residualNorms[j]!.length).toBe(single.residualNorms.length);
    }
    expect(res.iterations).toBe(Math.max(...res.columnIterations!));
  });

  it('reports breakdown on an indefinite matrix (info < 0), never loops', async () => {
    const A = randomSymmetric(40, 3);
    const res = await cg(A, randomVec(40, 4), { maxiter: 10_000 });
    expect(res.info).toBeLessThan(0);
    expect(res.message).toMatch(/not positive definite/);
    expect(res.breakdown).toBe('operator');
    expect(res.iterations).toBeLessThan(200);
    const diag = Matrix.diag([1, -1, 2]);
    const r2 = await cg(diag, [0, 1, 0]);
    expect(r2.info).toBe(-1);
    expect(r2.iterations).toBe(0);
  });

  it('a singular A whose range misses part of b: a breakdown naming it, x finite (before: a refusal of the product\'s Infinity input)', async () => {
    // diag(0, 2, 3, …, 30): b = 1 has a part along the null vector e_0 that no x reaches; CG's steps along it grow
    const A = aslinearoperator({ shape: [30, 30], matvec: (x: Float64Array) => x.map((v, i) => (i === 0 ? 0 : (i + 1) * v)) });
    const res = await cg(A, new Float64Array(30).fill(1), { maxiter: 100_000 });
    expect(res.info).toBe(-1);
    expect(res.breakdown).toBe('operator');
    expect(res.message).toMatch(/overflow.*A is singular along the residual \(b has a part outside A's range\)/);
    expect(res.x.every(Number.isFinite)).toBe(true);
    // the same A with b in its range converges
    const ok = await cg(A, Float64Array.from({ length: 30 }, (_, i) => (i === 0 ? 0 : 1)));
    expect(ok.info).toBe(0);
  });

  it('reports NaN from the operator as breakdown', async () => {
    const A = aslinearoperator({ shape: [5, 5], matvec: (x: Float64Array) => x.map((v, i) => (i === 2 ? NaN : v)) });
    const res = await cg(A, [1, 2, 3, 4, 5]);
    expect(res.info).toBe(-1);
    expect(res.message).toMatch(/NaN/);
    expect(res.breakdown).toBe('operator');
  });

  it('returns info = maxiter without convergence, or throws CgNoConvergence if asked', async () => {
    const A = countingOperator(Kg, { shift: 1e-3 });
    const res = await cg(A, g.b, { rtol: 1e-12, maxiter: 7 });
    expect(res.info).toBe(7);
    expect(res.iterations).toBe(7);
    const err = await cg(A, g.b, { rtol: 1e-12, maxiter: 7, throwOnNoConvergence: true }).catch((e) => e);
    expect(err).toBeInstanceOf(CgNoConvergence);
    expect(err.result.info).toBe(7);
    expect(err.result.x).toHaveLength(400);
  });

  it('b = 0 gives x = 0 at once, whatever x0', async () => {
    const A = countingOperator(Kg, { shift: 1 });
    const res = await cg(A, new Float64Array(400), { x0: new Float64Array(400).fill(1) });
    expect(res.info).toBe(0);
    expect(res.iterations).toBe(0);
    expect(res.x.every((v) => v === 0)).toBe(true);
    expect(A.count.columns).toBe(0);
  });

  it('x0 equal to the solution stops immediately', async () => {
    const A = randomSpd(15, 9);
    const xs = randomVec(15, 8);
    const b = matvecDense(A, xs);
    const res = await cg(A, b, { x0: xs, rtol: 1e-8 });
    expect(res.iterations).toBe(0);
    expect(res.info).toBe(0);
  });

  it('preconditioning with the exact inverse converges in one iteration', async () => {
    const A = randomSpd(25, 11);
    const Minv = solve(A, Matrix.eye(25));
    const res = await cg(A, randomVec(25, 12), { M: Minv, rtol: 1e-10 });
    expect(res.info).toBe(0);
    expect(res.iterations).toBeLessThanOrEqual(2);
    const bad = await cg(A, randomVec(25, 12), { M: Matrix.eye(25).mul(-1) });
    expect(bad.info).toBe(-1);
    expect(bad.message).toMatch(/preconditioner/);
    expect(bad.breakdown).toBe('preconditioner');
    expect(res.breakdown).toBeUndefined();
  });

  it('float32 products: the true-residual check refuses a false convergence claim', async () => {
    const A = countingOperator(Kg, { shift: 0.1, dtype: 'float32' });
    const res = await cg(A, g.b, { rtol: 1e-6 });
    const Ax = matvecDense(Kg, res.x).map((v, i) => v + 0.1 * res.x[i]!);
    const trueRes = norm2(Ax.map((v, i) => g.b[i] - v));
    if (res.info === 0) expect(trueRes).toBeLessThanOrEqual(1e-6 * norm2(g.b) * 1.01);
  });

  it('relaxed products: a cheaper operator once ‖r‖ ≤ below·‖b‖; the answer still meets rtol by the exact one', async () => {
    const exact = countingOperator(Kg, { shift: 0.1 });
    const cheap = countingOperator(Kg, { shift: 0.1, dtype: 'float32' }); // every product rounded to float32
    const tol = 1e-10 * norm2(g.b);
    const trueResidual = (x: Float64Array) => norm2(matvecDense(Kg, x).map((v, i) => g.b[i] - v - 0.1 * x[i]!));
    const res = await cg(exact, g.b, { rtol: 1e-10, relaxed: { A: cheap, below: 1e-3 } });
    expect(res.info).toBe(0);
    expect(trueResidual(res.x)).toBeLessThanOrEqual(tol);
    expect(cheap.count.columns).toBeGreaterThan(0); // it did take over …
    expect(exact.count.columns).toBeLessThan(res.matvecs); // … from the exact operator
    expect(exact.count.columns + cheap.count.columns).toBe(res.matvecs);
    // the residual history before the switch is the exact run's
    const plain = await cg(countingOperator(Kg, { shift: 0.1 }), g.b, { rtol: 1e-10 });
    const switched = res.residualNorms.findIndex((r) => r <= 1e-3 * norm2(g.b));
    for (let k = 0; k <= switched; k++) expect(res.residualNorms[k]).toBe(plain.residualNorms[k]);
  });

  it('resume: going on from three CG steps made elsewhere retraces the straight run, without a product for r', async () => {
    const A = countingOperator(Kg, { shift: 0.1 });
    const straight = await cg(A, g.b, { rtol: 1e-10 });
    // three plain CG steps by hand (independent of cg): x, r, the last step's p and rᵀr
    const n = Kg.rows;
    const x = new Float64Array(n), r = Float64Array.from(g.b as number[]), p = Float64Array.from(r);
    let rho = r.reduce((s, v) => s + v * v, 0), lastP = p, lastRho = rho;
    for (let k = 0; k < 3; k++) {
      const q = matvecDense(Kg, p).map((v, i) => v + 0.1 * p[i]!);
      const alpha = rho / p.reduce((s, v, i) => s + v * q[i]!, 0);
      for (let i = 0; i < n; i++) { x[i]! += alpha * p[i]!; r[i]! -= alpha * q[i]!; }
      lastP = Float64Array.from(p); lastRho = rho;
      const next = r.reduce((s, v) => s + v * v, 0);
      for (let i = 0; i < n; i++) p[i] = r[i]! + (next / rho) * p[i]!;
      rho = next;
    }
    const counted = countingOperator(Kg, { shift: 0.1 });
    const resumed = await cg(counted, g.b, { rtol: 1e-10, x0: x, resume: { r, p: lastP, rho: lastRho }, residualCheckEvery: 0 });
    expect(resumed.info).toBe(0);
    expect(3 + resumed.iterations).toBe(straight.iterations);
    for (let k = 1; k <= resumed.iterations; k++) {
      expect(Math.abs(resumed.residualNorms[k]! - straight.residualNorms[k + 3]!)).toBeLessThan(1e-9 * norm2(g.b));
    }
    expect(relErr(resumed.x, straight.x)).toBeLessThan(1e-9);
    expect(counted.count.columns).toBe(resumed.iterations + 1); // its steps and the claim's verification: no product for r
    await expect(cg(A, g.b, { resume: { r, p: lastP, rho: lastRho } })).rejects.toThrow(/resume needs one right-hand side and its x0/);
    await expect(cg(A, g.b, { x0: x, resume: { r, p: lastP, rho: -1 } })).rejects.toThrow('cg: resume.rho must be a positive finite number, got number -1');
    await expect(cg(A, g.b, { x0: x, resume: { r: [1, 2], p: lastP, rho: 1 } })).rejects.toThrow(/resume.r has length 2/);
  });

  it('relaxed products with a block b: each column switches on its own residual and meets rtol', async () => {
    const n = Kg.rows;
    const exact = countingOperator(Kg, { shift: 0.1 });
    const cheap = countingOperator(Kg, { shift: 0.1, dtype: 'float32' });
    const B = new Matrix(n, 3);
    for (let i = 0; i < n; i++) { B.set(i, 0, g.b[i]); B.set(i, 1, Math.sin(i)); B.set(i, 2, i % 7 === 0 ? 1 : 0); }
    const res = await cg(exact, B, { rtol: 1e-10, relaxed: { A: cheap, below: 1e-3 } });
    expect(res.info).toBe(0);
    expect(cheap.count.columns).toBeGreaterThan(0);
    for (let c = 0; c < 3; c++) {
      const x = res.x.getColumn(c);
      const b = B.getColumn(c);
      const r = matvecDense(Kg, Float64Array.from(x)).map((v, i) => b[i]! - v - 0.1 * x[i]!);
      expect(norm2(r)).toBeLessThanOrEqual(1e-10 * norm2(b));
    }
  });

  it('relaxed products that are wrong: the refused claim sends the column back to the exact operator', async () => {
    const exact = countingOperator(Kg, { shift: 0.1 });
    const wrong = countingOperator(Kg.clone().mul(1.001), { shift: 0.1 }); // a 0.1% error: far above rtol
    const res = await cg(exact, g.b, { rtol: 1e-8, relaxed: { A: wrong, below: 1 } });
    expect(res.info).toBe(0);
    expect(norm2(matvecDense(Kg, res.x).map((v, i) => g.b[i] - v - 0.1 * res.x[i]!))).toBeLessThanOrEqual(1e-8 * norm2(g.b));
    expect(wrong.count.columns).toBeGreaterThan(0);
    expect(exact.count.columns).toBeGreaterThan(1); // the checks, then the products after the refusal
  });

  it('progress hooks fire once per iteration', async () => {
    const A = countingOperator(Kg, { shift: 0.1 });
    const seen: number[] = [];
    let calls = 0;
    const res = await cg(A, g.b, { onProgress: (p) => { seen.push(p.iteration); expect(p.elapsedMs).toBeGreaterThanOrEqual(0); }, callback: () => calls++ });
    expect(seen).toEqual(Array.from({ length: res.iterations }, (_, i) => i + 1));
    expect(calls).toBe(res.iterations);
  });

  it('options: an unknown key is refused by name (with the nearest known one), a wrong type quoted with its type', async () => {
    const A = randomSpd(4, 1);
    const b = [1, 2, 3, 4];
    await expect(cg(A, b, { rtoll: 1e-8 } as never)).rejects.toThrow(/cg: unknown option 'rtoll' in options \(did you mean 'rtol'\?\); known options: x0, rtol, atol/);
    await expect(cg(A, b, { tol: 1e-8 } as never)).rejects.toThrow(/unknown option 'tol'.*did you mean 'rtol'/);
    await expect(cg(A, b, { rtol: '1e-5' } as never)).rejects.toThrow('cg: rtol must be a number ≥ 0 (Infinity allowed), got a string "1e-5"');
    await expect(cg(A, b, { atol: NaN })).rejects.toThrow('cg: atol must be a number ≥ 0 (Infinity allowed), got number NaN');
    await expect(cg(A, b, { maxiter: 2.5 })).rejects.toThrow('cg: maxiter must be an integer ≥ 1, got number 2.5');
    await expect(cg(A, b, { callback: 3 } as never)).rejects.toThrow('cg: callback must be a function, got number 3');
    await expect(cg(A, b, { M: 'jacobi' } as never)).rejects.toThrow(/cg: M must be an operator .*got a string "jacobi"/);
    await expect(cg(A, b, { x0: 'zeros' } as never)).rejects.toThrow(/cg: x0 must be a vector .*got a string "zeros"/);
    await expect(cg(A, b, { relaxed: { A, blow: 0.1 } } as never)).rejects.toThrow(/cg: unknown option 'blow' in relaxed \(did you mean 'below'\?\); known options: A, below/);
    await expect(cg(A, b, [] as never)).rejects.toThrow(/cg: options must be a plain object, got an array/);
  });

  it('rtol = Infinity or atol = Infinity: converged at once with x0 returned and info 0, as scipy', async () => {
    const A = countingOperator(randomSpd(20, 3));
    const b = randomVec(20, 4);
    for (const tol of [{ rtol: Infinity }, { atol: Infinity }, { rtol: Infinity, atol: Infinity }]) {
      const zero = await cg(A, b, tol);
      expect(zero.info).toBe(0);
      expect(zero.iterations).toBe(0);
      expect(zero.matvecs).toBe(0);
      expect(zero.x.every((v) => v === 0)).toBe(true);
      const x0 = randomVec(20, 5);
      const warm = await cg(A, b, { ...tol, x0 });
      expect(warm.info).toBe(0);
      expect(Array.from(warm.x)).toEqual(Array.from(x0));
    }
    const block = await cg(A, new Matrix([[1, 2], ...Array.from({ length: 19 }, () => [0, 1])]), { atol: Infinity });
    expect(block.columnInfo).toEqual([0, 0]);
  });

  it('validates its input', async () => {
    const A = randomSpd(4, 1);
    await expect(cg(new Matrix(3, 4), [1, 2, 3])).rejects.toThrow(/square/);
    await expect(cg(A, [1, 2, 3])).rejects.toThrow(/length 3, expected 4/);
    await expect(cg(A, [1, NaN, 3, 4])).rejects.toThrow(/b\[1\] is NaN/);
    await expect(cg(A, [1, 2, 3, 4], { x0: [1, 2] })).rejects.toThrow(/x0 has length 2/);
    await expect(cg(A, [1, 2, 3, 4], { rtol: -1 })).rejects.toThrow(/rtol/);
    await expect(cg(A, [1, 2, 3, 4], { maxiter: 0 })).rejects.toThrow(/maxiter/);
    await expect(cg(A, new Matrix(3, 2))).rejects.toThrow(/3 rows, expected 4/);
    await expect(cg(A, [1, 2, 3, 4], { M: Matrix.eye(3) })).rejects.toThrow(/M has shape 3x3/);
    await expect(cg(A, [1, 2, 3, 4], { relaxed: { A: Matrix.eye(3), below: 1 } })).rejects.toThrow(/relaxed.A has shape 3x3/);
    await expect(cg(A, [1, 2, 3, 4], { relaxed: { A, below: NaN } })).rejects.toThrow('cg: relaxed.below must be a finite number ≥ 0, got number NaN');
  });
});
