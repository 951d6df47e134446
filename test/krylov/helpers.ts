/** Test helpers: independent dense references (plain double loops), fixtures, counting operators. */
import { readFileSync } from 'node:fs';
import { Matrix } from 'ml-matrix';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import type { LinearOperator } from '../../src/operators/linear-operator.js';
import { mulberry32, seededBlock, seededVector } from '../random-data.js';

export function loadFixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as T;
}

/** Row-major n×d points from a flat list. */
export function kernelMatrix(flat: number[], d: number, kind: 'gaussian' | 'laplacian', sigma: number): Matrix {
  const n = flat.length / d;
  const K = new Matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let r2 = 0;
      for (let t = 0; t < d; t++) r2 += (flat[i * d + t]! - flat[j * d + t]!) ** 2;
      K.set(i, j, kind === 'gaussian' ? Math.exp(-r2 / (2 * sigma * sigma)) : Math.exp(-Math.sqrt(r2) / sigma));
    }
  }
  return K;
}

/** Fast dense symmetric operator with a product counter; `shift` adds shift·I. */
export function countingOperator(K: Matrix, opts: { dtype?: 'float32' | 'float64'; shift?: number } = {}): LinearOperator & { count: { matvec: number; matmat: number; columns: number } } {
  const n = K.rows;
  const flat = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) flat[i * n + j] = K.get(i, j);
  const shift = opts.shift ?? 0;
  const f32 = opts.dtype === 'float32';
  const round = f32 ? Math.fround : (v: number) => v;
  const count = { matvec: 0, matmat: 0, columns: 0 };
  const mv = (x: Float64Array): Float64Array => {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * n;
      for (let j = 0; j < n; j++) s += flat[o + j]! * x[j]!;
      y[i] = round(s + shift * x[i]!);
    }
    return y;
  };
  const op = aslinearoperator({
    shape: [n, n],
    dtype: opts.dtype ?? 'float64',
    symmetric: true,
    matvec: (x: Float64Array) => {
      count.matvec++;
      count.columns++;
      return mv(x);
    },
    matmat: (X: Matrix) => {
      count.matmat++;
      count.columns += X.columns;
      const Y = new Matrix(n, X.columns);
      for (let j = 0; j < X.columns; j++) {
        const y = mv(Float64Array.from(X.getColumn(j)));
        for (let i = 0; i < n; i++) Y.set(i, j, y[i]!);
      }
      return Y;
    },
  });
  return Object.assign(op, { count });
}

export function randomSpd(n: number, seed: number, spread = 100): Matrix {
  const Q = seededBlock(seed, n, n);
  const A = Q.mmul(Q.transpose()).div(n);
  for (let i = 0; i < n; i++) A.set(i, i, A.get(i, i) + 1 / spread);
  return A;
}

export function randomSymmetric(n: number, seed: number): Matrix {
  const rng = mulberry32(seed);
  const A = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    const v = 2 * rng() - 1;
    A.set(i, j, v);
    A.set(j, i, v);
  }
  return A;
}

export const randomVec = (n: number, seed: number) => seededVector(seed, n);

export function matvecDense(K: Matrix, x: ArrayLike<number>): Float64Array {
  const n = K.rows;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < K.columns; j++) s += K.get(i, j) * x[j]!;
    y[i] = s;
  }
  return y;
}

export function norm2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! ** 2;
  return Math.sqrt(s);
}

/** ‖x − ref‖/‖ref‖ (the conformance suite's). */
export { relativeError as relErr } from '../conformance.js';
