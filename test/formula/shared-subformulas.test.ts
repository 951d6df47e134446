/**
 * A formula that reuses a subformula is a DAG: `t = t.add(t)` 24 times is 26 nodes but 2²⁴ paths. Everything that
 * names or compiles a formula must cost what its distinct nodes cost — before, the cache key, the symmetry check, the
 * operator's label and the CPU emitter wrote texts along every path: 20 doublings took 8 s to a first product, 24 died
 * with "Invalid string length" (a seventh-session finding). References: the same formula's products are 2²⁴ times the
 * Gaussian kernel's, and a key equals the key of the same structure built without sharing.
 */
import { describe, expect, it } from 'vitest';
import { Vi, Vj, type Formula } from '../../src/formula/builder.js';
import { collectVariables, formulaKey } from '../../src/formula/analyze.js';
import { FormulaError } from '../../src/formula/errors.js';
import { MAX_FORMULA_TEXT, describeNode, formatNode } from '../../src/formula/print.js';
import { isStructurallySymmetric } from '../../src/formula/symmetry.js';
import { evaluateDenseJs } from '../../src/formula/emit-js.js';
import { emitReductionProgram } from '../../src/cpu/wasm-emit.js';
import { kernelOperator, matvecWithVjp } from '../../src/index.js';
import { seededPoints } from '../random-data.js';

const pts = seededPoints(3, 40, 3);
const x = Vi(pts, 'x');
const y = Vj(pts, 'y');
const gauss = x.sub(y).sqnorm2().neg().exp();
const doubled = (f: Formula, times: number): Formula => {
  let t = f;
  for (let k = 0; k < times; k++) t = t.add(t);
  return t;
};
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let k = 0; k < a.length; k++) {
    num = Math.max(num, Math.abs(a[k]! - b[k]!));
    den = Math.max(den, Math.abs(b[k]!));
  }
  return num / den;
};

describe('formulas sharing subformulas (DAGs) cost their distinct nodes', () => {
  const big = doubled(gauss, 24);

  it('the cache key is short, canonical, and the same as for the structure written without sharing', () => {
    const key = formulaKey(big.node);
    expect(key.length).toBeLessThan(400);
    // sharing is not structure: (g + g) + (g + g) built from separate nodes has the key of doubled(g, 2)
    const g = () => x.sub(y).sqnorm2().neg().exp();
    const separate = g().add(g()).add(g().add(g()));
    expect(formulaKey(separate.node)).toBe(formulaKey(doubled(gauss, 2).node));
    expect(formulaKey(doubled(gauss, 2).node)).toBe('add(add(exp(neg(sqnorm2(sub(i0:3,j0:3)))),@3),@4)');
    // a formula with no repeated subformula keeps its plain nested text
    expect(formulaKey(gauss.node)).toBe('exp(neg(sqnorm2(sub(i0:3,j0:3))))');
    // different structures keep different keys
    expect(formulaKey(doubled(gauss, 23).node)).not.toBe(key);
    expect(formulaKey(gauss.add(gauss.mul(2)).node)).not.toBe(formulaKey(doubled(gauss, 1).node));
  });

  it('the symmetry check and the operator label are immediate; the full text is refused by name past its limit', () => {
    expect(isStructurallySymmetric(big.node)).toBe(true);
    expect(isStructurallySymmetric(doubled(x.sub(y).sum(), 20).node)).toBe(false);
    expect(describeNode(big.node)).toMatch(/^exp\(-\(sqnorm2\(x - y\)\)\) \+ .*…$/);
    expect(() => formatNode(big.node)).toThrow(FormulaError);
    expect(() => formatNode(big.node)).toThrow(String(MAX_FORMULA_TEXT));
    expect(formatNode(doubled(gauss, 1).node)).toBe('exp(-(sqnorm2(x - y))) + exp(-(sqnorm2(x - y)))');
  });

  it('the CPU program is as small as for one copy, and its products (and the JS oracle) are 2^24 times the Gaussian', async () => {
    const one = emitReductionProgram(gauss.node, collectVariables(gauss.node), { dtype: 'float64', columns: 1, layout: 'full' });
    const many = emitReductionProgram(big.node, collectVariables(big.node), { dtype: 'float64', columns: 1, layout: 'full' });
    expect(many.wat.length).toBeLessThan(one.wat.length * 2);
    const v = Float64Array.from({ length: pts.length }, (_, k) => Math.cos(k));
    const K = kernelOperator(big, { backend: 'cpu' });
    const G = kernelOperator(gauss, { backend: 'cpu' });
    const want = (await G.matvec(v)).map((w) => w * 2 ** 24);
    expect(relErr(await K.matvec(v), want)).toBeLessThan(1e-13);
    const dense = evaluateDenseJs(big.node);
    expect(dense[0]).toBe(2 ** 24);
    expect(relErr(dense, evaluateDenseJs(gauss.node).map((w) => w * 2 ** 24))).toBeLessThan(1e-13);
    K.dispose();
    G.dispose();
  });

  it('gradients (VJP through the formula\'s derivative) are 2^24 times the Gaussian\'s', async () => {
    const v = Float64Array.from({ length: pts.length }, (_, k) => Math.sin(k + 1));
    const K = kernelOperator(big, { backend: 'cpu' });
    const G = kernelOperator(gauss, { backend: 'cpu' });
    const a = await matvecWithVjp(K, v);
    const b = await matvecWithVjp(G, v);
    const u = Float64Array.from({ length: pts.length }, (_, k) => 1 / (k + 1));
    const ga = await a.vjp(u);
    const gb = await b.vjp(u);
    expect(relErr(ga.x.to1DArray(), gb.x.to1DArray().map((w) => w * 2 ** 24))).toBeLessThan(1e-12);
    K.dispose();
    G.dispose();
  });

  it('a product of 40 factors of unknown sign: the sign facts (which ask both operands, both signs) are memoised', async () => {
    // before: 2^d steps deciding whether exp's argument is ≤ 0 — d = 22 took 0.7 s, d = 40 would run for hours
    const v = x.sub(y).sum();
    let f = v.mul(0.05).add(1);
    for (let k = 1; k < 40; k++) f = f.mul(v.mul(0.05).add(1 + k * 1e-3));
    const k40 = f.neg().exp();
    const K = kernelOperator(k40, { backend: 'cpu' });
    const u = Float64Array.from({ length: pts.length }, (_, k) => Math.cos(k));
    const dense = evaluateDenseJs(k40.node);
    const want = Array.from({ length: pts.length }, (_, i) => u.reduce((s, uj, j) => s + dense[i * pts.length + j]! * uj, 0));
    expect(relErr(await K.matvec(u), want)).toBeLessThan(1e-12);
    K.dispose();
  });
});
