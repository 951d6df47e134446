/**
 * Readable infix text for a formula tree, e.g. `exp(-(sqnorm2(x - y)) * g)`. The output parses
 * back with `parseFormula` (given a scope with the same names) into the same structure, because
 * the right operand of an operator of equal precedence is always parenthesised.
 */
import type { Node } from './ast.js';
import { isBinary, isReduce, isUnary } from './ast.js';
import { FormulaError } from './errors.js';

const INFIX: Partial<Record<string, { symbol: string; prec: number }>> = {
  add: { symbol: '+', prec: 1 },
  sub: { symbol: '-', prec: 1 },
  mul: { symbol: '*', prec: 2 },
  div: { symbol: '/', prec: 2 },
  pow: { symbol: '^', prec: 4 },
};
const PREC_UNARY_MINUS = 3;
const PREC_ATOM = 5;

/** Shortest round-trippable text of a finite number (`-0` kept). */
export function formatNumber(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

function precedence(n: Node): number {
  if (n.op === 'const') return n.value < 0 || Object.is(n.value, -0) ? PREC_UNARY_MINUS : PREC_ATOM;
  if (n.op === 'neg') return PREC_UNARY_MINUS;
  return INFIX[n.op]?.prec ?? PREC_ATOM;
}

/** Text longer than this is refused (`formatNode`): a formula sharing subformulas can have exponentially many paths. */
export const MAX_FORMULA_TEXT = 1 << 24;

/** Raised inside `write` once the text passes its limit. */
class TextLimit extends Error {}

/** Appends the text of `n` to `out`, stopping (TextLimit) once it exceeds `limit` characters. */
function write(n: Node, out: { parts: string[]; length: number; limit: number }): void {
  const put = (t: string): void => {
    out.parts.push(t);
    out.length += t.length;
    if (out.length > out.limit) throw new TextLimit();
  };
  const go = (m: Node, parens = false): void => {
    if (parens) put('(');
    if (m.op === 'var') put(m.name);
    else if (m.op === 'const') put(formatNumber(m.value));
    else if (m.op === 'neg') {
      put('-');
      go(m.arg, !(m.arg.op === 'var' || (m.arg.op === 'const' && m.arg.value >= 0)));
    } else if (isUnary(m) || isReduce(m)) {
      put(`${m.op}(`);
      go(m.arg);
      put(')');
    } else if (m.op === 'dot' || (isBinary(m) && INFIX[m.op] === undefined)) {
      put(`${m.op}(`);
      go(m.left);
      put(', ');
      go(m.right);
      put(')');
    } else if (isBinary(m)) {
      const infix = INFIX[m.op]!;
      const lp = precedence(m.left);
      const rp = precedence(m.right);
      // `^` is right-associative and binds tighter than unary minus (-x^2 = -(x^2)).
      go(m.left, m.op === 'pow' ? lp <= infix.prec : lp < infix.prec);
      put(` ${infix.symbol} `);
      go(m.right, rp <= infix.prec);
    } else put('?');
    if (parens) put(')');
  };
  go(n);
}

/** Nodes on all of `n`'s paths, the tree's size written out (memoised per distinct node; exact till 2^53). */
function pathNodes(n: Node, memo: Map<Node, number>): number {
  let c = memo.get(n);
  if (c === undefined) {
    c = 1;
    if (isUnary(n) || isReduce(n)) c += pathNodes(n.arg, memo);
    else if (isBinary(n) || n.op === 'dot') c += pathNodes(n.left, memo) + pathNodes(n.right, memo);
    memo.set(n, c);
  }
  return c;
}

/** The formula's infix text; a FormulaError past `MAX_FORMULA_TEXT` characters (written out, shared subformulas repeat). */
export function formatNode(n: Node): string {
  const out = { parts: [] as string[], length: 0, limit: MAX_FORMULA_TEXT };
  try {
    // each node on each path writes ≥ 1 character: count the paths first (per distinct node) and refuse at once
    if (pathNodes(n, new Map()) > MAX_FORMULA_TEXT) throw new TextLimit();
    write(n, out);
  } catch (e) {
    if (!(e instanceof TextLimit)) throw e;
    throw new FormulaError(
      `the formula's text is longer than ${MAX_FORMULA_TEXT} characters (its shared subformulas written out on every path); describeNode(node) gives its beginning`,
    );
  }
  return out.parts.join('');
}

/** Short description of an operand for error messages (only its first characters are written). */
export function describeNode(n: Node, maxLength = 60): string {
  const out = { parts: [] as string[], length: 0, limit: maxLength };
  try {
    write(n, out);
    return out.parts.join('');
  } catch (e) {
    if (!(e instanceof TextLimit)) throw e;
    return `${out.parts.join('').slice(0, maxLength - 1)}…`;
  }
}
