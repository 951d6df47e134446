import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { aslinearoperator, DenseOperator, FunctionOperator, LinearOperator } from '../../src/operators/index.js';
import { checkOperatorAgainstDense } from '../conformance.js';
import { randomMatrix } from './helpers.js';

const M = randomMatrix(4, 6, 21);
const Mt = M.transpose();
const apply = (A: Matrix, x: ArrayLike<number>): number[] => A.mmul(Matrix.columnVector(Array.from(x))).getColumn(0);

describe('aslinearoperator', () => {
  it('returns operators as they are', () => {
    const op = new DenseOperator(M);
    expect(aslinearoperator(op)).toBe(op);
  });

  it('wraps a Matrix and a number[][] as DenseOperators', async () => {
    const fromMatrix = aslinearoperator(M);
    const fromArrays = aslinearoperator(M.to2DArray());
    expect(fromMatrix).toBeInstanceOf(DenseOperator);
    expect(fromArrays).toBeInstanceOf(DenseOperator);
    await checkOperatorAgainstDense(fromMatrix, M);
    await checkOperatorAgainstDense(fromArrays, M);
  });

  it('a custom { shape, matvec, rmatvec } (sync, number[] results) conforms', async () => {
    const op = aslinearoperator({ shape: [4, 6], matvec: (x) => apply(M, x), rmatvec: (x) => apply(Mt, x) });
    expect(op).toBeInstanceOf(FunctionOperator);
    expect(op.dtype).toBe('float64');
    await checkOperatorAgainstDense(op, M);
  });

  it('a custom operator with async Float64Array results conforms', async () => {
    const op = aslinearoperator({
      shape: [4, 6],
      matvec: async (x) => Float64Array.from(apply(M, x)),
      rmatvec: async (x) => Float64Array.from(apply(Mt, x)),
    });
    await checkOperatorAgainstDense(op, M);
  });

  it('a custom operator with only matmat / rmatmat conforms', async () => {
    const op = aslinearoperator({ shape: [4, 6], matmat: (X) => M.mmul(X), rmatmat: async (X) => Mt.mmul(X).to2DArray() });
    await checkOperatorAgainstDense(op, M);
  });

  it('a custom operator without rmatvec: products work, transposes fail clearly', async () => {
    const op = aslinearoperator({ shape: [4, 6], matvec: (x) => apply(M, x) });
    await checkOperatorAgainstDense(op, M, { transpose: false });
    await expect(op.rmatvec(new Float64Array(4))).rejects.toThrow(
      'rmatvec not available for <4x6 FunctionOperator float64>; give rmatvec or a transpose',
    );
    await expect(op.T.matvec(new Float64Array(4))).rejects.toThrow(/rmatvec not available/);
    await expect(op.rmatmat(new Matrix(4, 2))).rejects.toThrow(/rmatvec not available/);
  });

  it('a symmetric custom operator is its own transpose', async () => {
    const S = M.mmul(Mt);
    const op = aslinearoperator({ shape: [4, 4], matvec: (x) => apply(S, x), symmetric: true });
    expect(op.T).toBe(op);
    await checkOperatorAgainstDense(op, S);
  });

  it('user functions get a copy and may mutate it freely', async () => {
    const op = aslinearoperator({ shape: [2, 2], matvec: (x) => { x[0] = 100; return x; } });
    const x = new Float64Array([1, 2]);
    const y = await op.matvec(x);
    expect(Array.from(x)).toEqual([1, 2]);
    expect(Array.from(y)).toEqual([100, 2]);
  });

  it('checks what user functions return', async () => {
    const short = aslinearoperator({ shape: [3, 3], matvec: () => [1, 2] });
    await expect(short.matvec([1, 2, 3])).rejects.toThrow(
      'matvec of <3x3 FunctionOperator float64> returned a vector of length 2, expected length 3',
    );
    const wrongType = aslinearoperator({ shape: [3, 3], matvec: () => 'abc' as unknown as number[] });
    await expect(wrongType.matvec([1, 2, 3])).rejects.toThrow(/returned a string "abc", expected a Float64Array, Float32Array or number\[\] of length 3/);
    const badBlock = aslinearoperator({ shape: [3, 3], matmat: (X) => new Matrix(3, X.columns + 1) });
    await expect(badBlock.matmat(new Matrix(3, 2))).rejects.toThrow(/returned a 3x3 block, expected 3x2/);
    const columnMatrix = aslinearoperator({ shape: [2, 2], matvec: (x) => Matrix.columnVector(Array.from(x)) });
    expect(Array.from(await columnMatrix.matvec([3, 4]))).toEqual([3, 4]);
  });

  it('rejects empty, ragged and non-numeric number[][]', () => {
    expect(() => aslinearoperator([])).toThrow('aslinearoperator: got an empty number[][] (0 rows); its shape is unknown');
    expect(() => aslinearoperator([[1, 2, 3], [4, 5]])).toThrow(
      'aslinearoperator: ragged number[][]: row 1 has length 2, but row 0 has length 3',
    );
    expect(() => aslinearoperator([[]])).toThrow(/1 rows of length 0/);
    expect(() => aslinearoperator([1, 2, 3] as unknown as number[][])).toThrow(/row 0 of the number\[\]\[\] is number 1, expected an array of numbers/);
    expect(() => aslinearoperator([[1, 'x']] as unknown as number[][])).toThrow(/entry \(0, 1\) is a string "x", expected a number/);
    expect(() => aslinearoperator([[1, NaN]])).toThrow(/entry \(0, 1\) is NaN; entries must be finite/);
  });

  it('rejects non-objects and incomplete objects with TypeErrors describing the input', () => {
    const bad = (v: unknown) => () => aslinearoperator(v as LinearOperator);
    expect(bad(42)).toThrow(TypeError);
    expect(bad(42)).toThrow(/expected a LinearOperator, a Formula, an ml-matrix Matrix, a number\[\]\[\] or an object \{ shape, matvec \}, got number 42/);
    expect(bad(null)).toThrow(/got null/);
    expect(bad(undefined)).toThrow(/got undefined/);
    expect(bad('matrix')).toThrow(/got a string "matrix"/);
    expect(bad(new Float64Array(4))).toThrow(/got a Float64Array of length 4/);
    expect(bad({ matvec: () => [] })).toThrow(/\(no shape\)/);
    expect(bad({ shape: [3, 3] })).toThrow('aslinearoperator: the object with shape 3x3 has neither a matvec nor a matmat function (keys: shape)');
    expect(bad({ shape: [3, 3], matvec: 'no' })).toThrow(/matvec must be a function, got a string "no"/);
    expect(bad({ shape: [3, -1], matvec: () => [] })).toThrow(/shape must be \[rows, cols\] with positive integers, got \[3, -1\]/);
  });

  it('checks the keys of an operator object: unknown ones refused by name, values quoted with their type', () => {
    const bad = (v: unknown) => () => aslinearoperator(v as LinearOperator);
    const f = (x: Float64Array) => x;
    expect(bad({ shape: [3, 3], matvec: f, rmatvect: f })).toThrow(
      "aslinearoperator: unknown option 'rmatvect' in the operator object (did you mean 'rmatvec'?); known options: shape, matvec, rmatvec, matmat, rmatmat, dtype, symmetric, name");
    expect(bad({ shape: [3, 3], matvec: f, symetric: true })).toThrow(/unknown option 'symetric' .*did you mean 'symmetric'/);
    expect(bad({ shape: [3, 3], matvec: f, data: [1, 2, 3] })).toThrow("aslinearoperator: unknown option 'data' in the operator object; known options:");
    expect(bad({ shape: [3, 3], matvec: f, symmetric: 'yes' })).toThrow('aslinearoperator: symmetric must be true or false, got a string "yes"');
    expect(bad({ shape: [3, 3], matvec: f, dtype: 'float16' })).toThrow('aslinearoperator: dtype must be one of "float32", "float64", got a string "float16"');
    expect(bad({ shape: [3, 3], matvec: f, name: 7 })).toThrow('aslinearoperator: name must be a string, got number 7');
  });
});

describe('toDense of a transpose where only one side of the products exists', () => {
  // F: 2×1 with matvec only. W wraps F.T (1×2): its matvec needs F's rmatvec (absent), its rmatvec is F's matvec.
  // (W).T's own products exist — before, its toDense went through W's matvec and refused (algebra-fuzz --gpu
  // --seed=61, case 71).
  const F = aslinearoperator({ shape: [2, 1], matvec: (x) => Float64Array.from([3 * x[0]!, -2 * x[0]!]) });
  const W = aslinearoperator({ shape: [1, 2], matvec: (x) => F.T.matvec(x), rmatvec: (x) => F.T.rmatvec(x) });

  it("(W).T gives its dense form by its own products", async () => {
    expect((await W.T.toDense()).to2DArray()).toEqual([[3], [-2]]);
    expect((await F.T.toDense()).to2DArray()).toEqual([[3, -2]]); // the original's dense form, transposed
  });

  it('a product that exists on neither side is still refused by name', async () => {
    await expect(W.toDense()).rejects.toThrow(/rmatvec not available for <2x1 FunctionOperator/);
  });
});
