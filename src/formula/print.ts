/**
 * Readable infix text for a formula tree, e.g. `exp(-(sqnorm2(x - y)) * g)`. The output parses
 * back with `parseFormula` (given a scope with the same names) into the same structure, because
 * the right operand of an operator of equal precedence is always parenthesised.
 */
import type { Node } from './ast.js';
import { isBinary, isReduce, isUnary } from './ast.js';

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

function wrap(text: string, needed: boolean): string {
  return needed ? `(${text})` : text;
}

export function formatNode(n: Node): string {
  if (n.op === 'var') return n.name;
  if (n.op === 'const') return formatNumber(n.value);
  if (n.op === 'neg') {
    const arg = formatNode(n.arg);
    return n.arg.op === 'var' || (n.arg.op === 'const' && n.arg.value >= 0) ? `-${arg}` : `-(${arg})`;
  }
  if (isUnary(n) || isReduce(n)) return `${n.op}(${formatNode(n.arg)})`;
  if (n.op === 'dot') return `dot(${formatNode(n.left)}, ${formatNode(n.right)})`;
  if (isBinary(n)) {
    const infix = INFIX[n.op];
    if (infix === undefined) return `${n.op}(${formatNode(n.left)}, ${formatNode(n.right)})`;
    const lp = precedence(n.left);
    const rp = precedence(n.right);
    // `^` is right-associative and binds tighter than unary minus (-x^2 = -(x^2)).
    const leftNeedsParens = n.op === 'pow' ? lp <= infix.prec : lp < infix.prec;
    const rightNeedsParens = rp <= infix.prec;
    return `${wrap(formatNode(n.left), leftNeedsParens)} ${infix.symbol} ${wrap(formatNode(n.right), rightNeedsParens)}`;
  }
  return '?';
}

/** Short description of an operand for error messages. */
export function describeNode(n: Node, maxLength = 60): string {
  const text = formatNode(n);
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
}
