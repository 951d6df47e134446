/**
 * Symbolic derivatives of the formula AST (reverse mode, KeOps' `Grad`): the adjoint of every variable of a
 * formula, built as formulas through the checking constructors of `nodes.ts` — so constants fold and the 0/1
 * identities apply — and compiled by every backend like any formula.
 *
 * A structurally zero adjoint is never built: a subtree that does not depend on the targets gets nothing, so
 * `d/dx exp(-sqnorm2(x - y)/2)` is `exp(…) · (-(1/2)·2(x - y))`, with no `0 · …` terms left (x·0 is not folded
 * by nodes.ts, NaN·0 being NaN).
 *
 * Non-smooth points get a subgradient, finite everywhere:
 *  - norm2(a) at a = 0: a/|a| is 0/0 there; written a / (|a| + 1 − sign(|a|)), exact for |a| > 0 and 0 at a = 0
 *    (the Laplacian and Matérn kernels' gradient at r = 0 is the subgradient 0);
 *  - abs, sign, step, relu, min, max: the derivative of the branch taken (sign' = step' = 0, abs'(0) = 0, relu'(0) = 1,
 *    min/max at a tie: all to the first operand);
 *  - rsqrt (rsqrt(0) = 0, KeOps): −rsqrt(a)³/2, 0 at a = 0; sqrt: 1/(2·sqrt(a)), infinite at 0 as the derivative is —
 *    write kernels in r² (sqnorm2) or use norm2, whose rule above is safe.
 */
import type { BinaryNode, DotNode, Node, ReduceNode, UnaryNode, VarNode } from './ast.js';
import { isBinary, isReduce, isUnary } from './ast.js';
import { StructureIds, children } from './analyze.js';
import { formatNumber } from './print.js';
import { FormulaError } from './errors.js';
import { binary, constant, dot, reduce, unary, variable } from './nodes.js';

type Adjoint = Node | undefined;

const add = (a: Adjoint, b: Adjoint): Adjoint => (a === undefined ? b : b === undefined ? a : binary('add', a, b));
const mul = (a: Node, b: Node | number): Node => binary('mul', a, typeof b === 'number' ? constant(b) : b);
const neg = (a: Node): Node => unary('neg', a);

/** A constant vector parameter (ones, unit vectors): the AST has scalar constants only. */
function constantVector(values: Float64Array, name: string): Node {
  return variable('p', name, Object.freeze({ data: values, rows: 1, cols: values.length }));
}

/**
 * `g`, the contribution of a node of dimension `parentDim` to a child of dimension `dim`, as the child's adjoint. A
 * scalar child broadcast over a vector parent gets the sum of the parent's components: a vector `g` is summed, and a
 * scalar `g` (standing for the constant vector g·1) counts parentDim times.
 */
function fitTo(g: Node, dim: number, parentDim: number): Node {
  if (dim !== 1) return g;
  if (g.dim > 1) return reduce('sum', g);
  return parentDim > 1 ? mul(g, parentDim) : g;
}

/** The nodes of `root` in post-order (children first), each once. */
function postOrder(root: Node): Node[] {
  const out: Node[] = [];
  const seen = new Set<Node>();
  const visit = (n: Node): void => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const c of children(n)) visit(c);
    out.push(n);
  };
  visit(root);
  return out;
}

/**
 * The nodes of `order` that depend on one of `targets` (order is children-first). A difference a − a (the same
 * structure on both sides) is 0 wherever a is finite, whatever the targets: it depends on none, so no adjoint flows
 * through it — else d/dx sqrt(|x − x|) is the NaN (1/(2·√0))·sign(0)·(1 − 1) = ∞·0 where the function is constant.
 */
function dependents(order: readonly Node[], targets: ReadonlySet<VarNode>): Set<Node> {
  const out = new Set<Node>();
  const vars = new Map<VarNode, number>(); // variables by identity: two variables may hold different points
  const structure = new StructureIds((leaf) => {
    if (leaf.op === 'const') return `#${formatNumber(leaf.value)}`;
    if (!vars.has(leaf)) vars.set(leaf, vars.size);
    return `v${vars.get(leaf)}`;
  });
  for (const n of order) {
    if (n.op === 'sub' && structure.id((n as BinaryNode).left) === structure.id((n as BinaryNode).right)) continue;
    if (n.op === 'var' ? targets.has(n) : children(n).some((c) => out.has(c))) out.add(n);
  }
  return out;
}

/** The adjoint contributions of node `n` (value `n` itself, adjoint `g`) to its children, as [child, contribution]. */
function localRule(n: Node, g: Node): Array<[Node, Node]> {
  if (isUnary(n)) {
    const c = unaryRule(n, g);
    return c === undefined ? [] : [[n.arg, c]];
  }
  if (isReduce(n)) return [[n.arg, reduceRule(n, g)]];
  if (n.op === 'dot') {
    const d = n as DotNode;
    return [[d.left, mul(d.right, g)], [d.right, mul(d.left, g)]];
  }
  if (isBinary(n)) return binaryRule(n as BinaryNode, g);
  return [];
}

/** The adjoint of a unary node's argument; undefined where the derivative is 0 (sign, step). */
function unaryRule(n: UnaryNode, g: Node): Node | undefined {
  const a = n.arg;
  switch (n.op) {
    case 'neg': return neg(g);
    case 'exp': return mul(g, n);
    case 'log': return binary('div', g, a);
    case 'sqrt': return binary('div', mul(g, 0.5), n);
    case 'rsqrt': return mul(g, mul(unary('square', n), mul(n, -0.5))); // −½·a^(−3/2), 0 where rsqrt(0) = 0
    case 'abs': return mul(g, unary('sign', a));
    case 'square': return mul(g, mul(a, 2));
    case 'inv': return neg(mul(g, unary('square', n)));
    case 'sin': return mul(g, unary('cos', a));
    case 'cos': return neg(mul(g, unary('sin', a)));
    case 'tanh': return mul(g, binary('sub', constant(1), unary('square', n)));
    case 'sign':
    case 'step': return undefined;
    case 'relu': return mul(g, unary('step', a));
    case 'sinxdivx': {
      // (cos a − sin(a)/a)/a, with the denominator 1 where a = 0 (there the numerator is 1 − 1 = 0: the slope 0)
      const safe = binary('add', a, binary('sub', constant(1), unary('abs', unary('sign', a))));
      return mul(g, binary('div', binary('sub', unary('cos', a), n), safe));
    }
    case 'log1p': return binary('div', g, binary('add', a, constant(1)));
    case 'expm1': return mul(g, binary('add', n, constant(1)));
  }
}

function reduceRule(n: ReduceNode, g: Node): Node {
  const a = n.arg;
  switch (n.op) {
    case 'sum': return g; // a scalar adjoint broadcasts over a's components
    case 'sqnorm2': return mul(a, mul(g, 2));
    case 'norm2': {
      // a/|a|, with the denominator 1 where |a| = 0 (then a = 0: the subgradient 0)
      const safe = binary('add', n, binary('sub', constant(1), unary('sign', n)));
      return mul(binary('div', a, safe), g);
    }
  }
}

function binaryRule(n: BinaryNode, g: Node): Array<[Node, Node]> {
  const { left: a, right: b } = n;
  switch (n.op) {
    case 'add': return [[a, g], [b, g]];
    case 'sub': return [[a, g], [b, neg(g)]];
    case 'mul': return [[a, mul(g, b)], [b, mul(g, a)]];
    case 'div': return [[a, binary('div', g, b)], [b, neg(binary('div', mul(g, n), b))]];
    case 'pow': return powRule(n, g);
    case 'atan2': {
      // ∂/∂y = x/(x² + y²), ∂/∂x = −y/(x² + y²) (a = y, b = x)
      const r2 = binary('add', unary('square', a), unary('square', b));
      return [[a, mul(g, binary('div', b, r2))], [b, neg(mul(g, binary('div', a, r2)))]];
    }
    // the halves of ifelse: the taken branch gets the adjoint, the condition none (piecewise constant)
    case 'ifnonneg':
    case 'ifneg': return [[b, binary(n.op, a, g)]];
    case 'min':
    case 'max': {
      // the first operand where it is the one taken (ties included)
      const first = unary('step', n.op === 'min' ? binary('sub', b, a) : binary('sub', a, b));
      return [[a, mul(g, first)], [b, mul(g, binary('sub', constant(1), first))]];
    }
  }
}

function powRule(n: BinaryNode, g: Node): Array<[Node, Node]> {
  const { left: a, right: b } = n;
  // d/da a^c = c·a^(c−1), with the constant exponent folded (a^2 → 2a); c = 0 and 1 folded too, since at a = 0
  // c·a^(c−1) would be 0·∞ = NaN (c = 0) and pow(0, 0) is NaN in WGSL (c = 1)
  const constantSlope = (c: number): Node =>
    c === 0 ? mul(g, 0) : c === 1 ? g : mul(g, c === 2 ? mul(a, 2) : mul(binary('pow', a, constant(c - 1)), c));
  const base = b.op === 'const'
    ? constantSlope(b.value)
    : mul(g, mul(b, binary('pow', a, binary('sub', b, constant(1)))));
  return [[a, base], [b, mul(g, mul(n, unary('log', a)))]];
}

/**
 * The adjoints ∂(seed·F)/∂v of the variables `targets` of formula `root` (seed: the adjoint of F, of F's dimension
 * or a scalar; default 1), as formulas of each target's dimension; a target F does not depend on maps to undefined.
 */
export function gradients(root: Node, targets: readonly VarNode[], seed: Node = constant(1)): Map<VarNode, Node | undefined> {
  if (seed.dim !== 1 && seed.dim !== root.dim) {
    throw new FormulaError(`grad: the direction has dimension ${seed.dim}, the formula ${root.dim} (or give a scalar)`);
  }
  const order = postOrder(root);
  const live = dependents(order, new Set(targets));
  const adjoint = new Map<Node, Node>();
  if (live.has(root)) adjoint.set(root, seed);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    const g = adjoint.get(n);
    if (g === undefined || n.op === 'var') continue;
    for (const [child, contribution] of localRule(n, g)) {
      if (!live.has(child)) continue;
      adjoint.set(child, add(adjoint.get(child), fitTo(contribution, child.dim, n.dim))!);
    }
  }
  return new Map(targets.map((v) => [v, adjoint.get(v) && broadcastTo(adjoint.get(v)!, v.dim)]));
}

/** A scalar adjoint of a vector variable as the vector it stands for (g·1). */
function broadcastTo(g: Node, dim: number): Node {
  return g.dim === dim ? g : mul(constantVector(new Float64Array(dim).fill(1), 'ones'), g);
}

/** ∂F/∂v as a formula of v's dimension (zero where F does not depend on v). */
export function gradient(root: Node, target: VarNode, seed?: Node): Node {
  return gradients(root, [target], seed).get(target) ?? zeros(target.dim);
}

/** ∂F/∂v_k (component k of v; k = 0 for a scalar v) as a scalar formula: the gradient's k-th entry, dot(∇F, e_k). */
export function partialDerivative(root: Node, target: VarNode, component = 0): Node {
  if (root.dim !== 1) throw new FormulaError(`partialDerivative: the formula must be scalar, got dimension ${root.dim}`);
  if (!Number.isInteger(component) || component < 0 || component >= target.dim) {
    throw new FormulaError(`partialDerivative: component ${component} out of range for '${target.name}' of dimension ${target.dim}`);
  }
  const g = gradients(root, [target]).get(target);
  if (g === undefined) return constant(0);
  return target.dim === 1 ? g : dot(g, unitVector(target.dim, component));
}

/** e_k of dimension d, a parameter: one compiled program serves every k (formulaKey ignores bound values). */
export function unitVector(d: number, k: number): Node {
  const e = new Float64Array(d);
  e[k] = 1;
  return constantVector(e, `e${k}`);
}

function zeros(dim: number): Node {
  return dim === 1 ? constant(0) : constantVector(new Float64Array(dim), 'zeros');
}
