/**
 * Reusable conformance check: an operator against the dense matrix it should equal.
 * Generic over implementations (dense, algebra, custom, kernel operators on CPU or GPU):
 * pass a looser `tol` for float32 operators.
 */
import { expect } from 'vitest';
import { Matrix } from 'ml-matrix';
import type { LinearOperator } from '../src/operators/index.js';
import { mulberry32, randomBlock, randomVector } from './random-data.js';

export interface ConformanceOptions {
  /** Relative error bound ‖got − want‖ / ‖want‖ (default 1e-12). */
  tol?: number;
  /** PRNG seed for the test vectors (default 12345). */
  seed?: number;
  /** Check diagonal(): true = must match, false = skip, undefined = check when square unless it says "is not known". */
  diagonal?: boolean;
  /** Check toDense() (default true; costs shape[1] matvecs for lazy operators). */
  toDense?: boolean;
  /** Check transpose products (rmatvec, T, adjoint identity) (default true). */
  transpose?: boolean;
  /** Columns in the matmat block (default 3). */
  k?: number;
}

/** The library's seeded PRNG (src/krylov/random.ts): the same seeds give the same test data everywhere. */
export { mulberry32 };

function denseMatvec(A: Matrix, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(A.rows);
  for (let i = 0; i < A.rows; i++) {
    let s = 0;
    for (let j = 0; j < A.columns; j++) s += A.get(i, j) * x[j]!;
    y[i] = s;
  }
  return y;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** ‖got − want‖₂ / ‖want‖₂ (absolute error when want = 0). */
/**
 * Plain-loop oracle for kernel products: K (row-major n×m float64, e.g. from the JS twin) times
 * each column, with Σ_j |K_ij b_j| per row — the scale a product's rounding error is measured against.
 */
export function oracleProducts(K: Float64Array, n: number, m: number, cols: readonly Float64Array[]): { y: Float64Array; scale: Float64Array }[] {
  return cols.map((b) => {
    const y = new Float64Array(n);
    const scale = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      let a = 0;
      for (let j = 0; j < m; j++) {
        const t = K[i * m + j]! * b[j]!;
        s += t;
        a += Math.abs(t);
      }
      y[i] = s;
      scale[i] = a;
    }
    return { y, scale };
  });
}

export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += (got[i]! - want[i]!) ** 2;
    norm += want[i]! ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

function flat(M: Matrix): number[] {
  return M.to1DArray();
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const err = relativeError(got, want);
  expect(err, `${what}: relative error ${err} > ${tol}`).toBeLessThanOrEqual(tol);
}

/** Checks every product and derived quantity of `op` against `dense` (which it must equal). */
export async function checkOperatorAgainstDense(op: LinearOperator, dense: Matrix, opts: ConformanceOptions = {}): Promise<void> {
  const tol = opts.tol ?? 1e-12;
  const k = opts.k ?? 3;
  const checkTranspose = opts.transpose ?? true;
  const rand = mulberry32(opts.seed ?? 12345);
  const [m, n] = op.shape;
  const name = String(op);

  expect(op.shape, `${name}: shape`).toEqual([dense.rows, dense.columns]);
  expect(['float32', 'float64']).toContain(op.dtype);
  const denseT = dense.transpose();

  // matvec (and the input is left untouched)
  const x = randomVector(n, rand);
  const xCopy = Float64Array.from(x);
  const y = await op.matvec(x);
  expect(y).toBeInstanceOf(Float64Array);
  expect(y.length).toBe(m);
  expect(Array.from(x), `${name}: matvec mutated its input`).toEqual(Array.from(xCopy));
  expectClose(y, denseMatvec(dense, x), tol, `${name} matvec`);
  expectClose(await op.matvec(Array.from(x)), denseMatvec(dense, x), tol, `${name} matvec(number[])`);

  // matmat
  const X = randomBlock(n, k, rand);
  const XCopy = X.clone();
  const Y = await op.matmat(X);
  expect(Y).toBeInstanceOf(Matrix);
  expect([Y.rows, Y.columns]).toEqual([m, k]);
  expect(flat(X), `${name}: matmat mutated its input`).toEqual(flat(XCopy));
  expectClose(flat(Y), flat(dense.mmul(X)), tol, `${name} matmat`);
  expectClose(flat(await op.matmat(X.to2DArray())), flat(dense.mmul(X)), tol, `${name} matmat(number[][])`);

  if (checkTranspose) {
    const t = randomVector(m, rand);
    const z = await op.rmatvec(t);
    expect(z).toBeInstanceOf(Float64Array);
    expect(z.length).toBe(n);
    expectClose(z, denseMatvec(denseT, t), tol, `${name} rmatvec`);

    const T = op.T;
    expect(T.shape).toEqual([n, m]);
    expect(T.T, `${name}: T.T is not the operator itself`).toBe(op);
    expect(op.T, `${name}: T is not cached`).toBe(T);
    if (op.symmetric) expect(T).toBe(op);
    expectClose(await T.matvec(t), denseMatvec(denseT, t), tol, `${name} T.matvec`);
    expectClose(await T.rmatvec(x), denseMatvec(dense, x), tol, `${name} T.rmatvec`);

    const R = randomBlock(m, k, rand);
    expectClose(flat(await op.rmatmat(R)), flat(denseT.mmul(R)), tol, `${name} rmatmat`);
    expectClose(flat(await T.matmat(R)), flat(denseT.mmul(R)), tol, `${name} T.matmat`);

    // adjoint identity ⟨Ax, t⟩ = ⟨x, Aᵀt⟩
    const lhs = dot(y, t);
    const rhs = dot(x, z);
    const scale = Math.max(1, Math.abs(lhs), Math.abs(rhs));
    expect(Math.abs(lhs - rhs) / scale, `${name}: adjoint identity`).toBeLessThanOrEqual(Math.max(tol, 1e-14) * 10);
  }

  if (opts.toDense ?? true) {
    const D = await op.toDense();
    expect(D).toBeInstanceOf(Matrix);
    expect([D.rows, D.columns]).toEqual([m, n]);
    expectClose(flat(D), flat(dense), tol, `${name} toDense`);
  }

  const wantDiagonal = opts.diagonal;
  if (m === n && wantDiagonal !== false) {
    let d: Float64Array | undefined;
    try {
      d = await op.diagonal();
    } catch (error) {
      if (wantDiagonal === true || !/is not known/.test(String((error as Error).message))) throw error;
    }
    if (d !== undefined) {
      expect(d).toBeInstanceOf(Float64Array);
      expectClose(d, dense.diag(), tol, `${name} diagonal`);
    }
  }
}
