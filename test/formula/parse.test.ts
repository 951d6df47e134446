import { describe, expect, test } from 'vitest';
import {
  Formula, FormulaError, Pm, Vi, Vj, collectVariables, evaluateDenseJs, formulaKey, parseFormula,
  max, min,
} from '../../src/formula/index.js';
import { randomPoints } from './helpers.js';
import { kernelOperator } from '../../src/operators/kernels.js';

const X = randomPoints(7, 3, 1);
const Y = randomPoints(5, 3, 2);

describe('parseFormula', () => {
  test('string and builder formulas have the same key and the same values', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const s = Pm(0.7, 's');
    const built = x.sub(y).sqnorm2().neg().div(Formula.from(2).mul(s.pow(2))).exp();
    const parsed = parseFormula('exp(-sqnorm2(x - y) / (2 * s^2))', { x, y, s: 0.7 });
    expect(formulaKey(parsed.node)).toBe(formulaKey(built.node));
    expect(formulaKey(parsed.node)).toBe('exp(div(neg(sqnorm2(sub(i0:3,j0:3))),mul(#2,pow(p0:1,#2))))');
    expect(evaluateDenseJs(parsed.node)).toEqual(evaluateDenseJs(built.node));
  });

  test('every whitelisted function parses to the builder method', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const cases: [string, Formula][] = [
      ['sum(exp(x - y))', x.sub(y).exp().sum()],
      ['sum(log(abs(x - y) + 1))', x.sub(y).abs().add(1).log().sum()],
      ['norm2(sqrt(square(x)) - y)', x.square().sqrt().sub(y).norm2()],
      ['sum(rsqrt(abs(x) + 1) * inv(abs(y) + 2))', x.abs().add(1).rsqrt().mul(y.abs().add(2).inv()).sum()],
      ['sum(sin(x) + cos(y) + tanh(x * y))', x.sin().add(y.cos()).add(x.mul(y).tanh()).sum()],
      ['sum(sign(x - y) + step(x - y) + relu(y - x))', x.sub(y).sign().add(x.sub(y).step()).add(y.sub(x).relu()).sum()],
      ['sum(min(x, y) - max(x, 0.25))', min(x, y).sub(max(x, 0.25)).sum()],
      ['pow(dot(x, y) + 1, 3)', x.dot(y).add(1).pow(3)],
      ['sqnorm2(+x - -y)', x.sub(y.neg()).sqnorm2()],
      ['sqnorm2(x - y) * pi + e', x.sub(y).sqnorm2().mul(Math.PI).add(Math.E)],
    ];
    for (const [source, built] of cases) {
      const parsed = parseFormula(source, { x, y });
      expect(formulaKey(parsed.node), source).toBe(formulaKey(built.node));
      expect(evaluateDenseJs(parsed.node), source).toEqual(evaluateDenseJs(built.node));
    }
  });

  test('toString output parses back to the same structure', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const g = Pm(0.3, 'g');
    const f = x.sub(y).sqnorm2().neg().mul(g).exp()
      .add(Formula.from(-2).pow(2).mul(x.dot(y)))
      .sub(x.sub(y).norm2().pow(Formula.from(-0.5)).div(g.sub(1)));
    const back = parseFormula(f.toString(), { x, y, g });
    expect(formulaKey(back.node)).toBe(formulaKey(f.node));
  });

  test('a scope name used twice is one parameter slot', () => {
    const f = parseFormula('exp(-sqnorm2(x - y) * s) * s', { x: Vi(X), y: Vj(Y), s: 2 });
    expect(collectVariables(f.node).p).toHaveLength(1);
    const w = parseFormula('dot(x - y, w)', { x: Vi(X), y: Vj(Y), w: [1, 2, 3] });
    expect(collectVariables(w.node).p[0]!.dim).toBe(3);
  });

  test('unknown symbols name the symbol and list the known ones', () => {
    const scope = { x: Vi(X), y: Vj(Y), s: 1 };
    expect(() => parseFormula('exp(-z)', scope)).toThrow(`unknown symbol 'z' in formula "exp(-z)"; known: x, y, s`);
    expect(() => parseFormula('exp + 1', scope)).toThrow(/'exp' is a function/);
  });

  test('a scope entry the formula never reads is refused by name: a misspelt symbol or an option put in the scope', () => {
    // before: accepted and ignored — kernelOperator(f, { x, y, backnd: 'gpu' }) ran on the CPU, { dtpye: 'float32' } in float64
    const xy = { x: Vi(X), y: Vj(Y) };
    expect(() => parseFormula('exp(-sqnorm2(x - y))', { ...xy, backnd: 'gpu' } as never)).toThrow(
      `scope binds 'backnd', which the formula does not use in formula "exp(-sqnorm2(x - y))"; it uses x, y; options such as 'backend' go in kernelOperator's third argument, kernelOperator(formula, scope, { backend: … })`);
    expect(() => kernelOperator('exp(-sqnorm2(x - y))', { ...xy, dtype: 'float32' } as never)).toThrow(/scope binds 'dtype'.*kernelOperator\(formula, scope, \{ dtype: … \}\)/);
    expect(() => parseFormula('exp(-sqnorm2(x - y) / s)', { ...xy, s: 1, sgima: 2, q: 3 })).toThrow(/scope binds 'sgima' \(and 'q'\), which the formula does not use .*; it uses x, y, s; remove them, or use them in the formula$/);
    expect(() => parseFormula('exp(-sqnorm2(x - x))', xy)).toThrow(/scope binds 'y', which the formula does not use/);
    expect(kernelOperator('exp(-sqnorm2(x - y))', xy, { dtype: 'float32' }).dtype).toBe('float32');
  });

  test('unknown functions, wrong arity and unsupported syntax', () => {
    const scope = { x: Vi(X), y: Vj(Y) };
    expect(() => parseFormula('foo(x)', scope)).toThrow(/unknown function 'foo' in formula "foo\(x\)"; allowed functions: exp, log/);
    expect(() => parseFormula('exp(x, y)', scope)).toThrow(/exp takes 1 argument but got 2/);
    expect(() => parseFormula('min(x)', scope)).toThrow(/min takes 2 arguments but got 1/);
    expect(() => parseFormula('a = 1', scope)).toThrow(/unsupported syntax: assignment/);
    expect(() => parseFormula('f(t) = t', scope)).toThrow(/function definition/);
    expect(() => parseFormula('[1, 2]', scope)).toThrow(/matrix\/array literal/);
    expect(() => parseFormula('"hello"', scope)).toThrow(/unsupported literal/);
    expect(() => parseFormula('x.y', scope)).toThrow(/property access/);
    expect(() => parseFormula('x[1]', scope)).toThrow(/property access or indexing/);
    expect(() => parseFormula('x > y ? 1 : 2', scope)).toThrow(FormulaError);
    expect(() => parseFormula('x % y', scope)).toThrow(/unsupported operator '%'/);
    expect(() => parseFormula("x'", scope)).toThrow(/unsupported operator/);
    expect(() => parseFormula('x +', scope)).toThrow(/syntax error in formula/);
    expect(() => parseFormula('1e400 * x', scope)).toThrow(/out of range/);
  });

  test('implicit multiplication is mathjs syntax for *', () => {
    const scope = { x: Vi(X), y: Vj(Y) };
    expect(formulaKey(parseFormula('2 sqnorm2(x - y)', scope).node)).toBe('mul(#2,sqnorm2(sub(i0:3,j0:3)))');
  });

  test('dimension errors surface at parse time with the formula', () => {
    const scope = { x: Vi(X), y: Vj(randomPoints(4, 2, 3)) };
    expect(() => parseFormula('sqnorm2(x - y)', scope))
      .toThrow('sub: dimension mismatch between x (dim 3) and y (dim 2) in formula "sqnorm2(x - y)"');
  });

  test('bad scope values', () => {
    expect(() => parseFormula('x * s', { x: Vi(X), s: NaN })).toThrow(/finite/);
    expect(() => parseFormula('x * s', { x: Vi(X), s: 'evil' as unknown as number })).toThrow(/scope value 's'/);
  });

  test('prototype names never resolve through Object.prototype', () => {
    const scope = { x: Vi(X), y: Vj(Y) };
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'process', 'globalThis', 'Function']) {
      expect(() => parseFormula(`sqnorm2(x - y) * ${name}`, scope), name).toThrow(FormulaError);
    }
    expect(() => parseFormula('constructor(x)', scope)).toThrow(/unknown function 'constructor'/);
    expect(() => parseFormula('x.constructor', scope)).toThrow(/property access/);
  });
});
