import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import {
  aslinearoperator,
  DenseOperator,
  DiagonalOperator,
  IdentityOperator,
  LinearOperator,
  ProductOperator,
  ScaledOperator,
  ShiftedOperator,
  SumOperator,
  TransposedOperator,
} from '../../src/operators/index.js';
import { checkOperatorAgainstDense } from '../conformance.js';
import { randomMatrix, randomSymmetric } from './helpers.js';

const A = randomMatrix(5, 5, 11);
const B = randomMatrix(5, 5, 12);
const C = randomMatrix(5, 3, 13);
const R = randomMatrix(3, 5, 14);
const S = randomSymmetric(5, 15);
const d = [0.5, -1, 2, 3, -0.25];

const opA = () => new DenseOperator(A);
const opB = () => new DenseOperator(B);
/** A custom operator that only knows matvec and rmatvec, so its transpose is a TransposedOperator. */
function customOf(M: Matrix, withRmatvec = true): LinearOperator {
  const Mt = M.transpose();
  return aslinearoperator({
    shape: [M.rows, M.columns],
    matvec: (x) => M.mmul(Matrix.columnVector(Array.from(x))).getColumn(0),
    ...(withRmatvec ? { rmatvec: (x: Float64Array) => Mt.mmul(Matrix.columnVector(Array.from(x))).getColumn(0) } : {}),
  });
}
function shiftDense(M: Matrix, alpha: number): Matrix {
  return M.clone().add(Matrix.eye(M.rows).mul(alpha));
}

describe('algebra conformance', () => {
  it('sum', async () => {
    await checkOperatorAgainstDense(opA().add(opB()), A.clone().add(B), { diagonal: true });
  });

  it('difference (sub)', async () => {
    await checkOperatorAgainstDense(opA().sub(opB()), A.clone().sub(B), { diagonal: true });
  });

  it('scaled', async () => {
    await checkOperatorAgainstDense(opA().scale(-2.5), A.clone().mul(-2.5), { diagonal: true });
  });

  it('product, square and rectangular', async () => {
    await checkOperatorAgainstDense(opA().dot(opB()), A.mmul(B));
    const CR = new DenseOperator(C).dot(new DenseOperator(R));
    await checkOperatorAgainstDense(CR, C.mmul(R));
    const RC = new DenseOperator(R).dot(new DenseOperator(C));
    expect(RC.shape).toEqual([3, 3]);
    await checkOperatorAgainstDense(RC, R.mmul(C));
  });

  it('shifted', async () => {
    await checkOperatorAgainstDense(opA().shift(0.75), shiftDense(A, 0.75), { diagonal: true });
  });

  it('transposed (custom operator with rmatvec)', async () => {
    const op = customOf(C);
    expect(op.T).toBeInstanceOf(TransposedOperator);
    await checkOperatorAgainstDense(op.T, C.transpose());
  });

  it('nested combinations, with custom and transposed parts', async () => {
    const custom = customOf(A);
    const nested = custom.T.add(opB().scale(2)).dot(new DiagonalOperator(d)).shift(-1).scale(0.5).add(new IdentityOperator(5));
    const want = shiftDense(A.transpose().add(B.clone().mul(2)).mmul(Matrix.diag(d)), -1).mul(0.5).add(Matrix.eye(5));
    await checkOperatorAgainstDense(nested, want);
    await checkOperatorAgainstDense(nested.T, want.transpose());
    const rect = new DenseOperator(C).T.dot(opA().add(customOf(B))).dot(new DenseOperator(C)).scale(3);
    await checkOperatorAgainstDense(rect, C.transpose().mmul(A.clone().add(B)).mmul(C).mul(3));
  });

  it('diagonal of a sum of diagonal-knowing parts is exact; a product does not know its diagonal', async () => {
    const sum = opA().add(new DiagonalOperator(d)).add(new IdentityOperator(5).scale(3)).shift(2);
    const want = shiftDense(A.clone().add(Matrix.diag(d)).add(Matrix.eye(5).mul(3)), 2).diag();
    expect(Array.from(await sum.diagonal())).toEqual(want);
    await expect(opA().dot(opB()).diagonal()).rejects.toThrow(/diagonal\(\) is not known for <5x5 ProductOperator/);
    await expect(opA().add(customOf(B)).diagonal()).rejects.toThrow(/diagonal\(\) is not known for <5x5 FunctionOperator/);
  });
});

describe('folding', () => {
  it('A.T.T === A for every kind of operator', () => {
    const ops: LinearOperator[] = [
      opA(), new DenseOperator(C), customOf(C), opA().add(opB()), opA().scale(2), opA().dot(opB()), opA().shift(1),
      new DenseOperator(C).dot(new DenseOperator(R)),
    ];
    for (const op of ops) {
      expect(op.T.T, String(op)).toBe(op);
      expect(op.T, String(op)).toBe(op.T);
    }
  });

  it('scale(2).scale(3) is one ScaledOperator with factor 6; scale(1) is the operator; back to 1 unwraps', () => {
    const a = opA();
    const s = a.scale(2).scale(3);
    expect(s).toBeInstanceOf(ScaledOperator);
    expect((s as ScaledOperator).factor).toBe(6);
    expect((s as ScaledOperator).base).toBe(a);
    expect(a.scale(1)).toBe(a);
    expect(a.scale(2).scale(0.5)).toBe(a);
    expect(((a.scale(2).T as ScaledOperator).base)).toBe(a.T);
  });

  it('nested sums flatten', () => {
    const [a, b, c, e] = [opA(), opB(), opA(), opB()];
    const s = a.add(b).add(c.add(e));
    expect(s).toBeInstanceOf(SumOperator);
    expect((s as SumOperator).parts).toEqual([a, b, c, e]);
    expect((s as SumOperator).parts[0]).toBe(a);
    expect(((s.T as SumOperator).parts[3])).toBe(e.T);
  });

  it('nested products flatten; (AB)ᵀ = BᵀAᵀ', () => {
    const [a, b, c] = [opA(), opB(), opA()];
    const p = a.dot(b.dot(c));
    expect(p).toBeInstanceOf(ProductOperator);
    expect((p as ProductOperator).parts).toHaveLength(3);
    expect((p.T as ProductOperator).parts.map((x) => x)).toEqual([c.T, b.T, a.T]);
    expect((p.T as ProductOperator).parts[0]).toBe(c.T);
  });

  it('shifts fold; shift(0) is the operator; shifting back unwraps', () => {
    const a = opA();
    const s = a.shift(1).shift(2.5);
    expect(s).toBeInstanceOf(ShiftedOperator);
    expect((s as ShiftedOperator).alpha).toBe(3.5);
    expect((s as ShiftedOperator).base).toBe(a);
    expect(a.shift(0)).toBe(a);
    expect(a.shift(2).shift(-2)).toBe(a);
  });
});

describe('symmetry and dtype propagation', () => {
  const sym = () => new DenseOperator(S, undefined, { symmetric: true });
  const f32 = aslinearoperator({ shape: [5, 5], matvec: (x) => x, dtype: 'float32', symmetric: true });

  it('symmetric flags propagate through sums, scalings and shifts, not products or non-symmetric parts', () => {
    const s = sym();
    expect(s.add(new DiagonalOperator(d)).symmetric).toBe(true);
    expect(s.scale(3).symmetric).toBe(true);
    expect(s.shift(0.1).symmetric).toBe(true);
    const shifted = s.shift(0.1);
    expect(shifted.T).toBe(shifted);
    expect(s.add(opA()).symmetric).toBe(false);
    expect(s.dot(s).symmetric).toBe(false);
    expect(opA().shift(1).symmetric).toBe(false);
  });

  it("a composite is float32 if any part is, else float64", () => {
    expect(opA().add(opB()).dtype).toBe('float64');
    expect(opA().add(f32).dtype).toBe('float32');
    expect(opA().dot(f32).dtype).toBe('float32');
    expect(f32.scale(2).dtype).toBe('float32');
    expect(f32.shift(2).dtype).toBe('float32');
    expect(aslinearoperator({ shape: [5, 5], matvec: (x) => x, dtype: 'float32' }).T.dtype).toBe('float32');
  });
});

describe('toString', () => {
  it('describes composites with their parts', () => {
    const a = new DenseOperator([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    const b = new DiagonalOperator([1, 2, 3]);
    expect(String(a.add(b))).toBe('<3x3 SumOperator(<3x3 DenseOperator float64> + <3x3 DiagonalOperator float64>) float64>');
    expect(String(a.scale(2))).toBe('<3x3 ScaledOperator(2 * <3x3 DenseOperator float64>) float64>');
    expect(String(a.dot(b))).toBe('<3x3 ProductOperator(<3x3 DenseOperator float64> @ <3x3 DiagonalOperator float64>) float64>');
    expect(String(a.shift(0.5))).toBe('<3x3 ShiftedOperator(<3x3 DenseOperator float64> + 0.5·I) float64>');
    const custom = aslinearoperator({ shape: [2, 3], matvec: () => [0, 0], rmatvec: () => [0, 0, 0], name: 'MyOp', dtype: 'float32' });
    expect(String(custom)).toBe('<2x3 MyOp float32>');
    expect(String(custom.T)).toBe('<3x2 TransposedOperator(<2x3 MyOp float32>) float32>');
  });
});

describe('algebra errors', () => {
  it('add with mismatched shapes quotes both shapes', () => {
    expect(() => opA().add(new DenseOperator(C))).toThrow(/add: shapes differ: 5x5 \(<5x5 DenseOperator float64>\) \+ 5x3/);
  });

  it('dot with mismatched inner dimensions quotes both shapes', () => {
    expect(() => new DenseOperator(C).dot(opA())).toThrow(/dot: inner dimensions differ: 5x3 .* · 5x5 .*needs 3 rows/);
  });

  it('shift on a non-square operator', () => {
    expect(() => new DenseOperator(C).shift(1)).toThrow(/shift: A \+ alpha·I needs a square operator, got shape 5x3/);
  });

  it('non-finite scalars', () => {
    expect(() => opA().scale(NaN)).toThrow(/scale: expected a finite number, got NaN/);
    expect(() => opA().shift(Infinity)).toThrow(/shift: expected a finite number, got Infinity/);
  });

  it('non-operator arguments', () => {
    expect(() => opA().add(A as unknown as LinearOperator)).toThrow(/add: expected a LinearOperator, got a 5x5 Matrix \(wrap matrices with aslinearoperator\)/);
    expect(() => opA().dot(null as unknown as LinearOperator)).toThrow(/dot: expected a LinearOperator, got null/);
  });
});
