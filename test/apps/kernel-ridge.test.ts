import { readFileSync } from 'node:fs';
import { Matrix, solve } from 'ml-matrix';
import { afterAll, describe, expect, it } from 'vitest';
import { KernelRidge, r2Score, type RidgeKernel } from '../../src/apps/kernel-ridge.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { mulberry32 } from '../../src/krylov/random.js';

afterAll(() => shutdownCpuPool());

// made by test/fixtures/make_apps_fixtures.py (scikit-learn KernelRidge(kernel='rbf'))
const { ridge } = JSON.parse(readFileSync(new URL('../fixtures/apps_sklearn.json', import.meta.url), 'utf8')) as {
  ridge: {
    sigma: number; alpha: number; X: number[][]; Y: number[][]; T: number[][]; YT: number[][];
    dualCoef: number[]; predict: number[]; score: number; predictMulti: number[][]; scoreMulti: number;
  };
};

/** k(r) of each kernel, written out independently of the library's formulas. */
const KERNELS: Record<RidgeKernel, (r: number, s: number) => number> = {
  gaussian: (r, s) => Math.exp(-(r * r) / (2 * s * s)),
  laplacian: (r, s) => Math.exp(-r / s),
  cauchy: (r, s) => 1 / (1 + (r * r) / (s * s)),
  matern: (r, s) => { const t = (Math.sqrt(5) * r) / s; return (1 + t + (t * t) / 3) * Math.exp(-t); }, // ν = 2.5
};

function denseKernel(k: (r: number) => number, a: number[][], b: number[][]): Matrix {
  return Matrix.from1DArray(a.length, b.length, a.flatMap((p) => b.map((q) => k(Math.hypot(...p.map((v, c) => v - q[c]!))))));
}

function data(n: number, seed: number): { x: number[][]; y: number[] } {
  const rand = mulberry32(seed);
  const x = Array.from({ length: n }, () => [rand(), rand(), rand()]);
  return { x, y: x.map((p) => Math.sin(4 * p[0]!) + p[1]! * p[2]! + 0.05 * (rand() - 0.5)) };
}

describe('KernelRidge', () => {
  const train = data(150, 1);
  const test = data(40, 2);

  for (const kernel of ['gaussian', 'laplacian', 'matern', 'cauchy'] as const) {
    it(`${kernel}: dual coefficients and predictions match a dense float64 solve of (K + αI) a = y`, async () => {
      const sigma = 0.3;
      const alpha = 1e-2;
      const model = await new KernelRidge({ kernel, sigma, alpha, ...(kernel === 'matern' ? { nu: 2.5 } : {}), solveOptions: { rtol: 1e-12 } }).fit(train.x, train.y);
      const k = (r: number) => KERNELS[kernel](r, sigma);
      const K = denseKernel(k, train.x, train.x);
      for (let i = 0; i < K.rows; i++) K.set(i, i, K.get(i, i) + alpha);
      const a = solve(K, Matrix.columnVector(train.y)).getColumn(0);
      const aOurs = model.dualCoef as Float64Array;
      for (let i = 0; i < a.length; i++) expect(aOurs[i]).toBeCloseTo(a[i]!, 7);
      const expected = denseKernel(k, test.x, train.x).mmul(Matrix.columnVector(a)).getColumn(0);
      const p = await model.predict(test.x) as Float64Array;
      expect(p).toBeInstanceOf(Float64Array);
      for (let i = 0; i < p.length; i++) expect(p[i]).toBeCloseTo(expected[i]!, 8);
    });
  }

  it("matches scikit-learn's KernelRidge (rbf, gamma = 1/(2σ²)): dual coefficients, predictions, score", async () => {
    const y = ridge.Y.map((r) => r[0]!);
    const model = await new KernelRidge({ sigma: ridge.sigma, alpha: ridge.alpha, solveOptions: { rtol: 1e-12 } }).fit(ridge.X, y);
    const a = model.dualCoef as Float64Array;
    ridge.dualCoef.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 8));
    const p = await model.predict(ridge.T) as Float64Array;
    ridge.predict.forEach((v, i) => expect(p[i]).toBeCloseTo(v, 9));
    expect(await model.score(ridge.T, ridge.YT.map((r) => r[0]!))).toBeCloseTo(ridge.score, 10);
  });

  it('fits several outputs at once: predictions an m×k Matrix equal to scikit-learn’s multi-output fit; score averages R²', async () => {
    const model = await new KernelRidge({ sigma: ridge.sigma, alpha: ridge.alpha, solveOptions: { rtol: 1e-12 } }).fit(ridge.X, new Matrix(ridge.Y));
    const P = await model.predict(ridge.T) as Matrix;
    expect(Matrix.isMatrix(P)).toBe(true);
    expect([P.rows, P.columns]).toEqual([ridge.T.length, 2]);
    ridge.predictMulti.forEach((row, i) => row.forEach((v, j) => expect(P.get(i, j)).toBeCloseTo(v, 9)));
    expect(await model.score(ridge.T, ridge.YT)).toBeCloseTo(ridge.scoreMulti, 10);
    expect(r2Score(new Float64Array([1, 1]), new Float64Array([1, 1]))).toBe(1); // constant truth predicted exactly
    expect(r2Score(new Float64Array([1, 1]), new Float64Array([1, 2]))).toBe(0);
  });

  it('r2Score takes vectors and blocks as given and refuses what R² is not defined for, by name', () => {
    // sklearn's r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) = 0.9486081370449679 (its documentation's example)
    expect(r2Score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])).toBeCloseTo(0.9486081370449679, 14);
    expect(r2Score([[0.5, 1], [-1, 1], [7, -6]], new Matrix([[0, 2], [-1, 2], [8, -5]]))).toBeCloseTo(0.9368005266622779, 14);
    expect(r2Score([1, 2, 3], new Matrix([[1], [2], [3]]))).toBe(1); // a vector against a one-column block
    // before: 1 for no samples, 0 for one, NaN for a NaN prediction, a bare TypeError for number[] and null
    expect(() => r2Score(new Float64Array(0), new Float64Array(0))).toThrow(/R² is not defined for fewer than two samples, got 0/);
    expect(() => r2Score([1], [2])).toThrow(/fewer than two samples, got 1/);
    expect(() => r2Score([1, 2, 3], [1, NaN, 3])).toThrow(/^r2Score: predicted's entry at position 1 is NaN, not a finite number$/);
    expect(() => r2Score([1, Infinity], [1, 2])).toThrow(/truth's entry at position 1 is Infinity/);
    expect(() => r2Score([1, 2, 'x' as never], [1, 2, 3])).toThrow(/truth's entry at position 2 is a string "x", not a finite number/);
    expect(() => r2Score([[1, 2], [3]], [[1, 2], [3, 4]])).toThrow(/truth's row 1 is an array of length 1, not an array of 2 numbers as row 0/);
    expect(() => r2Score([1, 2, 3], [1, 2])).toThrow(/truth \(3x1\) and predicted \(2x1\) differ in shape/);
    expect(() => r2Score(null as never, [1])).toThrow(/truth must be a vector .* got null/);
    expect(r2Score(Int32Array.from([1, 2, 3]), [1, 2, 3])).toBe(1);
  });

  it('fits integer targets given as an Int32Array (class labels), as scikit-learn takes them; a wrong type is quoted', async () => {
    // before: "y must be a vector (Float64Array, number[]) … got object"
    const x = [[0], [0.5], [1], [1.5], [2]];
    const labels = Int32Array.from([0, 0, 1, 1, 1]);
    const a = await new KernelRidge({ alpha: 1e-2, sigma: 0.5 }).fit(x, labels);
    const b = await new KernelRidge({ alpha: 1e-2, sigma: 0.5 }).fit(x, Array.from(labels));
    expect(Array.from(await a.predict(x) as Float64Array)).toEqual(Array.from(await b.predict(x) as Float64Array));
    expect(await a.score(x, labels)).toBe(await b.score(x, Array.from(labels)));
    await expect(new KernelRidge({ alpha: 1 }).fit(x, new BigInt64Array(5) as never)).rejects.toThrow(/y must be a vector .* got a BigInt64Array of length 5/);
    await expect(new KernelRidge({ alpha: 1 }).fit(x, 'abc' as never)).rejects.toThrow(/got a string "abc"/);
  });

  it('alpha = 0 on repeated points with two targets there: an error that says why (the residual grew; K singular)', async () => {
    // before: "cg: no convergence after 20 iterations (residual 2.325e+2)" and no more (scikit-learn warns, least squares)
    const fit = new KernelRidge({ alpha: 0 }).fit([[0], [0]], [1, 2]);
    await expect(fit).rejects.toThrow(/residual grew from 2\.236e\+0 \([\d.e+]+ times\): A \+ αI is likely singular or indefinite; KernelRidge: alpha = 0 needs K numerically positive definite — repeated or nearly repeated training points, or a length scale long beside their spacing \(a smooth kernel\), make it singular: give alpha > 0$/);
    // a solve that merely ran out of iterations says nothing of the kind: what it ran on, against which tolerance
    const points = Array.from({ length: 200 }, (_, i) => [Math.sin(i), Math.cos(1.3 * i)]);
    const slow = new KernelRidge({ alpha: 1e-6, sigma: 0.5, solveOptions: { method: 'cg', maxiter: 3 } }).fit(points, points.map((p) => p[0]!));
    await expect(slow).rejects.toThrow(/^cg: no convergence after 3 iterations: maxiter = 3 reached with residual [\d.e+-]+ > tolerance [\d.e+-]+; CG ran on A \+ αI at α = 0\.000001, unpreconditioned; A's entries are stored within the dense budget: method 'cholesky' factors A \+ αI instead$/);
  });

  it('refuses predict, score and dualCoef before fit, and bad options by name', async () => {
    const model = new KernelRidge({ alpha: 1 });
    await expect(model.predict([[0, 0]])).rejects.toThrow(/KernelRidge.predict: the model is not fitted yet; call await model.fit\(x, y\) first/);
    await expect(model.score([[0, 0]], [1])).rejects.toThrow(/KernelRidge.score: the model is not fitted yet/); // named as score's (it said predict)
    expect(() => model.dualCoef).toThrow(/KernelRidge.dualCoef: the model is not fitted yet/);
    expect(() => new KernelRidge({ alpha: 1, sigmaa: 2 } as never)).toThrow(/unknown option 'sigmaa'.*did you mean 'sigma'/);
    expect(() => new KernelRidge({} as never)).toThrow(/option 'alpha' is required/);
    expect(() => new KernelRidge({ alpha: -1 })).toThrow(/alpha must be a finite number ≥ 0, got/);
    expect(() => new KernelRidge({ alpha: 1, kernel: 'rbf' as never })).toThrow(/kernel must be one of "gaussian", "laplacian", "matern", "cauchy"/);
    expect(() => new KernelRidge({ alpha: 1, nu: 1.5 })).toThrow(/nu is an option of kernel 'matern' only/);
    await expect(new KernelRidge({ alpha: 1 }).fit([[0], [1]], [1, 2, 3])).rejects.toThrow(/y has 3 values but there are 2 points/);
    await expect(new KernelRidge({ alpha: 1 }).fit([[0], [1]], [1, NaN])).rejects.toThrow(/^KernelRidge\.fit: y's entry at position 1 is NaN, not a finite number$/);
    await expect(new KernelRidge({ alpha: 1, solveOptions: { rtoll: 1 } as never }).fit([[0], [1]], [1, 2])).rejects.toThrow(/unknown option 'rtoll'/);
    const fitted = await new KernelRidge({ alpha: 1 }).fit([[0, 0], [1, 1]], [1, 2]);
    await expect(fitted.predict([[0, 0, 0]])).rejects.toThrow(/t has d = 3 columns but the model was fitted on d = 2/);
    // the model keeps coefficients: a result object asked for through solveOptions is refused, not overridden
    expect(() => new KernelRidge({ alpha: 1, solveOptions: { returnInfo: true } as never })).toThrow(/solveOptions.returnInfo is not supported/);
    // several outputs: the row that breaks the block is named (ml-matrix says only "Inconsistent array dimensions")
    await expect(new KernelRidge({ alpha: 1 }).fit([[0], [1], [2]], [[1, 2], [3, 4], [5]])).rejects.toThrow(/^KernelRidge\.fit: y's row 2 is an array of length 1, not an array of 2 numbers as row 0$/);
    await expect(new KernelRidge({ alpha: 1 }).fit([[0], [1]], [[1, 2], 3] as never)).rejects.toThrow(/^KernelRidge\.fit: y's row 1 is number 3, not an array of 2 numbers as row 0$/);
    await expect(new KernelRidge({ alpha: 1 }).fit([[0], [1]], [[], []])).rejects.toThrow(/^KernelRidge\.fit: y has 2 rows of no values; give at least one column$/);
    // score's y is read as fit's, r2Score's arguments alike
    await expect(fitted.score([[0, 0], [1, 1]], [1, Infinity])).rejects.toThrow(/^KernelRidge\.score: y's entry at position 1 is Infinity, not a finite number$/);
  });

  it('refuses targets that are not numbers, quoting value, type and position (Float64Array.from made null, \'\', a Date 0, true 1, \'0x10\' 16, [3] 3)', async () => {
    const x = [[0, 0], [1, 0], [0, 1], [1, 1]];
    const bad: [unknown, RegExp][] = [
      [null, /is null, not a finite number$/],
      ['', /is a string "", not a finite number$/],
      [true, /is boolean true, not a finite number$/],
      ['0x10', /is a string "0x10", not a finite number$/],
      [[3], /is an array of length 1 \(\[3\]\), not a finite number$/],
      [new Date(0), /is a Date .*, not a finite number$/],
      [3n, /is bigint 3, not a finite number$/],
    ];
    const model = new KernelRidge({ alpha: 1e-9, sigma: 0.3 });
    const fitted = await new KernelRidge({ alpha: 1e-9, sigma: 0.3 }).fit(x, [1, 2, 3, 4]);
    for (const [v, message] of bad) {
      const y = [1, 2, 3, v] as never;
      await expect(model.fit(x, y)).rejects.toThrow(new RegExp(`^KernelRidge\\.fit: y's entry at position 3 ${message.source}`));
      await expect(fitted.score(x, y)).rejects.toThrow(new RegExp(`^KernelRidge\\.score: y's entry at position 3 ${message.source}`));
      expect(() => r2Score(y, [1, 2, 3, 4])).toThrow(new RegExp(`^r2Score: truth's entry at position 3 ${message.source}`));
      expect(() => r2Score([1, 2, 3, 4], y)).toThrow(new RegExp(`^r2Score: predicted's entry at position 3 ${message.source}`));
      // a block's entry: named by row and column (ml-matrix said "Input data contains non-numeric values", or took it)
      const block = [[1, 5], [2, 6], [3, v], [4, 8]] as never;
      await expect(model.fit(x, block)).rejects.toThrow(new RegExp(`^KernelRidge\\.fit: y's entry at row 2, column 1 ${message.source}`));
      expect(() => r2Score(block, [[1, 5], [2, 6], [3, 7], [4, 8]])).toThrow(new RegExp(`^r2Score: truth's entry at row 2, column 1 ${message.source}`));
    }
    await expect(model.fit(x, [1, 2, 3, '4'] as never)).rejects.toThrow(TypeError); // the wrong type; a NaN a RangeError
    await expect(model.fit(x, [[1], [2], [NaN], [4]])).rejects.toThrow(RangeError);
    await expect(model.fit(x, [[1], [2], [NaN], [4]])).rejects.toThrow(/^KernelRidge\.fit: y's entry at row 2, column 0 is NaN, not a finite number$/);
    // numbers as typed arrays and Matrix stay accepted, and agree with number[]
    const want = Array.from((await new KernelRidge({ alpha: 1e-9, sigma: 0.3 }).fit(x, [1, 2, 3, 4])).dualCoef as Float64Array);
    for (const y of [Float64Array.of(1, 2, 3, 4), Float32Array.of(1, 2, 3, 4), Int32Array.of(1, 2, 3, 4)]) {
      expect(Array.from((await new KernelRidge({ alpha: 1e-9, sigma: 0.3 }).fit(x, y)).dualCoef as Float64Array)).toEqual(want);
    }
    const M = (await new KernelRidge({ alpha: 1e-9, sigma: 0.3 }).fit(x, new Matrix([[1], [2], [3], [4]]))).dualCoef as Matrix;
    expect(M.getColumn(0)).toEqual(want);
    expect(r2Score(Float32Array.of(1, 2, 3, 4), new Matrix([[1], [2], [3], [4]]))).toBe(1);
  });
});
