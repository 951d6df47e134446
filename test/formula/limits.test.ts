/**
 * Issue 16 item 12 (explicit limits with clear messages instead of stack overflows) and item 16 (rsqrt(0) = 0,
 * KeOps' definition) in the formula layer: the parser, the node constructors, scalar-ops and the JS oracle.
 */
import { describe, expect, it } from 'vitest';
import { Vi, Vj, type Formula } from '../../src/formula/builder.js';
import { FormulaError } from '../../src/formula/errors.js';
import { MAX_FORMULA_DEPTH } from '../../src/formula/nodes.js';
import { MAX_PARENTHESIS_DEPTH, parseFormula } from '../../src/formula/parse.js';
import { applyUnary } from '../../src/formula/scalar-ops.js';
import { evaluateDenseJs } from '../../src/formula/emit-js.js';
import { keopsRsqrt } from '../large-dimension-cases.js';

const x = Vi([[1], [2]], 'x');
const y = Vj([[0.5], [1.5], [3]], 'y');

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('parser limits', () => {
  const nested = (depth: number) => `${'('.repeat(depth)}x${')'.repeat(depth)} - y`;

  it(`parentheses nested ${MAX_PARENTHESIS_DEPTH} deep parse; one more is refused naming the limit`, () => {
    expect(parseFormula(nested(MAX_PARENTHESIS_DEPTH), { x, y }).node.op).toBe('sub');
    const err = errorOf(() => parseFormula(nested(MAX_PARENTHESIS_DEPTH + 1), { x, y }));
    expect(err).toBeInstanceOf(FormulaError);
    expect(err.message).toContain(`nests parentheses ${MAX_PARENTHESIS_DEPTH + 1} deep; the limit is ${MAX_PARENTHESIS_DEPTH}`);
  });

  it('260 nested parentheses: a clear error, not "Maximum call stack size exceeded"', () => {
    const err = errorOf(() => parseFormula(nested(260), { x, y }));
    expect(err).toBeInstanceOf(FormulaError);
    expect(err.message).not.toContain('call stack');
  });

  it('2,300 chained terms: a FormulaError naming the depth limit, not a bare RangeError', () => {
    const err = errorOf(() => parseFormula(Array.from({ length: 2300 }, () => 'x').join(' + '), { x, y }));
    expect(err).toBeInstanceOf(FormulaError);
    expect(err.message).toContain(`the limit is ${MAX_FORMULA_DEPTH} levels`);
    expect(err.message.length).toBeLessThan(600); // the source is quoted shortened
  });

  it('5,000 unary minus signs: a FormulaError', () => {
    expect(errorOf(() => parseFormula(`${'-'.repeat(5000)}x - y`, { x, y }))).toBeInstanceOf(FormulaError);
  });

  it(`a chain of ${MAX_FORMULA_DEPTH - 1} terms parses and evaluates as the plain sum`, () => {
    const terms = MAX_FORMULA_DEPTH - 1;
    const f = parseFormula(`${Array.from({ length: terms - 1 }, () => 'x').join(' + ')} + y`, { x, y });
    const K = evaluateDenseJs(f.node);
    const xs = [1, 2];
    const ys = [0.5, 1.5, 3];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        let want = 0;
        for (let t = 0; t < terms - 1; t++) want += xs[i]!;
        expect(K[i * 3 + j]).toBe(want + ys[j]!);
      }
    }
  });

  it('the builder refuses a formula deeper than the limit where it is built', () => {
    let f: Formula = x.sub(y);
    for (let t = 1; t < MAX_FORMULA_DEPTH - 1; t++) f = f.add(x);
    const err = errorOf(() => f.add(y).add(x));
    expect(err).toBeInstanceOf(FormulaError);
    expect(err.message).toContain(`the limit is ${MAX_FORMULA_DEPTH}`);
  });
});

describe('rsqrt(0) = 0 (KeOps)', () => {
  it('scalar-ops and constant folding follow KeOps on 0, −0, +∞, negatives and positives', () => {
    for (const v of [0, -0, Infinity, -4, 1e-300, 0.25, 4, 1e300]) {
      const want = v < 0 ? NaN : keopsRsqrt(v);
      expect(applyUnary('rsqrt', v)).toBe(want);
    }
    expect(parseFormula('rsqrt(0) + x - y', { x, y }).toString()).toBe('x - y'); // folded 0 + x → x
  });

  it('the JS oracle: the Coulomb kernel rsqrt(|x − y|²) is 0 at coinciding points', () => {
    const pts = [[0], [1], [4]];
    const K = evaluateDenseJs(Vi(pts).sub(Vj(pts)).sqnorm2().rsqrt().node);
    expect(Array.from(K)).toEqual([0, 1, 0.25, 1, 0, 1 / 3, 0.25, 1 / 3, 0]);
  });
});
