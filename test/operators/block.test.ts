/**
 * The library's one block type (src/operators/block.ts): column-major storage, its conversions to and from the
 * public ml-matrix Matrix, and the block data flow through the `_matmat` hooks.
 */
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Block } from '../../src/operators/block.js';
import { DenseOperator, DiagonalOperator, aslinearoperator, gaussianKernel } from '../../src/operators/index.js';
import { matmatBlock, rmatmatBlock } from '../../src/operators/linear-operator.js';
import { randomMatrix } from './helpers.js';

describe('Block', () => {
  const rows = [[1, 2, 3], [4, 5, 6]];

  it('stores columns contiguously; column(j) is a view', () => {
    const B = Block.fromMatrix(new Matrix(rows));
    expect(Array.from(B.data)).toEqual([1, 4, 2, 5, 3, 6]);
    expect([B.rows, B.cols]).toEqual([2, 3]);
    B.column(1)[0] = 20;
    expect(B.data[2]).toBe(20);
    expect(B.columns().map((c) => Array.from(c))).toEqual([[1, 4], [20, 5], [3, 6]]);
  });

  it('round-trips through Matrix, row-major data and columns', () => {
    const B = Block.fromRowMajor([1, 2, 3, 4, 5, 6], 2, 3);
    expect(B.toMatrix().to2DArray()).toEqual(rows);
    expect(Array.from(B.toRowMajor())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Block.fromColumns(B.columns()).toMatrix().to2DArray()).toEqual(rows);
    expect(Block.eye(2).toMatrix().to2DArray()).toEqual([[1, 0], [0, 1]]);
    expect(() => Block.fromColumns([new Float64Array(2), new Float64Array(3)])).toThrow(/column 1 has length 3, expected 2/);
    expect(() => new Block(new Float64Array(5), 2, 3)).toThrow(/5 values cannot fill a 2x3 block/);
  });

  it('toMatrix gives an ordinary Matrix: rows independent, every method works, a copy of the block', () => {
    const B = Block.fromRowMajor([1, 2, 3, 4, 5, 6], 2, 3);
    const M = B.toMatrix();
    M.set(0, 0, 100);
    expect(M.getRow(1)).toEqual([4, 5, 6]);
    expect(B.data[0]).toBe(1);
    expect(M.transpose().to2DArray()).toEqual([[100, 4], [2, 5], [3, 6]]);
    expect(M.clone().add(M).get(1, 2)).toBe(12);
    M.addRow(1, [7, 8, 9]);
    expect(M.to2DArray()).toEqual([[100, 2, 3], [7, 8, 9], [4, 5, 6]]);
    expect(Matrix.isMatrix(M)).toBe(true);
  });

  it('adoptColumns wraps consecutive views of one buffer and copies anything else', () => {
    const whole = new Float64Array([1, 2, 3, 4]);
    const wrapped = Block.adoptColumns([whole.subarray(0, 2), whole.subarray(2, 4)], 2);
    expect(wrapped.data.buffer).toBe(whole.buffer);
    const apart = [new Float64Array([1, 2]), new Float64Array([3, 4])];
    const copied = Block.adoptColumns(apart, 2);
    expect(copied.data.buffer).not.toBe(apart[0]!.buffer);
    expect(Array.from(copied.data)).toEqual([1, 2, 3, 4]);
    const reversed = Block.adoptColumns([whole.subarray(2, 4), whole.subarray(0, 2)], 2);
    expect(Array.from(reversed.data)).toEqual([3, 4, 1, 2]);
  });
});

describe('block products inside the library (matmatBlock, rmatmatBlock)', () => {
  it('match the public products, for every kind of operator and composite', async () => {
    const A = new DenseOperator(randomMatrix(5, 4, 3));
    const D = new DiagonalOperator([1, 2, 3, 4, 5]);
    const K = gaussianKernel(randomMatrix(5, 2, 4), { sigma: 0.7, backend: 'cpu' });
    const F = aslinearoperator({ shape: [5, 5], symmetric: true, matvec: (x: Float64Array) => x.map((v, i) => (i + 1) * v) });
    const X = randomMatrix(4, 3, 5);
    const Z = randomMatrix(5, 3, 6);
    for (const op of [A, D.dot(A), K.dot(A).scale(2), K.shift(0.5).dot(A), F.add(K).dot(A), A.T.T]) {
      const got = await matmatBlock(op, Block.fromMatrix(X));
      expect(got).toBeInstanceOf(Block);
      expect(got.toMatrix().to2DArray()).toEqual((await op.matmat(X)).to2DArray());
      const gotT = await rmatmatBlock(op, Block.fromMatrix(Z));
      expect(gotT.toMatrix().to2DArray()).toEqual((await op.rmatmat(Z)).to2DArray());
    }
    const dense = await A.toDense();
    const ref = dense.mmul(X);
    const got = (await matmatBlock(A, Block.fromMatrix(X))).toMatrix();
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) expect(got.get(i, j)).toBeCloseTo(ref.get(i, j), 12);
  });

  it('check their input like the public products', async () => {
    const A = new DenseOperator(randomMatrix(3, 2, 7));
    await expect(matmatBlock(A, Block.zeros(3, 2))).rejects.toThrow(/matmat: expected a block with 2 rows, got 3x2/);
    const X = Block.zeros(2, 2);
    X.data[3] = NaN;
    await expect(matmatBlock(A, X)).rejects.toThrow('matmat: entry (1, 1) of the block is NaN; entries must be finite');
  });
});
