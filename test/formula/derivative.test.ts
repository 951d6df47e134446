import { describe, expect, it } from 'vitest';
import type { Node, VarNode } from '../../src/formula/ast.js';
import { collectVariables } from '../../src/formula/analyze.js';
import { Formula, Pm, Vi, Vj, min } from '../../src/formula/builder.js';
import { gradient, partialDerivative } from '../../src/formula/derivative.js';
import { compileScalarJs } from '../../src/formula/emit-js.js';
import { parseFormula } from '../../src/formula/parse.js';
import { randomPoints } from './helpers.js';

/** Central difference of k(i, j) in the bound value v[row·dim + k] (bound data perturbed in place, then restored). */
function centralDifference(node: Node, v: VarNode, row: number, k: number, i: number, j: number, h: number): number {
  const f = compileScalarJs(node);
  const data = v.value.data;
  const t = row * v.dim + k;
  const x0 = data[t]!;
  data[t] = x0 + h;
  const up = f(i, j);
  data[t] = x0 - h;
  const down = f(i, j);
  data[t] = x0;
  return (up - down) / (2 * h);
}

const x = randomPoints(6, 3, 11);
const y = randomPoints(5, 3, 12);

function formulas(): Array<{ name: string; f: Formula; smoothAtZero: boolean }> {
  const xi = Vi(x);
  const yj = Vj(y);
  const r = xi.sub(yj).norm2();
  const t = min(r.mul(Math.sqrt(5)), 1000);
  const string = parseFormula('exp(-sqnorm2(x - y) / (2 * s^2)) + c * dot(x, y)^3 + rsqrt(1 + sqnorm2(x - y))', {
    x: Vi(x), y: Vj(y), s: 0.7, c: 0.3,
  });
  return [
    { name: 'gaussian', f: xi.sub(yj).sqnorm2().mul(Pm(0.8, 'g')).neg().exp(), smoothAtZero: true },
    { name: 'laplacian', f: r.neg().exp(), smoothAtZero: false },
    { name: 'matern 2.5', f: t.add(1).add(t.square().div(3)).mul(t.neg().exp()), smoothAtZero: true },
    { name: 'string with Pm', f: string, smoothAtZero: true },
    { name: 'KeOps ops: sinc, log1p, expm1, atan2, ifelse, clamp, weightedSqDist',
      f: xi.sub(yj).sinc().sum().add(xi.dot(yj).log1p()).add(xi.sub(yj).mul(0.3).expm1().sum())
        .add(xi.atan2(yj.add(2)).sum()).add(xi.dot(yj).ifelse(xi.sqnorm2(), yj.norm2().neg()))
        .add(xi.sub(yj).clamp(-0.3, 0.4).sum()).add(xi.weightedSqDist(yj, Pm([0.5, 1, 2], 'w')).neg().exp()),
      smoothAtZero: false },
    // x − x is 0 for every x: before, d/dx sqrt(|x − x|) was ∞·0 = NaN (formula-fuzz --gpu seed 21, case 318)
    { name: 'sqrt(abs(x − x)) + a Gaussian (constant in x where the chain rule meets ∞·0)',
      f: xi.sub(xi).abs().sqrt().sum().add(xi.sub(yj).sqnorm2().neg().exp()).add(yj.sub(yj).abs().sqrt().sum()), smoothAtZero: false },
    { name: 'cauchy / tanh / log', f: xi.sub(yj).sqnorm2().add(1).inv().add(xi.dot(yj).tanh()).add(xi.sqnorm2().add(2).log()), smoothAtZero: true },
  ];
}

describe('symbolic derivatives of formulas', () => {
  for (const { name, f } of formulas()) {
    it(`${name}: ∂F/∂x, ∂F/∂y and ∂F/∂p match central differences of the JS oracle`, () => {
      const vars = collectVariables(f.node);
      for (const v of [...vars.i, ...vars.j, ...vars.p]) {
        for (let k = 0; k < v.dim; k++) {
          const d = compileScalarJs(partialDerivative(f.node, v, k));
          for (const [i, j] of [[0, 0], [2, 3], [5, 4]] as const) {
            const row = v.cat === 'i' ? i : v.cat === 'j' ? j : 0;
            const fd = centralDifference(f.node, v, row, k, i, j, 1e-5);
            expect(Math.abs(d(i, j) - fd)).toBeLessThan(1e-8 * Math.max(1, Math.abs(fd)));
          }
        }
      }
    });
  }

  it('is finite at r = 0 (the same points as x and y); 0 there for the radial kernels (the subgradient for the Laplacian)', () => {
    for (const { name, f } of formulas().slice(0, 3)) {
      const xi = collectVariables(f.node).i[0]!;
      const yj = collectVariables(f.node).j[0]!;
      // bind y to x's first rows: pairs (i, i) have r = 0
      yj.value.data.set(xi.value.data.subarray(0, yj.value.data.length));
      for (let k = 0; k < 3; k++) {
        const d = compileScalarJs(partialDerivative(f.node, xi, k));
        for (let i = 0; i < 5; i++) expect(Math.abs(d(i, i)), `${name} k=${k} i=${i}`).toBe(0);
      }
      yj.value.data.set(Float64Array.from(y.flat()));
    }
  });

  it('F.grad gives the d-vector formula (gaussian: −(x − y)·k), and a direction scales it', () => {
    const xi = Vi(x);
    const yj = Vj(y);
    const k = xi.sub(yj).sqnorm2().div(-2).exp();
    const g = k.grad(xi);
    expect(g.dim).toBe(3);
    const expected = xi.sub(yj).mul(k).neg();
    const eg = compileScalarJs(g.dot(Pm([1, 2, 3], 'w')).node);
    const ee = compileScalarJs(expected.dot(Pm([1, 2, 3], 'w')).node);
    expect(eg(1, 2)).toBeCloseTo(ee(1, 2), 14);
    const scaled = compileScalarJs(k.grad(xi, 2.5).dot(Pm([1, 2, 3], 'w')).node);
    expect(scaled(1, 2)).toBeCloseTo(2.5 * ee(1, 2), 14);
    expect(k.grad(Vi(x)).toString()).toBe('zeros'); // another variable: F does not depend on it
  });

  it('simplifies: no 0·… or 1·… terms, constants folded', () => {
    const xi = Vi(x, 'x');
    const yj = Vj(y, 'y');
    const text = xi.sub(yj).sqnorm2().grad(xi).toString();
    expect(text).toBe('(x - y) * 2');
    expect(xi.sub(yj).sum().grad(yj).toString()).toBe('ones * -1');
  });

  it('constant exponents 0 and 1 differentiate to 0 and 1 where the base is 0 (no 0·0⁻¹ = NaN)', () => {
    const xi = Vi(x);
    const yj = Vj(x); // pairs (i, i): x − y = 0
    for (const [c, slope] of [[0, 0], [1, 1]] as const) {
      const f = xi.sub(yj).sum().pow(c);
      const d = compileScalarJs(partialDerivative(f.node, xi.node as VarNode, 0));
      expect(d(2, 2), `c = ${c}`).toBe(slope);
      expect(d(1, 3), `c = ${c}`).toBeCloseTo(slope, 14);
    }
  });

  it('refuses a non-variable and a direction of the wrong dimension, naming them', () => {
    const xi = Vi(x);
    const f = xi.sub(Vj(y)).sqnorm2();
    expect(() => f.grad(xi.mul(2))).toThrow(/must be a Vi, Vj or Pm/);
    expect(() => gradient(f.node, xi.node as VarNode, Pm([1, 2], 'd').node)).toThrow(/direction has dimension 2/);
    expect(() => partialDerivative(f.node, xi.node as VarNode, 3)).toThrow(/component 3 out of range for 'x'/);
  });
});
