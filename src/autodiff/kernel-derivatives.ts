/**
 * Derivatives of a kernel matrix as kernel matrices: ∂K/∂θ for a parameter θ and ∂K/∂x_k, ∂K/∂y_k for each
 * coordinate k of the points — each the KernelOperator of the symbolic derivative of K's formula
 * (formula/derivative.ts), on K's backend and in K's dtype, so its products are compiled kernel reductions like K's.
 *
 * The kernels of r/σ (gaussianKernel, maternKernel, …) bind x̃ = (x − c)/σ, and σ appears in no formula node. For
 * them F = F(x̃, ỹ) with ∂x̃/∂σ = −x̃/σ, so ∂K/∂σ = −(x̃·∇_x̃F + ỹ·∇_ỹF)/σ = −(x̃ − ỹ)·∇_x̃F/σ, and ∂K/∂x = ∇_x̃F/σ
 * (F depends on x̃ − ỹ only, so ∇_ỹF = −∇_x̃F and the centre c, which moves with the points, drops out).
 */
import type { Node, VarNode } from '../formula/ast.js';
import { collectVariables } from '../formula/analyze.js';
import { gradients, partialDerivative } from '../formula/derivative.js';
import { binary, constant, dot, reduce, unary } from '../formula/nodes.js';
import { KernelOperator, pointsScaledBySigma } from '../operators/kernel-operator.js';
import { describeValue } from '../operators/validate.js';
import type { LinearOperator } from '../operators/linear-operator.js';

/** The scale of K's bound points: σ for the kernels of r/σ (points bound as (x − c)/σ), else 1. */
export function pointScale(K: KernelOperator): number {
  return pointsScaledBySigma(K) ? K.params['sigma']! : 1;
}

/**
 * The parameters ∂K/∂θ exists for: 'sigma' for the kernels of r/σ, and every scalar Pm of the formula by name
 * (a polynomial kernel's gamma and coef0, a string formula's numbers). Discrete choices (ν, degree) are not among them.
 */
export function differentiableParameters(K: KernelOperator): string[] {
  requireKernel('differentiableParameters', K);
  const names = new Set<string>();
  if (pointsScaledBySigma(K)) names.add('sigma');
  for (const p of collectVariables(K.formula.node).p) if (p.dim === 1) names.add(p.name);
  return [...names];
}

/** Refuses anything but a KernelOperator (an algebra of kernels has no one formula to differentiate), naming it. */
function requireKernel(fn: string, K: unknown): asserts K is KernelOperator {
  if (!(K instanceof KernelOperator)) throw new TypeError(`${fn}: expected a KernelOperator, got ${describeValue(K)}`);
}

/** The derivative formula of K's formula with respect to `name` (see the module comment for 'sigma'). */
function parameterDerivativeFormula(K: KernelOperator, name: string): Node {
  const root = K.formula.node;
  const vars = collectVariables(root);
  const named = vars.p.filter((p) => p.name === name);
  if (named.length > 0) {
    const vector = named.find((p) => p.dim !== 1);
    if (vector) throw new RangeError(`parameterDerivativeOperator: parameter '${name}' of ${K} is a vector (dimension ${vector.dim}); only scalar parameters are differentiable`);
    const grads = gradients(root, named);
    return named.reduce<Node>((acc, p) => (grads.get(p) ? binary('add', acc, grads.get(p)!) : acc), constant(0));
  }
  if (name === 'sigma' && pointsScaledBySigma(K)) {
    if (vars.i.length === 1 && vars.j.length === 1) {
      // F depends on x̃ − ỹ only, so ∇_ỹF = −∇_x̃F and x̃·∇_x̃F + ỹ·∇_ỹF = (x̃ − ỹ)·∇_x̃F: one gradient to evaluate per pair
      const [x, y] = [vars.i[0]!, vars.j[0]!];
      const g = gradients(root, [x]).get(x);
      return g ? binary('mul', dot(binary('sub', x, y), g), constant(-1 / pointScale(K))) : constant(0);
    }
    const points = [...vars.i, ...vars.j];
    const grads = gradients(root, points);
    const sum = points.reduce<Node>((acc, v) => (grads.get(v) ? binary('add', acc, dot(v, grads.get(v)!)) : acc), constant(0));
    return binary('mul', sum, constant(-1 / pointScale(K)));
  }
  const known = differentiableParameters(K);
  throw new RangeError(
    `parameterDerivativeOperator: ${K} has no differentiable parameter '${name}'` +
    `${known.length ? `; it has ${known.map((k) => `'${k}'`).join(', ')}` : '; it has none'}`,
  );
}

/**
 * A derivative formula as an operator of K's shape: a formula that lost its i or j variables (∂/∂p of x·y + p is
 * 1) gets them back as 0·sign(sum(v)) + 1, which is 1 for finite points and keeps the rows and columns.
 */
function asKernelOperator(K: KernelOperator, node: Node, label: string, symmetric: boolean): KernelOperator {
  const vars = collectVariables(K.formula.node);
  let f = node;
  for (const side of [vars.i, vars.j]) {
    const v = side[0] as VarNode;
    const present = collectVariables(f)[v.cat].length > 0;
    if (!present) f = binary('mul', f, binary('add', binary('mul', constant(0), unary('sign', reduce('sum', v))), constant(1)));
  }
  return new KernelOperator(f, { backend: K.backend, dtype: K.dtype, symmetric, label, denseCache: 'never' });
}

/**
 * ∂K/∂θ as a LinearOperator of K's shape, backend and dtype: θ = 'sigma' (kernels of r/σ) or the name of a scalar
 * Pm of the formula (see differentiableParameters). Symmetric when K is. Throws a RangeError naming the known
 * parameters for any other name.
 */
export function parameterDerivativeOperator(K: KernelOperator, name: string): LinearOperator {
  requireKernel('parameterDerivativeOperator', K);
  if (typeof name !== 'string') throw new TypeError(`parameterDerivativeOperator: the parameter name must be a string, got ${typeof name}`);
  return memo(K, `param:${name}`, () => asKernelOperator(K, parameterDerivativeFormula(K, name), `∂(${K.label})/∂${name}`, K.symmetric));
}

const built = new WeakMap<KernelOperator, Map<string, unknown>>();

/** The derivative operators of K, built once per K (repeated VJPs and a likelihood's gradient reuse them). */
function memo<T>(K: KernelOperator, key: string, make: () => T): T {
  let perK = built.get(K);
  if (!perK) built.set(K, (perK = new Map()));
  if (!perK.has(key)) perK.set(key, make());
  return perK.get(key) as T;
}

/**
 * ∂K_ij/∂v_k for k = 0 … d−1 (v the single i or single j variable of K's formula), in the coordinates of the points
 * as given (the 1/σ of the kernels of r/σ included): d operators of K's shape, one compiled program for all k.
 */
export function pointDerivativeOperators(K: KernelOperator, side: 'i' | 'j'): KernelOperator[] {
  return memo(K, `points:${side}`, () => buildPointDerivatives(K, side));
}

function buildPointDerivatives(K: KernelOperator, side: 'i' | 'j'): KernelOperator[] {
  const vars = collectVariables(K.formula.node)[side];
  if (vars.length !== 1) {
    throw new RangeError(`point gradients need one ${side === 'i' ? 'Vi' : 'Vj'} variable in the formula of ${K}, found ${vars.length}`);
  }
  const v = vars[0]!;
  const scale = 1 / pointScale(K);
  return Array.from({ length: v.dim }, (_, k) => {
    const d = binary('mul', partialDerivative(K.formula.node, v, k), constant(scale));
    return asKernelOperator(K, d, `∂(${K.label})/∂${v.name}[${k}]`, false);
  });
}
