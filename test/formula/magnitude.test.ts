/**
 * magnitudeBound / largestIntermediateBound (src/formula/magnitude.ts): upper bounds of |F| from the bound data, checked
 * against the values themselves (evaluateDenseJs) and against what the analysis must not claim.
 */
import { describe, expect, it } from 'vitest';
import { Vi, Vj } from '../../src/formula/builder.js';
import { parseFormula } from '../../src/formula/parse.js';
import { evaluateDenseJs } from '../../src/formula/emit-js.js';
import { largestIntermediateBound, magnitudeBound } from '../../src/formula/magnitude.js';

const x = Vi([[0.5, -2], [3, 1], [-1, 0.25]], 'x');
const y = Vj([[1, 1], [-4, 2]], 'y');

describe('magnitudeBound', () => {
  it('bounds every value of formulas built from bounded operations', () => {
    for (const text of ['sqnorm2(x - y)', 'exp(-sqnorm2(x - y) / 2)', 'dot(x, y) * 3 + 1', 'norm2(x - y) ^ 3', 'sin(dot(x, y)) * exp(sum(x))',
      'sum(max(abs(x - y), 2)) * 0.5', 'dot(x, y) * rsqrt(sqnorm2(x)) * rsqrt(sqnorm2(y))']) {
      const F = parseFormula(text, { x, y });
      const bound = magnitudeBound(F.node);
      expect(Number.isFinite(bound)).toBe(true);
      for (const v of evaluateDenseJs(F.node)) expect(Math.abs(v)).toBeLessThanOrEqual(bound * (1 + 1e-12));
    }
  });
  it('claims nothing where the operands do not bound the result (a division by a variable, log, an inverse)', () => {
    for (const text of ['1 / sqnorm2(x - y)', 'log(sqnorm2(x - y))', 'dot(x, y) ^ -1', 'rsqrt(sqnorm2(x - y))', 'x / y']) {
      expect(largestIntermediateBound(parseFormula(text, { x, y }).node)).toBe(Infinity);
    }
  });
  it('sees an intermediate value beyond float32 even where the result is small', () => {
    const F = parseFormula('exp(10 * dot(x, y)) * 0', { x, y }); // |dot| ≤ 24 here: e^240 on the way
    expect(magnitudeBound(F.node)).toBe(0);
    expect(largestIntermediateBound(F.node)).toBeGreaterThan(1e38);
  });
  it('a rsqrt of a variable\'s norm is bounded only where no row\'s |v|² underflows float32', () => {
    const tiny = Vi([[1e-30, 0], [0, 0]], 'x');
    expect(largestIntermediateBound(parseFormula('rsqrt(sqnorm2(x))', { x: tiny }).node)).toBe(Infinity);
    // a zero row is fine: rsqrt(0) is 0
    expect(magnitudeBound(parseFormula('rsqrt(sqnorm2(x))', { x: Vi([[3, 4], [0, 0]], 'x') }).node)).toBeCloseTo(0.2, 15);
  });
});
