/**
 * Conformance suite for kernel operators: every named kernel against an independent closed form
 * written here with plain loops (never through the formula code), both dtypes, symmetric and
 * rectangular, every product path of the CPU backend (fused ≤ 4 columns, scratch > 4, serial and
 * worker pool, padded odd m, large d), every accepted point format, string/builder/named
 * equivalence, algebra, errors, toString and the dense cache policy.
 *
 * toDense() and diagonal() (evaluated in float64 by the JS twin) are compared entry by entry: exactly for the
 * polynomial kernels, whose closed forms mirror the definitions' operation order, and to a few ulps for the kernels
 * of r/σ, which bind their points centred and divided by σ (diagonals exactly: r̃ = 0 there).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import {
  DENSE_CACHE_AFTER_PRODUCTS, KernelOperator, Pm, Vi, Vj,
  KernelRidge, cauchyKernel, cdist, gaussianKernel, knn, spectralClustering, kernelOperator, laplacianKernel, linearKernel, maternKernel, polynomialKernel,
  type KernelOptions, type PointsLike,
} from '../../src/index.js';
import { MIN_PAIRS_FOR_POOL } from '../../src/cpu/reduce.js';
import { DenseKernelMatrix } from '../../src/cpu/dense-product.js';
import { poolThreads, shutdownCpuPool, startCpuPool } from '../../src/cpu/pool.js';
import { checkOperatorAgainstDense, relativeError } from '../conformance.js';
import { seededBlock, seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  await shutdownCpuPool();
});

// ------------------------------------------------------------------ helpers (independent of src/)


/** n×d points uniform in [lo, hi), float32-representable (so every input format holds the same values). */
const points = (seed: number, n: number, d: number, lo = 0, hi = 1) => seededPoints(seed, n, d, { lo, hi, float32: true });

function sqdist(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) {
    const t = a[k]! - b[k]!;
    s += t * t;
  }
  return s;
}

function dotp(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

type Kfn = (a: readonly number[], b: readonly number[]) => number;

function denseOf(k: Kfn, X: number[][], Y: number[][]): Matrix {
  const M = new Matrix(X.length, Y.length);
  for (let i = 0; i < X.length; i++) for (let j = 0; j < Y.length; j++) M.set(i, j, k(X[i]!, Y[j]!));
  return M;
}

/** K·b by a plain double loop over the closed form. */
function closedMatvec(k: Kfn, X: number[][], Y: number[][], b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(X.length);
  for (let i = 0; i < X.length; i++) {
    let s = 0;
    for (let j = 0; j < Y.length; j++) s += k(X[i]!, Y[j]!) * b[j]!;
    out[i] = s;
  }
  return out;
}

/** Entry by entry |got − want| ≤ tol·max|want| (tol 0: exact). */
function expectEntriesClose(got: Matrix, want: Matrix, tol = 1e-14, message?: string): void {
  expect([got.rows, got.columns], message).toEqual([want.rows, want.columns]);
  const scale = Math.max(...want.to1DArray().map(Math.abs));
  let worst = 0;
  for (let i = 0; i < want.rows; i++) for (let j = 0; j < want.columns; j++) worst = Math.max(worst, Math.abs(got.get(i, j) - want.get(i, j)));
  expect(worst, message).toBeLessThanOrEqual(tol * scale);
}

/** The polynomial kernels are formed in their definitions' order (exact); the kernels of r/σ from scaled points. */
const entryTol = (c: { lo?: number }) => (c.lo === undefined ? 1e-14 : 0);

function columnOf(M: Matrix, c: number): Float64Array {
  return Float64Array.from({ length: M.rows }, (_, i) => M.get(i, c));
}

const TOL = { float64: 1e-12, float32: 1e-5 } as const;
const DTYPES = ['float64', 'float32'] as const;

// ------------------------------------------------------------------ the named kernels and their closed forms

interface Case {
  name: string;
  make: (x: PointsLike, o: KernelOptions) => KernelOperator;
  k: Kfn;
  /** points range (polynomial kernels want both signs) */
  lo?: number;
}

const gauss = (s: number): Kfn => (a, b) => Math.exp(-(sqdist(a, b) / (s * s * 2)));
const lapl = (s: number): Kfn => (a, b) => Math.exp(-(Math.sqrt(sqdist(a, b)) / s));
const matern = (nu: 0.5 | 1.5 | 2.5, s: number): Kfn => (a, b) => {
  const r2 = sqdist(a, b);
  if (nu === 0.5) return Math.exp(-(Math.sqrt(r2) / s));
  const t = (Math.sqrt(r2) * Math.sqrt(nu === 1.5 ? 3 : 5)) / s;
  const poly = nu === 1.5 ? t + 1 : t + 1 + (r2 * (5 / 3)) / (s * s);
  return poly * Math.exp(-t);
};
const cauchy = (s: number): Kfn => (a, b) => 1 / (sqdist(a, b) / (s * s) + 1);
const poly = (degree: number, gamma: number, coef0: number): Kfn => (a, b) => {
  const base = dotp(a, b) * gamma + coef0;
  let p = base;
  for (let t = 1; t < degree; t++) p *= base;
  return p;
};

const CASES: Case[] = [
  { name: 'gaussian σ=0.7', make: (x, o) => gaussianKernel(x, { ...o, sigma: 0.7 }), k: gauss(0.7) },
  { name: 'gaussian default σ=1', make: (x, o) => gaussianKernel(x, o), k: gauss(1) },
  { name: 'laplacian σ=0.5', make: (x, o) => laplacianKernel(x, { ...o, sigma: 0.5 }), k: lapl(0.5) },
  { name: 'matern ν=0.5 σ=0.6', make: (x, o) => maternKernel(x, { ...o, sigma: 0.6, nu: 0.5 }), k: matern(0.5, 0.6) },
  { name: 'matern ν=1.5 σ=0.6', make: (x, o) => maternKernel(x, { ...o, sigma: 0.6, nu: 1.5 }), k: matern(1.5, 0.6) },
  { name: 'matern default ν=1.5 σ=1', make: (x, o) => maternKernel(x, o), k: matern(1.5, 1) },
  { name: 'matern ν=2.5 σ=0.4', make: (x, o) => maternKernel(x, { ...o, sigma: 0.4, nu: 2.5 }), k: matern(2.5, 0.4) },
  { name: 'cauchy σ=0.8', make: (x, o) => cauchyKernel(x, { ...o, sigma: 0.8 }), k: cauchy(0.8) },
  { name: 'polynomial degree 1 γ=0.5 c₀=0.3', make: (x, o) => polynomialKernel(x, { ...o, degree: 1, gamma: 0.5, coef0: 0.3 }), k: poly(1, 0.5, 0.3), lo: -1 },
  { name: 'polynomial degree 2 γ=0.5 c₀=0.3', make: (x, o) => polynomialKernel(x, { ...o, degree: 2, gamma: 0.5, coef0: 0.3 }), k: poly(2, 0.5, 0.3), lo: -1 },
  { name: 'polynomial degree 3 γ=0.5 c₀=0.3', make: (x, o) => polynomialKernel(x, { ...o, degree: 3, gamma: 0.5, coef0: 0.3 }), k: poly(3, 0.5, 0.3), lo: -1 },
  { name: 'polynomial defaults (2, 1, 1)', make: (x, o) => polynomialKernel(x, o), k: poly(2, 1, 1), lo: -1 },
  { name: 'polynomial degree 3 γ=-1.5 c₀=-0.2', make: (x, o) => polynomialKernel(x, { ...o, degree: 3, gamma: -1.5, coef0: -0.2 }), k: poly(3, -1.5, -0.2), lo: -1 },
  { name: 'linear', make: (x, o) => linearKernel(x, o), k: dotp, lo: -1 },
];

describe('named kernels against their closed forms', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      const X = points(11, 23, 3, c.lo ?? 0, 1);
      const Y = points(12, 31, 3, c.lo ?? 0, 1);

      it('symmetric (x only): conformance in float64 and float32, exact diagonal and toDense, K.T === K', async () => {
        const dense = denseOf(c.k, X, X);
        for (const dtype of DTYPES) {
          const K = c.make(X, { dtype, denseCache: 'never' });
          expect(K).toBeInstanceOf(KernelOperator);
          expect(K.shape).toEqual([23, 23]);
          expect(K.dtype).toBe(dtype);
          expect(K.symmetric).toBe(true);
          expect(K.T).toBe(K);
          await checkOperatorAgainstDense(K, dense, { tol: TOL[dtype], k: 4, seed: 7 });
          expectEntriesClose(await K.toDense(), dense, entryTol(c));
          expect(Array.from(await K.diagonal())).toEqual(X.map((p) => c.k(p, p)));
          // the product paths themselves, entry-wise bound on the closed form
          const b = seededVector(3, 23);
          expect(relativeError(await K.matvec(b), closedMatvec(c.k, X, X, b))).toBeLessThanOrEqual(TOL[dtype]);
          expect(relativeError(await K.rmatvec(b), closedMatvec(c.k, X, X, b))).toBeLessThanOrEqual(TOL[dtype]);
        }
      });

      it('rectangular (x, y with n ≠ m): conformance incl. transpose and adjoint, exact toDense', async () => {
        const dense = denseOf(c.k, X, Y);
        for (const dtype of DTYPES) {
          const K = c.make(X, { y: Y, dtype, denseCache: 'never' });
          expect(K.shape).toEqual([23, 31]);
          expect(K.symmetric).toBe(false);
          const T = K.T;
          expect(T).toBeInstanceOf(KernelOperator);
          expect(T.shape).toEqual([31, 23]);
          expect(T.T).toBe(K);
          expect(T.dtype).toBe(dtype);
          await checkOperatorAgainstDense(K, dense, { tol: TOL[dtype], k: 3, seed: 8 });
          await checkOperatorAgainstDense(T, dense.transpose(), { tol: TOL[dtype], k: 5, seed: 9 });
          expectEntriesClose(await K.toDense(), dense, entryTol(c));
          expectEntriesClose(await T.toDense(), dense.transpose(), entryTol(c));
          await expect(K.diagonal()).rejects.toThrow(/square/);
          // rmatvec against the closed form of Kᵀ
          const t = seededVector(4, 23);
          const want = new Float64Array(31);
          for (let j = 0; j < 31; j++) for (let i = 0; i < 23; i++) want[j] += c.k(X[i]!, Y[j]!) * t[i]!;
          expect(relativeError(await K.rmatvec(t), want)).toBeLessThanOrEqual(TOL[dtype]);
        }
      });
    });
  }

  it('with y given but n = m, the operator is square, not symmetric, and its diagonal is k(x_i, y_i)', async () => {
    const X = points(13, 12, 2);
    const Y = points(14, 12, 2);
    const K = gaussianKernel(X, { y: Y, sigma: 0.3, denseCache: 'never' });
    expect(K.symmetric).toBe(false);
    expect(K.T).not.toBe(K);
    expectEntriesClose(Matrix.rowVector(Array.from(await K.diagonal())), Matrix.rowVector(X.map((p, i) => gauss(0.3)(p, Y[i]!))));
    await checkOperatorAgainstDense(K, denseOf(gauss(0.3), X, Y));
  });
});

// ------------------------------------------------------------------ sizes, dimensions and product paths

describe('product paths: dimensions, odd m, fused and scratch matmat, serial and pool', () => {
  it.each([1, 2, 3, 7, 40])('d = %i: m ∈ {1, 3, 17, 129}, matmat k ∈ {1, 3, 4, 5, 9}', async (d) => {
    const n = 9;
    const X = points(100 + d, n, d);
    const k = matern(2.5, 0.9);
    for (const m of [1, 3, 17, 129]) {
      const Y = points(200 + d + m, m, d);
      for (const dtype of DTYPES) {
        const K = maternKernel(X, { y: Y, sigma: 0.9, nu: 2.5, dtype, denseCache: 'never' });
        expect(n * m).toBeLessThan(MIN_PAIRS_FOR_POOL); // serial path
        const b = seededVector(d + m, m);
        expect(relativeError(await K.matvec(b), closedMatvec(k, X, Y, b)), `matvec d=${d} m=${m} ${dtype}`).toBeLessThanOrEqual(TOL[dtype]);
        for (const cols of [1, 3, 4, 5, 9]) {
          const B = seededBlock(cols * 31 + m, m, cols);
          const R = await K.matmat(B);
          expect([R.rows, R.columns]).toEqual([n, cols]);
          for (let c = 0; c < cols; c++) {
            expect(relativeError(columnOf(R, c), closedMatvec(k, X, Y, columnOf(B, c))), `matmat d=${d} m=${m} k=${cols} col ${c} ${dtype}`)
              .toBeLessThanOrEqual(TOL[dtype]);
          }
        }
        // Kᵀ runs over the n = 9 rows as its j range (odd too)
        const t = seededVector(5, n);
        const want = new Float64Array(m);
        for (let j = 0; j < m; j++) for (let i = 0; i < n; i++) want[j] += k(X[i]!, Y[j]!) * t[i]!;
        expect(relativeError(await K.rmatvec(t), want), `rmatvec d=${d} m=${m} ${dtype}`).toBeLessThanOrEqual(TOL[dtype]);
      }
    }
  });

  it('worker pool: n = 700, m = 500 (n·m ≥ MIN_PAIRS_FOR_POOL), matvec, fused and scratch matmat, rmatvec', async () => {
    const n = 700;
    const m = 500;
    expect(n * m).toBeGreaterThanOrEqual(MIN_PAIRS_FOR_POOL);
    if (poolThreads() < 2) console.warn('only one CPU thread: the pool path is not exercised');
    await startCpuPool(); // small products run on the calling thread until the pool runs
    const X = points(300, n, 3);
    const Y = points(301, m, 3);
    const k = gauss(0.2);
    const b = seededVector(302, m);
    const want = closedMatvec(k, X, Y, b);
    const B = seededBlock(303, m, 5);
    const wantB = Array.from({ length: 5 }, (_, c) => closedMatvec(k, X, Y, columnOf(B, c)));
    const t = seededVector(304, n);
    const wantT = closedMatvec(k, Y, X, t);
    for (const dtype of DTYPES) {
      const K = gaussianKernel(X, { y: Y, sigma: 0.2, dtype, denseCache: 'never' });
      expect(relativeError(await K.matvec(b), want), `matvec ${dtype}`).toBeLessThanOrEqual(TOL[dtype]);
      for (const cols of [3, 5]) {
        const R = await K.matmat(B.subMatrix(0, m - 1, 0, cols - 1));
        for (let c = 0; c < cols; c++) {
          expect(relativeError(columnOf(R, c), wantB[c]!), `matmat k=${cols} col ${c} ${dtype}`).toBeLessThanOrEqual(TOL[dtype]);
        }
      }
      expect(relativeError(await K.rmatvec(t), wantT), `rmatvec ${dtype}`).toBeLessThanOrEqual(TOL[dtype]);
    }
  });

  it('acceptance figure: Gaussian n = m = 2,000, d = 3, σ = 0.1 — matvec relative error ≤ 1e-12 (float64), ≤ 1e-5 (float32)', async () => {
    const P = points(2024, 2000, 3);
    const b = seededVector(2025, 2000);
    // plain double loop
    const want = new Float64Array(2000);
    for (let i = 0; i < 2000; i++) {
      const xi = P[i]!;
      let s = 0;
      for (let j = 0; j < 2000; j++) {
        const yj = P[j]!;
        const d0 = xi[0]! - yj[0]!;
        const d1 = xi[1]! - yj[1]!;
        const d2 = xi[2]! - yj[2]!;
        s += Math.exp(-(d0 * d0 + d1 * d1 + d2 * d2) / (2 * 0.1 * 0.1)) * b[j]!;
      }
      want[i] = s;
    }
    const errs: Record<string, number> = {};
    for (const dtype of DTYPES) {
      const K = gaussianKernel(P, { sigma: 0.1, dtype });
      expect(String(K)).toBe(`<2000x2000 KernelOperator(gaussian σ=0.1) ${dtype} cpu>`);
      errs[dtype] = relativeError(await K.matvec(b), want);
      expect(errs[dtype], `${dtype} relative error`).toBeLessThanOrEqual(TOL[dtype]);
    }
    console.log(`acceptance (n = m = 2000, d = 3, σ = 0.1): float64 ${errs['float64']!.toExponential(2)}, float32 ${errs['float32']!.toExponential(2)}`);
  });
});

// ------------------------------------------------------------------ input formats

describe('point formats', () => {
  const P = points(400, 17, 3);
  const Q = points(401, 9, 3);
  const flat = (rows: number[][], F: Float32ArrayConstructor | Float64ArrayConstructor) =>
    ({ data: F.from(rows.flat()), rows: rows.length, cols: rows[0]!.length });

  it('number[][], Matrix, {data: Float32Array | Float64Array, rows, cols} give the same operator', async () => {
    const forms: [string, PointsLike, PointsLike][] = [
      ['number[][]', P, Q],
      ['Matrix', new Matrix(P), new Matrix(Q)],
      ['Float32Array block', flat(P, Float32Array), flat(Q, Float32Array)],
      ['Float64Array block', flat(P, Float64Array), flat(Q, Float64Array)],
    ];
    const dense = denseOf(cauchy(0.5), P, Q);
    const b = seededVector(402, 9);
    for (const [name, x, y] of forms) {
      const K = cauchyKernel(x, { y, sigma: 0.5, denseCache: 'never' });
      expect(K.shape, name).toEqual([17, 9]);
      expectEntriesClose(await K.toDense(), dense, 1e-14, name);
      expect(relativeError(await K.matvec(b), closedMatvec(cauchy(0.5), P, Q, b)), name).toBeLessThanOrEqual(1e-12);
      const S = cauchyKernel(x, { sigma: 0.5, denseCache: 'never' });
      expect(Array.from(await S.diagonal())).toEqual(new Array(17).fill(1));
    }
  });

  it('number[] is n points in one dimension (n×1)', async () => {
    const xs = [0.1, 0.5, -0.3, 2, 1.25, 0.7, -1];
    const ys = [0, 1, 0.5];
    const X = xs.map((v) => [v]);
    const Y = ys.map((v) => [v]);
    for (const dtype of DTYPES) {
      const K = laplacianKernel(xs, { y: ys, sigma: 0.8, dtype, denseCache: 'never' });
      expect(K.shape).toEqual([7, 3]);
      await checkOperatorAgainstDense(K, denseOf(lapl(0.8), X, Y), { tol: TOL[dtype] });
      const S = gaussianKernel(xs, { sigma: 0.4, dtype, denseCache: 'never' });
      await checkOperatorAgainstDense(S, denseOf(gauss(0.4), X, X), { tol: TOL[dtype] });
    }
  });

  it('points are copied: mutating the caller\'s array afterwards does not change the operator', async () => {
    const X = points(403, 6, 2);
    const K = gaussianKernel(X, { sigma: 0.5, denseCache: 'never' });
    const before = (await K.toDense()).to2DArray();
    X[0]![0] = 100;
    expect((await K.toDense()).to2DArray()).toEqual(before);
  });
});

// ------------------------------------------------------------------ formulas: string, builder, named, custom

describe('string formulas, builder formulas and named kernels', () => {
  const P = points(500, 40, 3);

  it('give the same products and the same dense matrix (Gaussian)', async () => {
    const a = kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(P), y: Vj(P), s: 0.3 }, { denseCache: 'never' });
    const b = kernelOperator(Vi(P).sub(Vj(P)).sqnorm2().div(Pm(0.3, 's').square().mul(2)).neg().exp(), { denseCache: 'never' });
    const c = gaussianKernel(P, { sigma: 0.3, denseCache: 'never' });
    const v = seededVector(501, 40);
    const ref = closedMatvec(gauss(0.3), P, P, v);
    const prods = [await a.matvec(v), await b.matvec(v), await c.matvec(v)];
    for (const p of prods) expect(relativeError(p, ref)).toBeLessThanOrEqual(1e-12);
    expect(relativeError(prods[0]!, prods[2]!)).toBeLessThanOrEqual(1e-15);
    expect(relativeError(prods[1]!, prods[2]!)).toBeLessThanOrEqual(1e-15);
    const D = (await c.toDense()).to1DArray();
    expect(relativeError((await a.toDense()).to1DArray(), D)).toBeLessThanOrEqual(1e-15);
    expect(relativeError((await b.toDense()).to1DArray(), D)).toBeLessThanOrEqual(1e-15);
    // the string and builder operators are not declared symmetric, but their transposes agree
    expect(relativeError(await a.rmatvec(v), ref)).toBeLessThanOrEqual(1e-12);
    expect(String(a)).toBe('<40x40 KernelOperator(exp(-sqnorm2(x - y) / (2 * s^2))) float64 cpu>');
  });

  it('Matérn 5/2 and the polynomial kernel as strings', async () => {
    const m52 = kernelOperator(
      '(1 + sqrt(5) * norm2(x - y) / s + 5 * sqnorm2(x - y) / (3 * s^2)) * exp(-sqrt(5) * norm2(x - y) / s)',
      { x: Vi(P), y: Vj(P), s: 0.4 }, { denseCache: 'never' });
    await checkOperatorAgainstDense(m52, denseOf(matern(2.5, 0.4), P, P), { tol: 1e-12 });
    const Q = points(502, 25, 3, -1, 1);
    const p3 = kernelOperator('(g * dot(x, y) + c)^3', { x: Vi(Q), y: Vj(Q), g: 0.5, c: 0.3 }, { denseCache: 'never' });
    await checkOperatorAgainstDense(p3, denseOf(poly(3, 0.5, 0.3), Q, Q), { tol: 1e-12 });
  });

  it('custom asymmetric formula exp(-sqnorm2(x - y)) * (1 + dot(x, y)) on x, y with n ≠ m, incl. transpose', async () => {
    const X = points(503, 15, 3, -1, 1);
    const Y = points(504, 21, 3, -1, 1);
    const k: Kfn = (a, b) => Math.exp(-sqdist(a, b)) * (1 + dotp(a, b));
    for (const dtype of DTYPES) {
      const K = kernelOperator('exp(-sqnorm2(x - y)) * (1 + dot(x, y))', { x: Vi(X), y: Vj(Y) }, { dtype, denseCache: 'never' });
      await checkOperatorAgainstDense(K, denseOf(k, X, Y), { tol: TOL[dtype], k: 5 });
      await checkOperatorAgainstDense(K.T, denseOf(k, X, Y).transpose(), { tol: TOL[dtype], k: 2 });
    }
  });

  it('custom formula with a vector parameter, square but not symmetric (K.T ≠ K)', async () => {
    const X = points(505, 18, 3, -1, 1);
    const wv = [0.5, 2, 1];
    const k: Kfn = (a, b) => {
      let s = 0;
      for (let t = 0; t < 3; t++) s += ((a[t]! - b[t]!) * wv[t]!) ** 2;
      return Math.exp(-s) * (1 + (wv[0]! * a[0]! + wv[1]! * a[1]! + wv[2]! * a[2]!));
    };
    const dense = denseOf(k, X, X);
    expect(dense.get(0, 1)).not.toBeCloseTo(dense.get(1, 0), 6);
    for (const dtype of DTYPES) {
      const K = kernelOperator('exp(-sqnorm2((x - y) * w)) * (1 + sum(w * x))', { x: Vi(X), y: Vj(X), w: wv }, { dtype, denseCache: 'never' });
      expect(K.symmetric).toBe(false);
      await checkOperatorAgainstDense(K, dense, { tol: TOL[dtype], k: 4 });
      const diag = await K.diagonal();
      X.forEach((p, i) => expect(diag[i]).toBeCloseTo(k(p, p), 14));
    }
  });

  // sin/cos: once missing from the SIMD emitter (products threw UnsupportedInWasm), now SIMD too
  it('a formula using sin/cos works, both dtypes, incl. transpose', async () => {
    const X = points(506, 10, 2);
    const Y = points(507, 13, 2);
    const k: Kfn = (a, b) => Math.cos(a[0]! - b[0]! + (a[1]! - b[1]!)) * Math.exp(-sqdist(a, b)) + Math.sin(dotp(a, b));
    for (const dtype of DTYPES) {
      const K = kernelOperator('cos(sum(x - y)) * exp(-sqnorm2(x - y)) + sin(dot(x, y))', { x: Vi(X), y: Vj(Y) }, { dtype, denseCache: 'never' });
      await checkOperatorAgainstDense(K, denseOf(k, X, Y), { tol: TOL[dtype], k: 5 });
    }
  });
});

// ------------------------------------------------------------------ algebra

describe('algebra with kernels', () => {
  const P = points(600, 26, 3);

  it('K.add(L).scale(2).shift(0.5) and K.dot(L) against dense', async () => {
    for (const dtype of DTYPES) {
      const K = gaussianKernel(P, { sigma: 0.5, dtype, denseCache: 'never' });
      const L = maternKernel(P, { sigma: 0.7, nu: 2.5, dtype, denseCache: 'never' });
      const DK = denseOf(gauss(0.5), P, P);
      const DL = denseOf(matern(2.5, 0.7), P, P);
      const S = K.add(L).scale(2).shift(0.5);
      expect(S.symmetric).toBe(true);
      expect(S.dtype).toBe(dtype);
      await checkOperatorAgainstDense(S, DK.clone().add(DL).mul(2).add(Matrix.eye(26).mul(0.5)), { tol: TOL[dtype] });
      await checkOperatorAgainstDense(K.dot(L), DK.mmul(DL), { tol: TOL[dtype] });
    }
  });

  it('rectangular products: K(x, y)·K(y, x) and Kᵀ·K', async () => {
    const Y = points(601, 11, 3);
    const Kxy = laplacianKernel(P, { y: Y, sigma: 0.6, denseCache: 'never' });
    const Kyx = laplacianKernel(Y, { y: P, sigma: 0.6, denseCache: 'never' });
    const D = denseOf(lapl(0.6), P, Y);
    await checkOperatorAgainstDense(Kxy.dot(Kyx), D.mmul(D.transpose()), { tol: 1e-12 });
    await checkOperatorAgainstDense(Kxy.T.dot(Kxy), D.transpose().mmul(D), { tol: 1e-12 });
  });
});

// ------------------------------------------------------------------ errors

describe('bad input gives clear errors naming the value', () => {
  const P = points(700, 20, 3);

  it('products: wrong vector length, NaN / Infinity entries, wrong block rows', async () => {
    const K = gaussianKernel(P, { sigma: 0.5, denseCache: 'never' });
    await expect(K.matvec(new Float64Array(19))).rejects.toThrow(/matvec: expected a vector of length 20, got length 19/);
    await expect(K.rmatvec([1, 2])).rejects.toThrow(/rmatvec: expected a vector of length 20, got length 2/);
    const bad = new Float64Array(20);
    bad[3] = NaN;
    await expect(K.matvec(bad)).rejects.toThrow(/entry 3 of the vector is NaN/);
    bad[3] = 0;
    bad[7] = Infinity;
    await expect(K.matvec(bad)).rejects.toThrow(/entry 7 of the vector is Infinity/);
    await expect(K.matmat(new Matrix(19, 2))).rejects.toThrow(/matmat: expected a block with 20 rows/);
  });

  it('points: NaN / Infinity, empty sets, ragged rows, mismatched d', () => {
    expect(() => gaussianKernel([[0, 0], [NaN, 1]])).toThrow(/x: non-finite value NaN at row 1, column 0/);
    expect(() => gaussianKernel([[0, 0], [1, Infinity]])).toThrow(/non-finite value Infinity at row 1, column 1/);
    expect(() => gaussianKernel(P, { y: [[0, 0, -Infinity]] })).toThrow(/y: non-finite value -Infinity at row 0, column 2/);
    expect(() => gaussianKernel({ data: Float32Array.of(1, NaN), rows: 1, cols: 2 })).toThrow(/NaN at row 0, column 1/);
    expect(() => gaussianKernel([])).toThrow(/empty point set/);
    expect(() => gaussianKernel(new Matrix(0, 3))).toThrow(/empty point set/);
    expect(() => gaussianKernel({ data: new Float64Array(0), rows: 0, cols: 3 })).toThrow(/empty point set/);
    expect(() => gaussianKernel(P, { y: [] })).toThrow(/y: empty point set/);
    expect(() => gaussianKernel([[1, 2, 3], [4, 5]])).toThrow(/ragged rows: row 1 has 2 values but row 0 has 3/);
    expect(() => gaussianKernel(P, { y: [[1, 2]] })).toThrow(/x and y must have the same dimension, got x with d = 3 and y with d = 2/);
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj([[1, 2]]) })).toThrow(/dimension mismatch/);
  });

  it('flat float64 points (read in place, not copied first): non-finite entries named, later changes not seen', async () => {
    const flat = (rows: number[][]) => ({ data: Float64Array.from(rows.flat()), rows: rows.length, cols: rows[0]!.length });
    expect(() => gaussianKernel(flat([[0, 0], [NaN, 1]]))).toThrow(/x: non-finite value NaN at row 1, column 0/);
    expect(() => gaussianKernel(flat([[0, 0], [1, -Infinity]]))).toThrow(/x: non-finite value -Infinity at row 1, column 1/);
    expect(() => laplacianKernel(flat([[0, 1]]), { y: flat([[2, 3], [Infinity, 0]]) })).toThrow(/y: non-finite value Infinity at row 1, column 0/);
    expect(() => gaussianKernel({ data: new Float64Array(5), rows: 2, cols: 3 })).toThrow(/data has length 5 but rows·cols = 2·3 = 6/);
    const x = flat([[0, 0], [1, 0], [0, 2]]);
    const K = gaussianKernel(x, { sigma: 1.5, denseCache: 'never' });
    x.data.fill(7); // the operator holds its own (scaled) copy
    const v = Float64Array.of(1, -2, 0.5);
    const dense = [[0, 0], [1, 0], [0, 2]].map((a) => [[0, 0], [1, 0], [0, 2]].map((b) => Math.exp(-((a[0]! - b[0]!) ** 2 + (a[1]! - b[1]!) ** 2) / (2 * 1.5 ** 2))));
    const Kv = await K.matvec(v);
    dense.forEach((row, i) => expect(Kv[i]).toBeCloseTo(row.reduce((s, k, j) => s + k * v[j]!, 0), 14));
  });

  it('kernel parameters: σ ≤ 0, NaN σ, ν = 1, degree 0 / 1.5', () => {
    expect(() => gaussianKernel(P, { sigma: 0 })).toThrow('gaussianKernel: sigma must be a positive finite number, got number 0');
    expect(() => gaussianKernel(P, { sigma: -1 })).toThrow('sigma must be a positive finite number, got number -1');
    expect(() => laplacianKernel(P, { sigma: NaN })).toThrow('laplacianKernel: sigma must be a positive finite number, got number NaN');
    expect(() => cauchyKernel(P, { sigma: Infinity })).toThrow(/cauchyKernel: sigma .*got number Infinity/);
    expect(() => maternKernel(P, { sigma: -0.5 })).toThrow(/maternKernel: sigma .*got number -0.5/);
    expect(() => maternKernel(P, { nu: 1 as 1.5 })).toThrow('maternKernel: nu must be one of 0.5, 1.5, 2.5, got number 1');
    expect(() => polynomialKernel(P, { degree: 0 })).toThrow('polynomialKernel: degree must be an integer ≥ 1 and ≤ 64, got number 0');
    expect(() => polynomialKernel(P, { degree: 1.5 })).toThrow('got number 1.5');
    expect(() => polynomialKernel(P, { gamma: NaN })).toThrow('gamma must be a finite number, got number NaN');
  });

  it('options are checked: unknown keys refused by name with the known ones; null and type-confused values quoted with their type', () => {
    expect(() => gaussianKernel(P, { sigam: 0.1 } as never)).toThrow(
      "gaussianKernel: unknown option 'sigam' in options (did you mean 'sigma'?); known options: y, dtype, backend, denseCache, denseCacheBytes, gpu, sigma");
    expect(() => gaussianKernel(P, { sigma: null } as never)).toThrow('gaussianKernel: sigma must be a positive finite number, got null');
    expect(() => gaussianKernel(P, { sigma: '1' } as never)).toThrow('gaussianKernel: sigma must be a positive finite number, got a string "1"');
    expect(() => maternKernel(P, { nu: '2.5' } as never)).toThrow('maternKernel: nu must be one of 0.5, 1.5, 2.5, got a string "2.5"');
    expect(() => laplacianKernel(P, { nu: 1.5 } as never)).toThrow("laplacianKernel: unknown option 'nu' in options");
    expect(() => polynomialKernel(P, { sigma: 1 } as never)).toThrow("polynomialKernel: unknown option 'sigma' in options");
    expect(() => polynomialKernel(P, { degree: '3' } as never)).toThrow('polynomialKernel: degree must be an integer ≥ 1 and ≤ 64, got a string "3"');
    expect(() => linearKernel(P, { y: null } as never)).toThrow(/linearKernel: y must be points .*, got null/);
    expect(() => gaussianKernel(undefined as never)).toThrow(/gaussianKernel: x must be points .*, got undefined/);
    expect(() => gaussianKernel(P, 0.5 as never)).toThrow('gaussianKernel: options must be a plain object, got number 0.5');
    expect(() => gaussianKernel(P, { gpu: { tiles: 64 } } as never)).toThrow("gaussianKernel: unknown option 'tiles' in gpu (did you mean 'tile'?)");
    expect(() => gaussianKernel(P, { gpu: { kahan: 'no' } } as never)).toThrow('gaussianKernel: gpu.kahan must be true or false, got a string "no"');
    // options the operator would not read (they were ignored): GPU tuning with backend 'cpu', a budget for a cache that is off
    expect(() => gaussianKernel(P, { backend: 'cpu', gpu: { workgroupSize: 64 } })).toThrow("gaussianKernel: option 'gpu' tunes the GPU's products; backend 'cpu' does not use it");
    expect(() => maternKernel(P, { denseCache: 'never', denseCacheBytes: 100 })).toThrow("maternKernel: option 'denseCacheBytes' is the dense cache's budget; denseCache 'never' does not use it");
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj(P) }, { backend: 'cpu', gpu: { tile: 64 } })).toThrow(/^kernelOperator: option 'gpu' tunes/);
    // with backend 'auto' the GPU options stand for where it lands on the GPU; 'always' reads the budget (its factor's)
    expect(String(gaussianKernel(P, { gpu: { tile: 64 } }))).toMatch(/cpu>$/);
    expect(() => gaussianKernel(P, { denseCache: 'always', denseCacheBytes: 2 ** 20 })).not.toThrow();
    // the operators made from one keep working: its uncached view and its transpose
    const cached = gaussianKernel(P, { denseCacheBytes: 2 ** 20 });
    expect(cached.uncached().isDenseCached).toBe(false);
    expect(String(cached.T)).toMatch(/KernelOperator/);
    const f = Vi(P).sub(Vj(P)).sqnorm2().neg().exp();
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj(P) }, { dtyp: 'float32' } as never)).toThrow(
      "kernelOperator: unknown option 'dtyp' in options (did you mean 'dtype'?)");
    expect(() => kernelOperator(f, { symmetric: 'yes' } as never)).toThrow('kernelOperator: symmetric must be true or false, got a string "yes"');
    expect(() => kernelOperator(f, { x: Vi(P) } as never)).toThrow("kernelOperator: unknown option 'x' in options");
    expect(() => kernelOperator(f as never, {}, {} as never)).toThrow('kernelOperator: a Formula takes one options object, got a third argument an object with keys []');
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj(P) }, { params: { s: '1' } } as never)).toThrow(
      'kernelOperator: params.s must be a finite number, got a string "1"');
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj(P) }, [] as never)).toThrow('kernelOperator: options must be a plain object, got an array of length 0');
  });

  it('string formulas: unknown symbol, unknown function', () => {
    expect(() => kernelOperator('exp(-sqnorm2(x - z))', { x: Vi(P), y: Vj(P) })).toThrow(/unknown symbol 'z'.*known: x, y/);
    expect(() => kernelOperator('foo(x - y)', { x: Vi(P), y: Vj(P) })).toThrow(/unknown function 'foo'/);
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', undefined as never)).toThrow(/needs a scope object/);
  });

  it("backend 'gpu' with float64, dtype 'float16', unknown backend", async () => {
    // the GPU backend itself is tested in test/gpu; here only what construction decides
    expect(() => gaussianKernel(P, { backend: 'gpu', dtype: 'float64' })).toThrow(/^gaussianKernel: float64 is not supported on the GPU backend; use dtype 'float32' or backend 'cpu'$/);
    // each entry names itself (they said "kernelOperator:" or "Formula.argKmin:", functions the user had not called)
    expect(() => polynomialKernel(P, { backend: 'gpu', dtype: 'float64' })).toThrow(/^polynomialKernel: float64 is not supported/);
    expect(() => new KernelRidge({ alpha: 1, backend: 'gpu', dtype: 'float64' })).toThrow(/^KernelRidge: float64 is not supported/);
    await expect(knn(P, P, 1, { backend: 'gpu', dtype: 'float64' })).rejects.toThrow(/^knn: float64 is not supported/);
    await expect(cdist(P, P, { backend: 'gpu', dtype: 'float64' })).rejects.toThrow(/^cdist: float64 is not supported/);
    await expect(spectralClustering(P, { nClusters: 2, backend: 'gpu', dtype: 'float64' })).rejects.toThrow(/^spectralClustering: float64 is not supported/);
    expect(String(kernelOperator('exp(-sqnorm2(x - y))', { x: Vi(P), y: Vj(P) }, { backend: 'gpu' }))).toMatch(/ float32 gpu>$/);
    expect(() => gaussianKernel(P, { dtype: 'float16' as 'float32' })).toThrow('dtype must be one of "float32", "float64", got a string "float16"');
    expect(() => gaussianKernel(P, { backend: 'tpu' as 'cpu' })).toThrow('backend must be one of "auto", "cpu", "gpu", got a string "tpu"');
  });
});

// ------------------------------------------------------------------ toString

describe('toString', () => {
  it('names the kernel, its parameters, dtype and backend', () => {
    const P = points(800, 2000, 3);
    expect(String(gaussianKernel(P, { sigma: 0.1 }))).toBe('<2000x2000 KernelOperator(gaussian σ=0.1) float64 cpu>');
    expect(String(gaussianKernel(P, { sigma: 0.1, dtype: 'float32' }))).toBe('<2000x2000 KernelOperator(gaussian σ=0.1) float32 cpu>');
    const Q = points(801, 7, 3);
    const R = points(802, 5, 3);
    expect(String(maternKernel(Q, { sigma: 0.5, nu: 2.5 }))).toBe('<7x7 KernelOperator(matern ν=2.5 σ=0.5) float64 cpu>');
    expect(String(laplacianKernel(Q, { y: R, sigma: 2 }))).toBe('<7x5 KernelOperator(laplacian σ=2) float64 cpu>');
    expect(String(laplacianKernel(Q, { y: R, sigma: 2 }).T)).toBe('<5x7 KernelOperator((laplacian σ=2)ᵀ) float64 cpu>');
    expect(String(cauchyKernel(Q))).toBe('<7x7 KernelOperator(cauchy σ=1) float64 cpu>');
    expect(String(polynomialKernel(Q, { degree: 3, gamma: 0.5, coef0: 0.3 }))).toBe('<7x7 KernelOperator(polynomial degree=3 γ=0.5 c₀=0.3) float64 cpu>');
    expect(String(linearKernel(Q))).toBe('<7x7 KernelOperator(linear) float64 cpu>');
    expect(gaussianKernel(Q, { sigma: 0.25 }).params).toEqual({ sigma: 0.25 });
    expect(maternKernel(Q, { sigma: 0.25, nu: 0.5 }).params).toEqual({ sigma: 0.25, nu: 0.5 });
  });
});

// ------------------------------------------------------------------ dense cache

describe('dense cache policy', () => {
  const P = points(900, 30, 3);
  const Y = points(901, 20, 3);
  const b = seededVector(902, 30);

  it(`'auto' switches after DENSE_CACHE_AFTER_PRODUCTS (= ${DENSE_CACHE_AFTER_PRODUCTS}) products; results stay equal`, async () => {
    for (const dtype of DTYPES) {
      const K = gaussianKernel(P, { sigma: 0.4, dtype });
      const want = closedMatvec(gauss(0.4), P, P, b);
      expect(K.isDenseCached).toBe(false);
      const results: Float64Array[] = [];
      for (let p = 0; p < DENSE_CACHE_AFTER_PRODUCTS; p++) {
        results.push(await K.matvec(b));
        expect(K.isDenseCached, `after ${p + 1} products`).toBe(false);
      }
      results.push(await K.matvec(b));
      expect(K.isDenseCached).toBe(true);
      results.push(await K.matvec(b));
      const B = seededBlock(903, 30, 6);
      const R = await K.matmat(B);
      for (const r of results) expect(relativeError(r, want)).toBeLessThanOrEqual(TOL[dtype]);
      for (let c = 0; c < 6; c++) expect(relativeError(columnOf(R, c), closedMatvec(gauss(0.4), P, P, columnOf(B, c)))).toBeLessThanOrEqual(TOL[dtype]);
      // the cache is evaluated in float64 and stored in the operator's dtype: float64 exact, and a
      // float32 operator's entries are each rounded once (float64 right-hand side and sums)
      expect(relativeError(results.at(-1)!, want)).toBeLessThanOrEqual(dtype === 'float64' ? 1e-13 : 1e-7);
    }
  });

  it('a symmetric operator stores its cache packed and passes the conformance suite on it (both dtypes, pool sizes)', async () => {
    for (const n of [45, 400]) {
      const X = points(905, n, 3);
      for (const dtype of DTYPES) {
        const K = gaussianKernel(X, { sigma: 0.3, dtype, denseCache: 'always' });
        await K.matvec(seededVector(906, n));
        expect(K.isDenseCached).toBe(true);
        expect(((K as unknown as { dense: DenseKernelMatrix }).dense).packed).toBe(true);
        await checkOperatorAgainstDense(K, await K.toDense(), { tol: dtype === 'float64' ? 1e-13 : 2e-7 });
      }
    }
  });

  it("'auto' caches the rectangular operator and its transpose separately; still correct", async () => {
    const K = cauchyKernel(P, { y: Y, sigma: 0.5 });
    const t = seededVector(904, 30);
    const want = closedMatvec(cauchy(0.5), Y, P, t);
    for (let p = 0; p < DENSE_CACHE_AFTER_PRODUCTS + 2; p++) expect(relativeError(await K.rmatvec(t), want)).toBeLessThanOrEqual(1e-12);
    expect((K.T as KernelOperator).isDenseCached).toBe(true);
    expect(K.isDenseCached).toBe(false);
  });

  it("expectRepeatedProducts: 'auto' stores K at the next product; composites pass the hint on; 'never' stays symbolic", async () => {
    const want = closedMatvec(gauss(0.4), P, P, b);
    const K = gaussianKernel(P, { sigma: 0.4 });
    expect(K.expectRepeatedProducts()).toBe(K);
    expect(K.isDenseCached).toBe(false);
    expect(relativeError(await K.matvec(b), want)).toBeLessThanOrEqual(1e-13);
    expect(K.isDenseCached).toBe(true);
    // through K + 1·I and 2·K (what K.solve and user code build)
    const K2 = gaussianKernel(P, { sigma: 0.4 });
    K2.shift(1).scale(2).expectRepeatedProducts();
    await K2.matvec(b);
    expect(K2.isDenseCached).toBe(true);
    // a Krylov solver gives the hint itself
    const K3 = gaussianKernel(P, { sigma: 0.4 });
    await K3.solve(b, 0.5, { preconditioner: 'none' });
    expect(K3.isDenseCached).toBe(true);
    const never = gaussianKernel(P, { sigma: 0.4, denseCache: 'never' });
    never.expectRepeatedProducts();
    await never.matvec(b);
    expect(never.isDenseCached).toBe(false);
    const tooBig = gaussianKernel(P, { sigma: 0.4, denseCacheBytes: 100 });
    tooBig.expectRepeatedProducts();
    await tooBig.matvec(b);
    expect(tooBig.isDenseCached).toBe(false);
    expect(() => gaussianKernel(P, { denseCacheBytes: -1 })).toThrow('denseCacheBytes must be a number of bytes ≥ 0, got number -1');
    expect(() => gaussianKernel(P, { denseCacheBytes: NaN })).toThrow('got number NaN');
    expect(() => gaussianKernel(P, { denseCache: 'sometimes' as never })).toThrow('denseCache must be one of "auto", "never", "always", got a string "sometimes"');
  });

  it("'never' never caches; 'always' caches at the first product; a budget too small never caches", async () => {
    const never = gaussianKernel(P, { sigma: 0.4, denseCache: 'never' });
    for (let p = 0; p < DENSE_CACHE_AFTER_PRODUCTS + 3; p++) await never.matvec(b);
    expect(never.isDenseCached).toBe(false);
    const always = gaussianKernel(P, { sigma: 0.4, denseCache: 'always' });
    expect(always.isDenseCached).toBe(false); // materialised by the first product, not the constructor
    expect(relativeError(await always.matvec(b), closedMatvec(gauss(0.4), P, P, b))).toBeLessThanOrEqual(1e-13);
    expect(always.isDenseCached).toBe(true);
    // the budget counts the bytes stored: 30 rows of 32 (padded) float64 entries
    const stored = DenseKernelMatrix.storedBytes(30, 30, 'float64');
    expect(stored).toBe(30 * 32 * 8);
    // the formula kernel on one point set is inferred symmetric: K is stored packed, each pair once
    const packed = DenseKernelMatrix.storedBytes(30, 30, 'float64', { symmetric: true });
    expect(packed).toBeLessThan(stored);
    const small = kernelOperator(Vi(P).sub(Vj(P)).sqnorm2().neg().exp(), { denseCache: 'auto', denseCacheBytes: packed - 1 });
    expect(small.symmetric).toBe(true);
    for (let p = 0; p < DENSE_CACHE_AFTER_PRODUCTS + 3; p++) await small.matvec(b);
    expect(small.isDenseCached).toBe(false);
    const fits = kernelOperator(Vi(P).sub(Vj(P)).sqnorm2().neg().exp(), { denseCache: 'auto', denseCacheBytes: packed });
    for (let p = 0; p < DENSE_CACHE_AFTER_PRODUCTS + 1; p++) await fits.matvec(b);
    expect(fits.isDenseCached).toBe(true);
  });
});
