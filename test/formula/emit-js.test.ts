import { describe, expect, test } from 'vitest';
import {
  Formula, FormulaError, Pm, UNARY_OPS, Vi, Vj, compileScalarJs, compileScalarJsSource, constant,
  evaluateDenseJs, evaluateDiagonalJs, numberLiteral, parseFormula, type UnaryOp,
  max, min,
} from '../../src/formula/index.js';
import { denseOf, maxRelErr, randomPoints, rng, sqdist } from './helpers.js';

const N = 9;
const M = 7;
const D = 3;
const X = randomPoints(N, D, 21);
const Y = randomPoints(M, D, 22);

/** Independent scalar definitions (written out here, not imported from the library). */
const UNARY_REFERENCE: Record<UnaryOp, (v: number) => number> = {
  neg: (v) => -v,
  exp: (v) => Math.exp(v),
  log: (v) => Math.log(v),
  sqrt: (v) => Math.sqrt(v),
  rsqrt: (v) => 1 / Math.sqrt(v),
  abs: (v) => Math.abs(v),
  square: (v) => v * v,
  inv: (v) => 1 / v,
  sin: (v) => Math.sin(v),
  cos: (v) => Math.cos(v),
  tanh: (v) => Math.tanh(v),
  sign: (v) => (v > 0 ? 1 : v < 0 ? -1 : 0),
  step: (v) => (v >= 0 ? 1 : 0),
  relu: (v) => (v > 0 ? v : 0),
  sinxdivx: (v) => (v === 0 ? 1 : Math.sin(v) / v),
  log1p: (v) => Math.log1p(v),
  expm1: (v) => Math.expm1(v),
};

/** Ops that need a positive argument get |v| + 0.5. */
const NEEDS_POSITIVE = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt', 'inv', 'log1p']);

function applyMethod(f: Formula, op: UnaryOp): Formula {
  return (f[op] as () => Formula).call(f);
}

describe('JS emitter vs direct computation', () => {
  const x = Vi(X);
  const y = Vj(Y);

  test.each([...UNARY_OPS])('unary %s, on vectors and on scalars', (op) => {
    const ref = UNARY_REFERENCE[op];
    const prep = (v: number): number => (NEEDS_POSITIVE.has(op) ? Math.abs(v) + 0.5 : v);
    const argVec = NEEDS_POSITIVE.has(op) ? x.sub(y).abs().add(0.5) : x.sub(y);
    const vecF = applyMethod(argVec, op).sum();
    const expectedVec = denseOf(X, Y, (a, b) => a.reduce((s, _, k) => s + ref(prep(a[k]! - b[k]!)), 0));
    expect(maxRelErr(evaluateDenseJs(vecF.node), expectedVec)).toBeLessThan(1e-14);

    const argSc = NEEDS_POSITIVE.has(op) ? x.dot(y).abs().add(0.5) : x.dot(y);
    const scF = applyMethod(argSc, op);
    const dotp = (a: number[], b: number[]): number => a.reduce((s, _, k) => s + a[k]! * b[k]!, 0);
    const expectedSc = denseOf(X, Y, (a, b) => ref(prep(dotp(a, b))));
    expect(maxRelErr(evaluateDenseJs(scF.node), expectedSc)).toBeLessThan(1e-14);
  });

  test('step at 0 is 1 (KeOps), sign at 0 is 0, relu at 0 is 0', () => {
    const z = Vi([[0], [-1], [2]]);
    const o = Vj([[0]]);
    expect(Array.from(evaluateDenseJs(z.sub(o).step().node))).toEqual([1, 0, 1]);
    expect(Array.from(evaluateDenseJs(z.sub(o).sign().node))).toEqual([0, -1, 1]);
    expect(Array.from(evaluateDenseJs(z.sub(o).relu().node))).toEqual([0, 0, 2]);
  });

  const binaryCases: [string, Formula, (a: number[], b: number[]) => number][] = [
    ['add', x.add(y).sum(), (a, b) => a.reduce((s, _, k) => s + (a[k]! + b[k]!), 0)],
    ['sub', x.sub(y).sum(), (a, b) => a.reduce((s, _, k) => s + (a[k]! - b[k]!), 0)],
    ['mul', x.mul(y).sum(), (a, b) => a.reduce((s, _, k) => s + a[k]! * b[k]!, 0)],
    ['div', x.div(y.abs().add(1)).sum(), (a, b) => a.reduce((s, _, k) => s + a[k]! / (Math.abs(b[k]!) + 1), 0)],
    ['pow (real exponent)', x.abs().add(0.5).pow(y).sum(), (a, b) => a.reduce((s, _, k) => s + (Math.abs(a[k]!) + 0.5) ** b[k]!, 0)],
    ['pow (integer 3, negative base)', x.sub(y).pow(3).sum(), (a, b) => a.reduce((s, _, k) => s + (a[k]! - b[k]!) ** 3, 0)],
    ['pow (integer -2)', x.sub(y).pow(-2).sum(), (a, b) => a.reduce((s, _, k) => s + (a[k]! - b[k]!) ** -2, 0)],
    ['pow (0)', x.sub(y).pow(0).sum(), () => 3],
    ['min', min(x, y).sum(), (a, b) => a.reduce((s, _, k) => s + Math.min(a[k]!, b[k]!), 0)],
    ['max with broadcast scalar', max(x, 0.1).sub(y).sum(), (a, b) => a.reduce((s, _, k) => s + (Math.max(a[k]!, 0.1) - b[k]!), 0)],
    ['scalar ⊕ vector broadcast', Pm(2).sub(x).mul(y).sum(), (a, b) => a.reduce((s, _, k) => s + (2 - a[k]!) * b[k]!, 0)],
    ['vector parameter', x.sub(y).mul(Pm([1, -2, 3])).sum(), (a, b) => (a[0]! - b[0]!) - 2 * (a[1]! - b[1]!) + 3 * (a[2]! - b[2]!)],
    ['sqnorm2', x.sub(y).sqnorm2(), (a, b) => sqdist(a, b)],
    ['norm2', x.sub(y).norm2(), (a, b) => Math.sqrt(sqdist(a, b))],
    ['dot', x.dot(y), (a, b) => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!],
  ];
  test.each(binaryCases)('%s', (_, f, direct) => {
    expect(maxRelErr(evaluateDenseJs(f.node), denseOf(X, Y, direct))).toBeLessThan(1e-13);
  });

  const sigma = 0.8;
  const kernels: [string, string, (a: number[], b: number[]) => number][] = [
    ['gaussian', 'exp(-sqnorm2(x - y) / (2 * s^2))', (a, b) => Math.exp(-sqdist(a, b) / (2 * sigma * sigma))],
    ['laplacian', 'exp(-norm2(x - y) / s)', (a, b) => Math.exp(-Math.sqrt(sqdist(a, b)) / sigma)],
    ['matern 1.5', '(1 + sqrt(3) * norm2(x - y) / s) * exp(-sqrt(3) * norm2(x - y) / s)', (a, b) => {
      const r = Math.sqrt(3 * sqdist(a, b)) / sigma;
      return (1 + r) * Math.exp(-r);
    }],
    ['cauchy', '1 / (1 + sqnorm2(x - y) / s^2)', (a, b) => 1 / (1 + sqdist(a, b) / sigma ** 2)],
    ['polynomial', '(0.5 * dot(x, y) + 1)^3', (a, b) => (0.5 * (a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!) + 1) ** 3],
  ];
  test.each(kernels)('%s kernel written as a formula', (_, source, direct) => {
    const f = parseFormula(source, /\bs\b/.test(source) ? { x, y, s: sigma } : { x, y });
    expect(maxRelErr(evaluateDenseJs(f.node), denseOf(X, Y, direct))).toBeLessThan(1e-14);
  });

  test('diagonal of a square kernel', () => {
    const f = parseFormula('exp(-sqnorm2(x - y)) + dot(x, y)', { x: Vi(X), y: Vj(X) });
    const diag = evaluateDiagonalJs(f.node);
    expect(maxRelErr(diag, Float64Array.from(X, (a) => 1 + a.reduce((s, v) => s + v * v, 0)))).toBeLessThan(1e-15);
    expect(() => evaluateDiagonalJs(x.sub(y).sqnorm2().node)).toThrow(/square kernel matrix \(got 9×7\)/);
  });

  test('a shared subtree is computed once', () => {
    const d = x.sub(y);
    const src = compileScalarJsSource(d.dot(d).add(d.sqnorm2()).node);
    expect(src.match(/I0\[oi0 \+ 1\] - J0\[oj0 \+ 1\]/g)).toHaveLength(1);
    expect(maxRelErr(evaluateDenseJs(d.dot(d).add(d.sqnorm2()).node), denseOf(X, Y, (a, b) => 2 * sqdist(a, b)))).toBeLessThan(1e-14);
  });

  test('the root must be a scalar', () => {
    expect(() => compileScalarJs(x.sub(y).node)).toThrow(/must be scalar \(dim 1\) but has dim 3/);
  });

  test('constant folding agrees with the emitted code, edge values included', () => {
    const values = [0, -0, 1, -1, 2.5, -2.5, 1e-300, 700];
    for (const op of UNARY_OPS) {
      for (const v of values) {
        const emitted = compileScalarJs(applyMethod(Pm(v), op).node)(0, 0);
        const folded = applyMethod(Formula.from(v), op).node;
        if (folded.op === 'const') expect(folded.value, `${op}(${v})`).toBe(emitted);
        else expect(Number.isFinite(emitted), `${op}(${v}) not folded because non-finite`).toBe(false);
      }
    }
    for (const [a, b] of [[-3, 3], [2, -2], [0.5, 0.5], [-2, 0], [1.5, 16], [1.1, 17]]) {
      const emitted = compileScalarJs(Pm(a!).pow(b!).node)(0, 0);
      const folded = Formula.from(a!).pow(b!).node;
      expect(folded.op === 'const' ? folded.value : NaN, `${a}^${b}`).toBe(emitted);
    }
  });
});

describe('loop path for large dimensions', () => {
  test('d = 100 (loops) matches the direct computation and the unrolled d = 32 path', () => {
    for (const d of [32, 33, 100]) {
      const A = randomPoints(5, d, 100 + d);
      const B = randomPoints(4, d, 200 + d);
      const f = parseFormula('exp(-sqnorm2(x - y) / s) + dot(x, y) * norm2(x) + sum(abs(x - y) * w)', {
        x: Vi(A), y: Vj(B), s: d, w: Array.from({ length: d }, (_, k) => k / d),
      });
      const src = compileScalarJsSource(f.node);
      expect(src.includes('for (let k'), `d=${d}`).toBe(d > 32);
      const direct = denseOf(A, B, (a, b) => {
        let dp = 0, nx = 0, sw = 0;
        for (let k = 0; k < d; k++) {
          dp += a[k]! * b[k]!;
          nx += a[k]! * a[k]!;
          sw += Math.abs(a[k]! - b[k]!) * (k / d);
        }
        return Math.exp(-sqdist(a, b) / d) + dp * Math.sqrt(nx) + sw;
      });
      expect(maxRelErr(evaluateDenseJs(f.node), direct), `d=${d}`).toBeLessThan(1e-13);
    }
  });
});

describe('generated text', () => {
  test('numeric literals round-trip exactly', () => {
    const r = rng(5);
    const values = [0, -0, 1, -1, 0.1, 1 / 3, 5e-324, 1.7976931348623157e308, -1e-7, 1e21, 123456789.123];
    for (let t = 0; t < 200; t++) values.push((r() - 0.5) * 10 ** Math.floor(r() * 40 - 20));
    for (const v of values) {
      const lit = numberLiteral(v);
      expect(lit).toMatch(/^\(?-?[0-9.e+-]+\)?$/);
      expect(Object.is(new Function(`return ${lit};`)(), v), lit).toBe(true);
    }
    expect(() => numberLiteral(NaN)).toThrow(FormulaError);
    expect(() => constant(Infinity)).toThrow(FormulaError);
  });

  test('user names never reach the generated source', () => {
    const evil = ['x);process.exit(1);//', 'constructor', '__proto__', 'process', '`${process.exit(1)}`', '\n}]);while(1);//'];
    for (const name of evil) {
      const f = Vi(X, name).sub(Vj(Y, name)).sqnorm2().mul(Pm(0.5, name)).neg().exp();
      const src = compileScalarJsSource(f.node);
      expect(src.includes(name), name).toBe(false);
      expect(src).not.toMatch(/process|constructor|__proto__/);
      const values = evaluateDenseJs(f.node);
      expect(maxRelErr(values, denseOf(X, Y, (a, b) => Math.exp(-0.5 * sqdist(a, b))))).toBeLessThan(1e-14);
      expect(f.toString()).toContain(name); // names stay visible to people, in messages
    }
  });

  test('scope keys with dangerous names are harmless own properties', () => {
    const scope: Record<string, Formula | number> = { y: Vj(Y) };
    Object.defineProperty(scope, '__proto__', { value: Vi(X), enumerable: true });
    scope['constructor'] = 0.5;
    scope['process'] = 2;
    const f = parseFormula('exp(-sqnorm2(__proto__ - y) * constructor) * process', scope);
    const src = compileScalarJsSource(f.node);
    expect(src).not.toMatch(/process|constructor|__proto__/);
    expect(maxRelErr(evaluateDenseJs(f.node), denseOf(X, Y, (a, b) => 2 * Math.exp(-0.5 * sqdist(a, b))))).toBeLessThan(1e-14);
  });

  test('code in formula strings is rejected, not evaluated', () => {
    const scope = { x: Vi(X), y: Vj(Y) };
    for (const source of [
      'x);process.exit(1);//', 'process.exit(1)', 'constructor.constructor("return process")()',
      'import("fs")', 'evaluate("1+1")', 'x; y',
    ]) {
      expect(() => parseFormula(source, scope), source).toThrow(FormulaError);
    }
  });
});
