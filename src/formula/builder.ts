/**
 * LazyTensor-style builder: `Vi(x).sub(Vj(y)).sqnorm2().mul(-g).exp()`.
 *
 * A `Formula` is an immutable wrapper of one AST node; every method returns a new Formula built
 * through the checking constructors of `nodes.ts`, so dimension errors surface at the call that
 * causes them. Numbers are accepted wherever a Formula is and become constants.
 */
import type { Matrix } from 'ml-matrix';
import type { BinaryOp, Node, ReduceOp, UnaryOp } from './ast.js';
import { FormulaError, describeArgument } from './errors.js';
import { gradient } from './derivative.js';
import { binary, constant, dot, reduce, unary, variable } from './nodes.js';
import { toBoundData, type PointsLike } from './points.js';
import { formatNode } from './print.js';
import { swapIJ } from './analyze.js';
import { formulaOperator, type FormulaEigsh, type FormulaOperator } from './operator-hook.js';
import {
  checkAxis, reductionSpec, runReduction,
  type Axis, type ReductionKind, type ReductionOptions, type ReductionResult, type ReductionSpec, type ValuesAndIndices,
} from './reduction.js';

export type FormulaLike = Formula | number;

function toNode(x: FormulaLike, method: string): Node {
  if (x instanceof Formula) return x.node;
  if (typeof x === 'number') return constant(x);
  // an options object in the weight slot of a reduction (its options come third): say where they go
  const options = (method === 'logsumexp' || method === 'sumSoftmaxWeight') && typeof x === 'object' && x !== null && !Array.isArray(x)
    ? `; options go in the third argument: F.${method}(${method === 'logsumexp' ? 'axis, undefined' : 'V, axis'}, { ${Object.keys(x)[0] ?? 'backend'}: … })`
    : '';
  throw new FormulaError(`${method}: expected a Formula or a number, got ${describeArgument(x)}${options}`);
}

export class Formula {
  readonly node: Node;
  readonly dim: number;

  constructor(node: Node) {
    this.node = node;
    this.dim = node.dim;
    Object.freeze(this);
  }

  /** A Formula for a number or the Formula itself. */
  static from(x: FormulaLike): Formula {
    return x instanceof Formula ? x : new Formula(toNode(x, 'Formula.from'));
  }

  private un(op: UnaryOp): Formula {
    return new Formula(unary(op, this.node));
  }
  private bin(op: BinaryOp, other: FormulaLike): Formula {
    return new Formula(binary(op, this.node, toNode(other, op)));
  }
  private red(op: ReduceOp): Formula {
    return new Formula(reduce(op, this.node));
  }

  add(other: FormulaLike): Formula { return this.bin('add', other); }
  sub(other: FormulaLike): Formula { return this.bin('sub', other); }
  mul(other: FormulaLike): Formula { return this.bin('mul', other); }
  div(other: FormulaLike): Formula { return this.bin('div', other); }
  pow(exponent: FormulaLike): Formula { return this.bin('pow', exponent); }

  /**
   * The reduction over an index (KeOps `Min_Reduction`): axis 1 → min over j, one value per i; axis 0 → over i.
   * Element-wise min(F, G) is the two-argument function `min(a, b)`; `F.min(G)` is refused as ambiguous.
   */
  min(axis: Axis, options?: ReductionOptions): Promise<Float64Array> {
    return this.reduceTo('min', () => ambiguousMinMax('min', axis), options) as Promise<Float64Array>;
  }
  /** The reduction over an index (axis 1: over j); element-wise max is `max(a, b)`. */
  max(axis: Axis, options?: ReductionOptions): Promise<Float64Array> {
    return this.reduceTo('max', () => ambiguousMinMax('max', axis), options) as Promise<Float64Array>;
  }
  /** Index of the minimum over j (axis 1) or i (axis 0); ties go to the lowest index. */
  argmin(axis: Axis, options?: ReductionOptions): Promise<Int32Array> {
    return this.reduceTo('argmin', () => checkAxis('argmin', axis), options) as Promise<Int32Array>;
  }
  argmax(axis: Axis, options?: ReductionOptions): Promise<Int32Array> {
    return this.reduceTo('argmax', () => checkAxis('argmax', axis), options) as Promise<Int32Array>;
  }
  minArgmin(axis: Axis, options?: ReductionOptions): Promise<ValuesAndIndices> {
    return this.reduceTo('minArgmin', () => checkAxis('minArgmin', axis), options) as Promise<ValuesAndIndices>;
  }
  maxArgmax(axis: Axis, options?: ReductionOptions): Promise<ValuesAndIndices> {
    return this.reduceTo('maxArgmax', () => checkAxis('maxArgmax', axis), options) as Promise<ValuesAndIndices>;
  }
  /** The k smallest values per row, ascending (n×k row-major); k ≤ MAX_KMIN_K. */
  kmin(k: number, axis: Axis, options?: ReductionOptions): Promise<Float64Array> {
    return this.reduceTo('kmin', () => checkAxis('kmin', axis), options, k) as Promise<Float64Array>;
  }
  /** Indices of the k smallest values per row, ascending by value, ties to the lowest index (n×k row-major). */
  argKmin(k: number, axis: Axis, options?: ReductionOptions): Promise<Int32Array> {
    return this.reduceTo('argKmin', () => checkAxis('argKmin', axis), options, k) as Promise<Int32Array>;
  }
  kminArgKmin(k: number, axis: Axis, options?: ReductionOptions): Promise<ValuesAndIndices> {
    return this.reduceTo('kminArgKmin', () => checkAxis('kminArgKmin', axis), options, k) as Promise<ValuesAndIndices>;
  }
  /** log Σ exp(F)·weight over the axis, computed max-shifted (never overflows); a vector weight gives n×e. */
  logsumexp(axis: Axis, weight?: FormulaLike, options?: ReductionOptions): Promise<Float64Array> {
    const w = weight === undefined ? undefined : () => toNode(weight, 'logsumexp');
    return this.reduceTo('logsumexp', () => checkAxis('logsumexp', axis), options, 1, w) as Promise<Float64Array>;
  }
  /** Σ softmax(F)·V over the axis (n×e for V of dimension e). */
  sumSoftmaxWeight(V: FormulaLike, axis: Axis, options?: ReductionOptions): Promise<Float64Array> {
    return this.reduceTo('sumSoftmaxWeight', () => checkAxis('sumSoftmaxWeight', axis), options, 1, () => toNode(V, 'sumSoftmaxWeight')) as Promise<Float64Array>;
  }

  /** The spec of a reduction of this formula (validated now, computed by `runReduction`). */
  reduction(kind: ReductionKind, axis: Axis, k = 1, weight?: FormulaLike): ReductionSpec {
    return reductionSpec(kind, this.node, checkAxis(kind, axis), k, weight === undefined ? undefined : toNode(weight, kind));
  }

  /** Every argument error of a reduction method becomes the returned promise's rejection. */
  private reduceTo(kind: ReductionKind, axis: () => Axis, options: ReductionOptions | undefined, k = 1, weight?: () => Node): Promise<ReductionResult> {
    try {
      return runReduction(reductionSpec(kind, this.node, axis(), k, weight?.()), options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  neg(): Formula { return this.un('neg'); }
  exp(): Formula { return this.un('exp'); }
  log(): Formula { return this.un('log'); }
  sqrt(): Formula { return this.un('sqrt'); }
  rsqrt(): Formula { return this.un('rsqrt'); }
  abs(): Formula { return this.un('abs'); }
  square(): Formula { return this.un('square'); }
  inv(): Formula { return this.un('inv'); }
  sin(): Formula { return this.un('sin'); }
  cos(): Formula { return this.un('cos'); }
  tanh(): Formula { return this.un('tanh'); }
  /** -1, 0 or 1 (Math.sign). */
  sign(): Formula { return this.un('sign'); }
  /** 1 where the argument is ≥ 0, else 0 (KeOps `Step`). */
  step(): Formula { return this.un('step'); }
  relu(): Formula { return this.un('relu'); }
  /** sin(x)/x, 1 at x = 0 (KeOps `SinXDivX`). */
  sinxdivx(): Formula { return this.un('sinxdivx'); }
  /** The normalised sinc sin(πx)/(πx), 1 at x = 0 (numpy's `sinc`): sinxdivx(π·x). */
  sinc(): Formula { return this.mul(Math.PI).sinxdivx(); }
  /** log(1 + x), accurate for tiny x. */
  log1p(): Formula { return this.un('log1p'); }
  /** eˣ − 1, accurate for tiny x. */
  expm1(): Formula { return this.un('expm1'); }
  /** atan2(this, x): the angle of the point (x, this) in (−π, π], as Math.atan2(y, x). */
  atan2(x: FormulaLike): Formula { return this.bin('atan2', x); }

  /**
   * min(max(this, lo), hi), element-wise (KeOps `Clamp`). Bounds known when the formula is built (numbers and
   * parameters) must satisfy lo ≤ hi component by component, else a FormulaError names them; bounds that vary with
   * i or j are not checked, and where lo > hi the result is hi.
   */
  clamp(lo: FormulaLike, hi: FormulaLike): Formula {
    const [a, b] = [Formula.from(lo), Formula.from(hi)];
    const [va, vb] = [knownValues(a.node), knownValues(b.node)];
    if (va && vb) {
      const d = Math.max(va.length, vb.length);
      for (let k = 0; k < d; k++) {
        const [l, h] = [va[va.length === 1 ? 0 : k]!, vb[vb.length === 1 ? 0 : k]!];
        if (!(l <= h)) throw new FormulaError(`clamp: lower bound ${l} is above upper bound ${h}${d > 1 ? ` (component ${k})` : ''}; clamp(x, lo, hi) needs lo ≤ hi`);
      }
    }
    return min(max(this, a), b);
  }

  /**
   * KeOps' IfElse: `a` where this ≥ 0, else `b` (NaN counts as negative, as `step`). Only the branch taken is read,
   * so an ∞ or NaN in the other does not leak into the result.
   */
  ifelse(a: FormulaLike, b: FormulaLike): Formula {
    return this.bin('ifnonneg', a).add(this.bin('ifneg', b));
  }

  /**
   * Σ_k s_k·v_k² for v = this (KeOps `WeightedSqNorm` with a scalar or diagonal s: dimension 1 or that of v).
   * A full d×d matrix s (dimension d²) is not supported: it is refused by name.
   */
  weightedSqNorm(s: FormulaLike): Formula {
    const w = Formula.from(s);
    if (w.dim !== 1 && w.dim !== this.dim) {
      throw new FormulaError(`weightedSqNorm: weights of dimension ${w.dim} for a vector of dimension ${this.dim}; ` +
        `give a scalar or ${this.dim} diagonal weights (a full ${this.dim}×${this.dim} matrix of weights is not supported)`);
    }
    return w.dim === 1 ? this.sqnorm2().mul(w) : this.square().mul(w).sum();
  }

  /** weightedSqNorm(s) of this − y (KeOps `WeightedSqDist`): Σ_k s_k (x_k − y_k)². */
  weightedSqDist(y: FormulaLike, s: FormulaLike): Formula { return this.sub(y).weightedSqNorm(s); }

  /** Squared Euclidean norm of the vector (a scalar). */
  sqnorm2(): Formula { return this.red('sqnorm2'); }
  norm2(): Formula { return this.red('norm2'); }
  /**
   * `sum()` (or axis -1 / 2, KeOps' inner axis): the sum of the vector's components, a scalar formula.
   * `sum(1)`: the reduction over j (one row per i; n×e for a vector formula), `sum(0)` over i.
   */
  sum(): Formula;
  sum(axis: -1 | 2): Formula;
  sum(axis: Axis, options?: ReductionOptions): Promise<Float64Array>;
  sum(axis?: number, options?: ReductionOptions): Formula | Promise<Float64Array> {
    if (axis === undefined || axis === -1 || axis === 2) return this.red('sum');
    return this.reduceTo('sum', () => checkAxis('sum', axis), options) as Promise<Float64Array>;
  }
  dot(other: FormulaLike): Formula { return new Formula(dot(this.node, toNode(other, 'dot'))); }

  /**
   * The symbolic gradient ∂(direction·F)/∂v (KeOps' `Grad(F, v, direction)`): a formula of v's dimension; `variable`
   * is a Vi, Vj or Pm of this formula, `direction` (F's dimension or a scalar) defaults to 1. Zero where F does not
   * depend on v; subgradients where F is not smooth (see formula/derivative.ts).
   *
   *     const xi = Vi(x);
   *     const k = xi.sub(Vj(y)).sqnorm2().div(-2).exp();
   *     k.grad(xi);  // exp(…) · -(x - y), a d-vector formula
   */
  grad(variable: Formula, direction?: FormulaLike): Formula {
    if (!(variable instanceof Formula) || variable.node.op !== 'var') {
      throw new FormulaError(`grad: the variable must be a Vi, Vj or Pm formula (got ${variable instanceof Formula ? variable.toString() : typeof variable})`);
    }
    const seed = direction === undefined ? undefined : toNode(direction, 'grad');
    return new Formula(gradient(this.node, variable.node, seed));
  }

  toString(): string {
    return formatNode(this.node);
  }

  // ---- a scalar formula as the matrix K_ij = F(x_i, y_j) (KeOps' `K @ v`, scipy's aslinearoperator(K))

  /** The kernel operator of this scalar formula: built once, with default options (see operator-hook.ts). */
  toOperator(): FormulaOperator { return formulaOperator(this); }
  /** K·v: one result per i. */
  matvec(v: Float64Array | Float32Array | number[]): Promise<Float64Array> { return this.toOperator().matvec(v); }
  /** Kᵀ·u: one result per j. */
  rmatvec(u: Float64Array | Float32Array | number[]): Promise<Float64Array> { return this.toOperator().rmatvec(u); }
  /** K·X for an m×k block. */
  matmat(X: Matrix | number[][]): Promise<Matrix> { return this.toOperator().matmat(X); }
  /** The formula of Kᵀ: i and j variables exchanged. */
  get T(): Formula { return new Formula(swapIJ(this.node)); }
  /**
   * (K + αI)⁻¹ b by the operator's solve (symmetric formulas only: see `isStructurallySymmetric`; a non-symmetric
   * one is refused there). Returns what `LinearOperator.solve` returns.
   */
  solve(b: Float64Array | Float32Array | number[], alpha?: number, options?: object): Promise<Float64Array>;
  solve(b: Matrix | number[][], alpha?: number, options?: object): Promise<Matrix>;
  solve(b: Float64Array | Float32Array | number[] | Matrix | number[][], alpha?: number, options?: object): Promise<Float64Array | Matrix | object> {
    return this.toOperator().solve(b, alpha, options);
  }
  /** Extreme eigenpairs by the operator's eigsh (symmetric formulas only). */
  eigsh(k?: number, options?: object): Promise<FormulaEigsh> { return this.toOperator().eigsh(k, options); }
}

/** The values of a constant or parameter node (known when the formula is built), else undefined. */
function knownValues(n: Node): readonly number[] | undefined {
  if (n.op === 'const') return [n.value];
  if (n.op === 'var' && n.cat === 'p') return Array.from(n.value.data);
  return undefined;
}

/**
 * F.min(G) / F.max(G) with G a formula (or nothing): refused, naming both meanings. Any other value is a wrong axis,
 * refused as every reduction refuses one (F.min(2), F.min("1")).
 */
function ambiguousMinMax(op: 'min' | 'max', axis: unknown): Axis {
  if (axis === 0 || axis === 1) return axis;
  if (typeof axis === 'number') {
    // F.min(2) may also be meant element-wise: name that function beside the axis error
    throw new FormulaError(`Formula.${op}: axis must be 0 (reduce over i, one result per j) or 1 (reduce over j, one result per i); got ${axis}; ` +
      `the element-wise ${op === 'min' ? 'minimum' : 'maximum'} of F and ${axis} is the function ${op}(F, ${axis}) (import { ${op} } from 'lazylinalg')`);
  }
  if (axis !== undefined && !(axis instanceof Formula)) return checkAxis(op, axis);
  throw new FormulaError(
    `Formula.${op}(${axis === undefined ? '' : 'formula'}) is ambiguous: ` +
    `F.${op}(axis) is the reduction over an index (axis 1: over j, one value per i; axis 0: over i), and the element-wise ` +
    `${op === 'min' ? 'minimum' : 'maximum'} of two formulas is the function ${op}(a, b) (import { ${op} } from 'lazylinalg')`,
  );
}

/** Element-wise minimum of two formulas (or numbers), broadcasting a scalar. */
export function min(a: FormulaLike, b: FormulaLike): Formula {
  return new Formula(binary('min', toNode(a, 'min'), toNode(b, 'min')));
}

/** Element-wise maximum of two formulas (or numbers), broadcasting a scalar. */
export function max(a: FormulaLike, b: FormulaLike): Formula {
  return new Formula(binary('max', toNode(a, 'max'), toNode(b, 'max')));
}

/** Variables whose name was not given (Vi's 'x', Vj's 'y'): a string formula's errors name them by their scope key. */
const defaultNamed = new WeakSet<Node>();

/** An `i` variable: one row of `points` per output index i. */
export function Vi(points: PointsLike, name?: string): Formula {
  return boundVariable('i', points, name, 'x');
}

/** A `j` variable: one row of `points` per reduced index j. */
export function Vj(points: PointsLike, name?: string): Formula {
  return boundVariable('j', points, name, 'y');
}

function boundVariable(cat: 'i' | 'j', points: PointsLike, name: string | undefined, fallback: string): Formula {
  const node = variable(cat, name ?? fallback, toBoundData(points, name ?? fallback));
  if (name === undefined) defaultNamed.add(node);
  return new Formula(node);
}

/** Whether `node` is a Vi or Vj whose name was left to its default. */
export function hasDefaultName(node: Node): boolean {
  return defaultNamed.has(node);
}

/** A parameter (scalar or small vector) shared by every pair (i, j). */
export function Pm(value: number | number[], name = 'p'): Formula {
  const values = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(values)) {
    throw new FormulaError(`${name}: a parameter is a number or a number[] (got ${typeof value})`);
  }
  if (values.length === 0) throw new FormulaError(`${name}: a parameter needs at least one value`);
  const data = new Float64Array(values.length);
  values.forEach((v, k) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new FormulaError(`${name}: parameter value ${k} must be a finite number (got ${String(v)})`);
    }
    data[k] = v;
  });
  return new Formula(variable('p', name, Object.freeze({ data, rows: 1, cols: values.length })));
}
