/**
 * The typed formula AST: the one source every backend compiles (WASM/JS on the CPU, WGSL on
 * the GPU, symbolic derivatives for gradients).
 *
 * A formula is a tree over three kinds of variables, as in KeOps:
 *  - `i` variables: one row per output index i (the points x_i), bound to an n×d array;
 *  - `j` variables: one row per reduced index j (the points y_j), bound to an m×d array;
 *  - `p` parameters: the same value for every pair (σ, γ, …), bound to a scalar or small vector.
 * Every node has a static dimension `dim` (1 for scalars). Element-wise operators broadcast a
 * scalar against a vector; `sqnorm2`, `norm2`, `sum` and `dot` reduce a vector to a scalar.
 *
 * Nodes are plain immutable objects, so emitters are pure functions of the tree. Variables carry
 * their binding (`data`) so that a formula plus its variables is a complete symbolic matrix; the
 * emitted code never depends on the bound values, only on `slot` and `dim` (see `formulaKey`).
 */

export type VarCategory = 'i' | 'j' | 'p';

/** Functions of one argument, applied element-wise. */
export const UNARY_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'square', 'inv', 'sin', 'cos', 'tanh',
  'sign', 'step', 'relu', 'sinxdivx', 'log1p', 'expm1',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Functions of two arguments, applied element-wise with scalar broadcast. */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'pow', 'min', 'max', 'atan2', 'ifnonneg', 'ifneg'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Reductions of one vector argument to a scalar. */
export const REDUCE_OPS = ['sqnorm2', 'norm2', 'sum'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

/** Row-major numeric data bound to an `i`/`j` variable (rows×cols) or a parameter (1×cols). */
export interface BoundData {
  readonly data: Float64Array;
  readonly rows: number;
  readonly cols: number;
}

export interface VarNode {
  readonly op: 'var';
  readonly cat: VarCategory;
  /** Name used in string formulas and in messages (`x`, `y`, `sigma`). */
  readonly name: string;
  readonly dim: number;
  /** The bound values (n×dim for `i`, m×dim for `j`, 1×dim for `p`). */
  readonly value: BoundData;
}

export interface ConstNode {
  readonly op: 'const';
  readonly dim: 1;
  readonly value: number;
}

export interface UnaryNode {
  readonly op: UnaryOp;
  readonly dim: number;
  readonly arg: Node;
}

export interface BinaryNode {
  readonly op: BinaryOp;
  readonly dim: number;
  readonly left: Node;
  readonly right: Node;
}

export interface ReduceNode {
  readonly op: ReduceOp;
  readonly dim: 1;
  readonly arg: Node;
}

export interface DotNode {
  readonly op: 'dot';
  readonly dim: 1;
  readonly left: Node;
  readonly right: Node;
}

export type Node = VarNode | ConstNode | UnaryNode | BinaryNode | ReduceNode | DotNode;

export function isUnary(n: Node): n is UnaryNode {
  return (UNARY_OPS as readonly string[]).includes(n.op);
}
export function isBinary(n: Node): n is BinaryNode {
  return (BINARY_OPS as readonly string[]).includes(n.op);
}
export function isReduce(n: Node): n is ReduceNode {
  return (REDUCE_OPS as readonly string[]).includes(n.op);
}
