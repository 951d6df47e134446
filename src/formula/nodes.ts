/**
 * Smart constructors for the AST: the only way the rest of the library builds nodes. They check
 * dimensions at construction time (so a mismatch is reported where the formula is written, not at
 * the first product) and fold a few constant patterns. Folding is deliberately modest: only
 * rewrites that are exact for every input, NaN and ±Infinity included:
 *  - op(const, …, const) → const, when the result is finite (log(0) stays a node, so its meaning
 *    is unchanged and the constant invariant "finite" holds);
 *  - x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1, x ^ 1 → x  (x + 0 → x differs only for x = -0,
 *    which then stays -0 instead of becoming +0: harmless for every kernel);
 *  - 0 - x → -x, neg(neg(x)) → x;
 *  - reductions of a scalar: sum(x) → x, sqnorm2(x) → square(x), norm2(x) → abs(x);
 *    dot(a, b) of scalars → a * b.
 * x * 0 and x ^ 0 are NOT folded (NaN·0 is NaN; and the result may need to stay a vector).
 */
import type {
  BinaryNode, BinaryOp, BoundData, ConstNode, DotNode, Node, ReduceNode, ReduceOp, UnaryNode,
  UnaryOp, VarCategory, VarNode,
} from './ast.js';
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS } from './ast.js';
import { FormulaError } from './errors.js';
import { describeNode } from './print.js';
import { applyBinary, applyReduce, applyUnary } from './scalar-ops.js';

/**
 * Deepest formula tree accepted (a chain a + b + c + … of N terms is N levels deep). Every consumer of the tree
 * (emitters, keys, printing) recurses over it; this bound keeps them far from the call-stack limit, so a too
 * deep formula is refused here, where it is built, with this limit named.
 */
export const MAX_FORMULA_DEPTH = 1000;

const depths = new WeakMap<Node, number>();

/** Levels of the tree below and including `n` (memoised: each constructor asks only its children). */
export function formulaDepth(n: Node): number {
  return depths.get(n) ?? 1; // leaves are not recorded
}

/** Records the depth of a new inner node, refusing trees deeper than MAX_FORMULA_DEPTH. */
function checked<T extends Node>(node: T, ...operands: Node[]): T {
  const depth = 1 + Math.max(...operands.map(formulaDepth));
  if (depth > MAX_FORMULA_DEPTH) {
    throw new FormulaError(
      `formula too deep: ${depth} nested operations (a chain a + b + c + … counts one level per term); the limit is ${MAX_FORMULA_DEPTH}. ` +
      'Sum long lists of terms as a vector (sum, dot) or in several operators',
    );
  }
  depths.set(node, depth);
  return node;
}

export function constant(value: number): ConstNode {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new FormulaError(`constant must be a finite number (got ${String(value)})`);
  }
  return Object.freeze({ op: 'const', dim: 1, value });
}

export function variable(cat: VarCategory, name: string, value: BoundData): VarNode {
  if (cat !== 'i' && cat !== 'j' && cat !== 'p') {
    throw new FormulaError(`variable category must be 'i', 'j' or 'p' (got ${String(cat)})`);
  }
  if (typeof name !== 'string') throw new FormulaError('variable name must be a string');
  if (!Number.isInteger(value.cols) || value.cols < 1) {
    throw new FormulaError(`${name}: variable dimension must be ≥ 1 (got ${value.cols})`);
  }
  if (value.data.length !== value.rows * value.cols) {
    throw new FormulaError(
      `${name}: bound data has length ${value.data.length}, expected rows·cols = ${value.rows * value.cols}`,
    );
  }
  if (cat === 'p' && value.rows !== 1) {
    throw new FormulaError(`${name}: a parameter is bound to one row (got ${value.rows})`);
  }
  return Object.freeze({ op: 'var', cat, name, dim: value.cols, value });
}

function isConst(n: Node, v?: number): n is ConstNode {
  return n.op === 'const' && (v === undefined || n.value === v);
}

/** Fold to a constant when the value is finite; otherwise keep the node (see module comment). */
function foldedOr(value: number, build: () => Node): Node {
  return Number.isFinite(value) ? constant(value) : build();
}

export function unary(op: UnaryOp, a: Node): Node {
  if (!(UNARY_OPS as readonly string[]).includes(op)) {
    throw new FormulaError(`unknown unary operator '${String(op)}'; allowed: ${UNARY_OPS.join(', ')}`);
  }
  const build = (): UnaryNode => checked(Object.freeze({ op, dim: a.dim, arg: a }), a);
  if (isConst(a)) return foldedOr(applyUnary(op, a.value), build);
  if (op === 'neg' && a.op === 'neg') return (a as UnaryNode).arg;
  return build();
}

function checkBroadcast(op: string, a: Node, b: Node): number {
  if (a.dim === b.dim || b.dim === 1) return a.dim;
  if (a.dim === 1) return b.dim;
  throw new FormulaError(
    `${op}: dimension mismatch between ${describeNode(a)} (dim ${a.dim}) and ${describeNode(b)} (dim ${b.dim})`,
  );
}

export function binary(op: BinaryOp, a: Node, b: Node): Node {
  if (!(BINARY_OPS as readonly string[]).includes(op)) {
    throw new FormulaError(`unknown binary operator '${String(op)}'; allowed: ${BINARY_OPS.join(', ')}`);
  }
  const dim = checkBroadcast(op, a, b);
  const build = (): BinaryNode => checked(Object.freeze({ op, dim, left: a, right: b }), a, b);
  if (isConst(a) && isConst(b)) return foldedOr(applyBinary(op, a.value, b.value), build);
  // Identity rewrites: the surviving operand has the result's dimension because the constant is a scalar.
  switch (op) {
    case 'add':
      if (isConst(b, 0)) return a;
      if (isConst(a, 0)) return b;
      break;
    case 'sub':
      if (isConst(b, 0)) return a;
      if (isConst(a, 0)) return unary('neg', b);
      break;
    case 'mul':
      if (isConst(b, 1)) return a;
      if (isConst(a, 1)) return b;
      break;
    case 'div':
    case 'pow':
      if (isConst(b, 1)) return a;
      break;
    default:
      break;
  }
  return build();
}

export function reduce(op: ReduceOp, a: Node): Node {
  if (!(REDUCE_OPS as readonly string[]).includes(op)) {
    throw new FormulaError(`unknown reduction '${String(op)}'; allowed: ${REDUCE_OPS.join(', ')}`);
  }
  if (isConst(a)) return foldedOr(applyReduce(op, [a.value]), () => build());
  if (a.dim === 1) {
    if (op === 'sum') return a;
    return unary(op === 'sqnorm2' ? 'square' : 'abs', a);
  }
  return build();
  function build(): ReduceNode {
    return checked(Object.freeze({ op, dim: 1, arg: a }), a);
  }
}

export function dot(a: Node, b: Node): Node {
  if (a.dim !== b.dim) {
    throw new FormulaError(
      `dot: dimension mismatch between ${describeNode(a)} (dim ${a.dim}) and ${describeNode(b)} (dim ${b.dim})`,
    );
  }
  if (a.dim === 1) return binary('mul', a, b);
  const node: DotNode = checked(Object.freeze({ op: 'dot', dim: 1, left: a, right: b }), a, b);
  return node;
}
