import { describe, expect, test } from 'vitest';
import {
  Formula, FormulaError, Pm, Vi, Vj, binary, constant, formulaKey, reduce, unary,
  max, min,
} from '../../src/formula/index.js';

const x3 = Vi([[1, 2, 3], [4, 5, 6]]);
const y3 = Vj([[0, 0, 1]]);
const y2 = Vj([[1, 2]], 'y');

describe('smart constructors', () => {
  test('constants must be finite', () => {
    expect(() => constant(NaN)).toThrow(/finite/);
    expect(() => constant(Infinity)).toThrow(/finite/);
    expect(() => x3.mul(NaN)).toThrow(FormulaError);
  });

  test('dimension mismatch quotes both operands and dims', () => {
    expect(() => x3.sub(y2)).toThrow('sub: dimension mismatch between x (dim 3) and y (dim 2)');
    expect(() => x3.dot(y2)).toThrow('dot: dimension mismatch between x (dim 3) and y (dim 2)');
    expect(() => x3.sub(y3).add(y2)).toThrow('add: dimension mismatch between x - y (dim 3) and y (dim 2)');
  });

  test('scalars broadcast against vectors', () => {
    expect(x3.mul(2).dim).toBe(3);
    expect(Pm(2).add(x3).dim).toBe(3);
    expect(x3.sqnorm2().dim).toBe(1);
    expect(x3.dot(y3).dim).toBe(1);
  });

  test('constant folding', () => {
    expect(Formula.from(2).add(3).node).toEqual(constant(5));
    expect(Formula.from(2).pow(10).node).toEqual(constant(1024));
    expect(Formula.from(-3).pow(2).node).toEqual(constant(9));
    expect(Formula.from(4).sqrt().neg().node).toEqual(constant(-2));
    expect(Formula.from(0).step().node).toEqual(constant(1)); // KeOps: step(0) = 1
    // identities return the very same node
    expect(x3.mul(1).node).toBe(x3.node);
    expect(x3.add(0).node).toBe(x3.node);
    expect(Formula.from(0).add(x3).node).toBe(x3.node);
    expect(x3.sub(0).node).toBe(x3.node);
    expect(x3.div(1).node).toBe(x3.node);
    expect(x3.pow(1).node).toBe(x3.node);
    expect(x3.neg().neg().node).toBe(x3.node);
    expect(formulaKey(Formula.from(0).sub(x3).sqnorm2().node)).toBe('sqnorm2(neg(i0:3))');
    // not folded: x*0 (NaN·0) and x^0 (would need a vector constant)
    expect(x3.mul(0).node.op).toBe('mul');
    expect(x3.pow(0).node.op).toBe('pow');
    // a non-finite fold keeps the node, so meaning is unchanged
    expect(Formula.from(0).log().node.op).toBe('log');
  });

  test('reductions of scalars simplify', () => {
    const s = Vi([[1], [2]]);
    expect(s.sum().node).toBe(s.node);
    expect(s.sqnorm2().node.op).toBe('square');
    expect(s.norm2().node.op).toBe('abs');
    expect(s.dot(Pm(2)).node.op).toBe('mul');
  });

  test('nodes are frozen', () => {
    const n = x3.sub(y3).node;
    expect(Object.isFrozen(n)).toBe(true);
    expect(Object.isFrozen(x3)).toBe(true);
  });

  test('raw constructors reject unknown operators', () => {
    expect(() => unary('evil' as never, x3.node)).toThrow(/unknown unary operator/);
    expect(() => binary('evil' as never, x3.node, y3.node)).toThrow(/unknown binary operator/);
    expect(() => reduce('evil' as never, x3.node)).toThrow(/unknown reduction/);
  });

  test('Pm validates its values', () => {
    expect(Pm([1, 2, 3], 'w').dim).toBe(3);
    expect(() => Pm([], 'w')).toThrow(/at least one value/);
    expect(() => Pm(NaN, 's')).toThrow("s: parameter value 0 must be a finite number (got NaN)");
  });

  test('min/max without an axis say which call is the reduction and which the element-wise function; sum() sums components', async () => {
    await expect((x3 as unknown as { min(): Promise<unknown> }).min()).rejects.toThrow(/F\.min\(axis\) is the reduction .* function min\(a, b\)/);
    await expect((x3 as unknown as { max(o: Formula): Promise<unknown> }).max(y3)).rejects.toThrow(/F\.max\(axis\) is the reduction .* function max\(a, b\)/);
    await expect(x3.sum(1)).rejects.toThrow(/needs at least one Vi and one Vj/);
    expect(x3.sum(-1).dim).toBe(1);
    expect(x3.sum().dim).toBe(1);
  });

  test('toString is readable infix', () => {
    const g = Pm(0.5, 'g');
    expect(x3.sub(y3).sqnorm2().neg().mul(g).exp().toString()).toBe('exp(-(sqnorm2(x - y)) * g)');
    expect(x3.sub(y3.sub(x3)).sum().toString()).toBe('sum(x - (y - x))');
    expect(min(Formula.from(-1).add(x3).pow(2), g).toString()).toBe('min((-1 + x) ^ 2, g)');
    expect(x3.dot(y3).pow(Formula.from(-2)).toString()).toBe('dot(x, y) ^ (-2)');
  });
});
