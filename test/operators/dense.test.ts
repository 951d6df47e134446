import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { DenseOperator, DiagonalOperator, IdentityOperator, ZeroOperator } from '../../src/operators/index.js';
import { checkOperatorAgainstDense } from '../conformance.js';
import { randomMatrix, randomSymmetric } from './helpers.js';

describe('DenseOperator', () => {
  it('conforms for a square matrix (from Matrix)', async () => {
    const A = randomMatrix(7, 7, 1);
    await checkOperatorAgainstDense(new DenseOperator(A), A, { diagonal: true });
  });

  it('conforms for a rectangular matrix (from number[][])', async () => {
    const A = randomMatrix(5, 8, 2);
    const op = new DenseOperator(A.to2DArray());
    expect(op.shape).toEqual([5, 8]);
    await checkOperatorAgainstDense(op, A);
    await checkOperatorAgainstDense(op.T, A.transpose());
  });

  it('conforms from row-major data with a shape, and copies it', async () => {
    const A = randomMatrix(4, 6, 3);
    const data = Float64Array.from(A.to1DArray());
    const op = new DenseOperator(data, [4, 6]);
    data.fill(0); // the operator keeps its own copy
    await checkOperatorAgainstDense(op, A);
  });

  it('has a cheap transpose that is itself a DenseOperator', async () => {
    const A = randomMatrix(3, 5, 4);
    const op = new DenseOperator(A);
    expect(op.T).toBeInstanceOf(DenseOperator);
    expect(op.T.T).toBe(op);
    expect((op.T as DenseOperator).get(4, 2)).toBe(A.get(2, 4));
    expect(Array.from(await op.T.diagonal())).toEqual(Array.from(A.diag()));
  });

  it('a declared-symmetric matrix is its own transpose; a non-symmetric one is refused', async () => {
    const S = randomSymmetric(6, 5);
    const op = new DenseOperator(S, undefined, { symmetric: true });
    expect(op.symmetric).toBe(true);
    expect(op.T).toBe(op);
    await checkOperatorAgainstDense(op, S);
    expect(() => new DenseOperator(randomMatrix(3, 3, 6), undefined, { symmetric: true })).toThrow(/entry \(0, 1\) = .* differs from \(1, 0\)/);
  });

  it('toString names shape, class and dtype', () => {
    expect(String(new DenseOperator(randomMatrix(20, 30)))).toBe('<20x30 DenseOperator float64>');
  });

  it('rejects bad data with clear errors', () => {
    expect(() => new DenseOperator([])).toThrow(/empty number\[\]\[\]/);
    expect(() => new DenseOperator([[1, 2], [3]])).toThrow(/row 1 has length 1, but row 0 has length 2/);
    expect(() => new DenseOperator([[1, NaN]])).toThrow(/entry \(0, 1\) is NaN/);
    expect(() => new DenseOperator(new Float64Array(5), [2, 3])).toThrow(/5 values cannot fill a 2x3 matrix/);
    expect(() => new DenseOperator(new Float64Array(6), [2, 3.5] as [number, number])).toThrow(/positive integers, got \[2, 3.5\]/);
    expect(() => new DenseOperator('abc' as unknown as number[][])).toThrow(TypeError);
  });

  it('matmat agrees with ml-matrix mmul on a larger block', async () => {
    const A = randomMatrix(40, 30, 7);
    const X = randomMatrix(30, 9, 8);
    const Y = await new DenseOperator(A).matmat(X);
    const want = A.mmul(X);
    for (let i = 0; i < 40; i++) for (let j = 0; j < 9; j++) expect(Y.get(i, j)).toBeCloseTo(want.get(i, j), 12);
  });
});

describe('DiagonalOperator', () => {
  it('conforms and is symmetric', async () => {
    const d = [1, -2, 3.5, 0, 4];
    const op = new DiagonalOperator(d);
    expect(op.symmetric).toBe(true);
    expect(op.T).toBe(op);
    await checkOperatorAgainstDense(op, Matrix.diag(d), { diagonal: true });
  });

  it('accepts Float32Array and rejects empty or non-finite diagonals', () => {
    expect(new DiagonalOperator(new Float32Array([1, 2])).shape).toEqual([2, 2]);
    expect(() => new DiagonalOperator([])).toThrow(/non-empty vector/);
    expect(() => new DiagonalOperator([1, Infinity])).toThrow(/entry 1 of the diagonal is Infinity/);
  });
});

describe('IdentityOperator and ZeroOperator', () => {
  it('identity conforms', async () => {
    await checkOperatorAgainstDense(new IdentityOperator(6), Matrix.eye(6), { diagonal: true });
  });

  it('identity returns a copy, never its input', async () => {
    const I = new IdentityOperator(3);
    const x = new Float64Array([1, 2, 3]);
    const y = await I.matvec(x);
    expect(y).not.toBe(x);
    y[0] = 99;
    expect(x[0]).toBe(1);
  });

  it('zero conforms, square and rectangular', async () => {
    await checkOperatorAgainstDense(new ZeroOperator([4, 4]), new Matrix(4, 4), { diagonal: true });
    await checkOperatorAgainstDense(new ZeroOperator([2, 5]), new Matrix(2, 5));
  });

  it('rejects a bad size', () => {
    expect(() => new IdentityOperator(0)).toThrow(/positive integer, got number 0/);
    expect(() => new ZeroOperator([0, 3])).toThrow(/positive integers, got \[0, 3\]/);
  });
});
