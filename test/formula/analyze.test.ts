import { describe, expect, test } from 'vitest';
import {
  Pm, Vi, Vj, collectVariables, dependencies, evaluateDenseJs, formulaKey, parseFormula, rowCounts,
  swapIJ,
} from '../../src/formula/index.js';
import { maxRelErr, randomPoints } from './helpers.js';

const X = randomPoints(6, 3, 11);
const Y = randomPoints(4, 3, 12);

describe('collectVariables', () => {
  test('first-appearance order, deduplicated by identity', () => {
    const x = Vi(X, 'x');
    const u = Vi(X, 'u');
    const y = Vj(Y);
    const g = Pm(1, 'g');
    const h = Pm(2, 'h');
    const f = x.sub(y).sqnorm2().mul(h).add(u.sub(y).sqnorm2().mul(g)).add(x.dot(y).mul(h));
    const v = collectVariables(f.node);
    expect(v.i.map((n) => n.name)).toEqual(['x', 'u']);
    expect(v.j.map((n) => n.name)).toEqual(['y']);
    expect(v.p.map((n) => n.name)).toEqual(['h', 'g']);
  });
});

describe('formulaKey', () => {
  test('depends on structure, not on bound data or names', () => {
    const k1 = formulaKey(Vi(X, 'a').sub(Vj(Y, 'b')).sqnorm2().mul(Pm(0.1, 's')).exp().node);
    const k2 = formulaKey(Vi(randomPoints(50, 3, 5)).sub(Vj(randomPoints(9, 3, 6))).sqnorm2().mul(Pm(7)).exp().node);
    expect(k1).toBe(k2);
    expect(k1).toBe('exp(mul(sqnorm2(sub(i0:3,j0:3)),p0:1))');
  });

  test('differs when dims, slots, structure or constants differ', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const base = formulaKey(x.sub(y).sqnorm2().mul(0.1).node);
    expect(formulaKey(x.sub(y).sqnorm2().mul(0.1 + 1e-16 * 2).node)).not.toBe(base);
    expect(formulaKey(Vi(randomPoints(6, 2, 1)).sub(Vj(randomPoints(4, 2, 2))).sqnorm2().mul(0.1).node)).not.toBe(base);
    expect(formulaKey(y.sub(x).sqnorm2().mul(0.1).node)).not.toBe(base);
    // a second i-variable gets slot 1
    expect(formulaKey(x.sub(y).add(Vi(X)).sum().node)).toBe('sum(add(sub(i0:3,j0:3),i1:3))');
    // the same variable twice keeps slot 0
    expect(formulaKey(x.sub(y).add(x).sum().node)).toBe('sum(add(sub(i0:3,j0:3),i0:3))');
  });

  test('constants are written with full precision and -0 is kept apart', () => {
    const x = Vi(X);
    expect(formulaKey(x.mul(0.1).sum().node)).toContain('#0.1');
    expect(formulaKey(x.mul(1 / 3).sum().node)).toContain(`#${String(1 / 3)}`);
    expect(formulaKey(x.div(-0).sum().node)).toContain('#-0');
  });

  test('is stable across calls and equal for equivalent string formulas', () => {
    const f = parseFormula('exp(-sqnorm2(x - y) / s)', { x: Vi(X), y: Vj(Y), s: 3 });
    const g = parseFormula('exp(-sqnorm2(x - y) / s)', { x: Vi(Y), y: Vj(X), s: 0.5 });
    expect(formulaKey(f.node)).toBe(formulaKey(f.node));
    expect(formulaKey(f.node)).toBe(formulaKey(g.node));
  });
});

describe('dependencies', () => {
  test('reports the categories of each subtree', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const s = Pm(2, 's');
    expect([...dependencies(s.pow(2).mul(3).node)]).toEqual(['p']);
    expect(dependencies(x.sqnorm2().mul(s).node)).toEqual(new Set(['i', 'p']));
    expect(dependencies(x.sub(y).sqnorm2().node)).toEqual(new Set(['i', 'j']));
    expect(dependencies(x.node)).toEqual(new Set(['i']));
    // the returned set is a copy
    const d = dependencies(x.node);
    d.add('j');
    expect(dependencies(x.node)).toEqual(new Set(['i']));
  });
});

describe('swapIJ', () => {
  test('K(x, y)ᵀ = K(y, x)', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const f = parseFormula('exp(-sqnorm2(x - y) * g) + dot(x, w) * sum(y) + min(sum(x), 0.5)', { x, y, g: 0.8, w: [1, -2, 0.5] });
    const K = evaluateDenseJs(f.node); // 6×4
    const T = evaluateDenseJs(swapIJ(f.node)); // 4×6
    expect(rowCounts(swapIJ(f.node))).toEqual({ n: 4, m: 6 });
    const Kt = new Float64Array(4 * 6);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 4; j++) Kt[j * 6 + i] = K[i * 4 + j]!;
    expect(maxRelErr(T, Kt)).toBe(0);
  });

  test('is an involution and keeps bound data and parameters', () => {
    const x = Vi(X);
    const y = Vj(Y);
    const s = Pm(2, 's');
    const n = x.sub(y).sqnorm2().mul(s).node;
    const t = swapIJ(n);
    expect(swapIJ(t)).toBe(n);
    const vars = collectVariables(t);
    expect(vars.i[0]!.value).toBe(y.node.op === 'var' ? y.node.value : null);
    expect(vars.j[0]!.value).toBe(x.node.op === 'var' ? x.node.value : null);
    expect(vars.p[0]).toBe(s.node);
    expect(formulaKey(t)).toBe('mul(sqnorm2(sub(j0:3,i0:3)),p0:1)');
  });
});

describe('rowCounts', () => {
  test('reads n and m', () => {
    expect(rowCounts(Vi(X).sub(Vj(Y)).sqnorm2().node)).toEqual({ n: 6, m: 4 });
  });
  test('needs at least one Vi and one Vj', () => {
    expect(() => rowCounts(Vi(X).sqnorm2().node)).toThrow('a kernel formula needs at least one Vi and one Vj variable');
    expect(() => rowCounts(Pm(1).node)).toThrow(/at least one Vi and one Vj/);
  });
  test('two i-variables with different row counts are quoted', () => {
    const f = Vi(X, 'x').sub(Vj(Y)).add(Vi(randomPoints(5, 3, 1), 'u')).sum();
    expect(() => rowCounts(f.node)).toThrow("Vi variables have different row counts: 'x' has 6 rows but 'u' has 5");
    const g = Vj(Y, 'y').sub(Vi(X)).add(Vj(randomPoints(2, 3, 1), 'v')).sum();
    expect(() => rowCounts(g.node)).toThrow("Vj variables have different row counts: 'y' has 4 rows but 'v' has 2");
  });
});
