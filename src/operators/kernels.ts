/**
 * The named kernels and `kernelOperator`. Every kernel is a formula built with the same AST
 * the string parser produces — no special path a user formula could not express — so every
 * backend compiles it the same way. σ, γ, … are parameters (`Pm`), not constants, so one
 * compiled program serves every bandwidth.
 */
import { Formula, Pm, Vi, Vj } from '../formula/builder.js';
import { parseFormula, type FormulaScope } from '../formula/parse.js';
import type { PointsLike } from '../formula/points.js';
import { formatNumber } from '../formula/print.js';
import { KernelOperator, type KernelOperatorOptions } from './kernel-operator.js';
import type { Dtype } from './types.js';

export interface KernelOptions {
  /** Second point set (m×d); omitted: y = x and the operator is symmetric. */
  y?: PointsLike;
  dtype?: Dtype;
  backend?: KernelOperatorOptions['backend'];
  denseCache?: KernelOperatorOptions['denseCache'];
  /** Memory budget of the 'auto' dense cache in bytes (default `defaultDenseCacheBytes()`). */
  denseCacheBytes?: number;
  /** Shape of the GPU kernel (see GpuKernelOptions). */
  gpu?: KernelOperatorOptions['gpu'];
}

export interface BandwidthKernelOptions extends KernelOptions {
  /** Length scale σ > 0 (default 1). */
  sigma?: number;
}

export interface MaternKernelOptions extends BandwidthKernelOptions {
  /** Smoothness ν ∈ {0.5, 1.5, 2.5} (default 1.5, as scikit-learn). */
  nu?: 0.5 | 1.5 | 2.5;
}

export interface PolynomialKernelOptions extends KernelOptions {
  /** Positive integer degree (default 2). */
  degree?: number;
  gamma?: number;
  coef0?: number;
}

function positive(kernel: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${kernel}: ${name} must be a positive finite number, got ${String(v)}`);
  }
  return v;
}

function finite(kernel: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new RangeError(`${kernel}: ${name} must be a finite number, got ${String(v)}`);
  }
  return v;
}

/** x and y as formula variables (y = x when omitted). */
function pointVariables(kernel: string, x: PointsLike, options: KernelOptions): { x: Formula; y: Formula; symmetric: boolean } {
  if (x === undefined || x === null) throw new TypeError(`${kernel}: points x are required`);
  const xi = Vi(x, 'x');
  const yj = Vj(options.y ?? x, 'y');
  if (yj.dim !== xi.dim) {
    throw new RangeError(`${kernel}: x and y must have the same dimension, got x with d = ${xi.dim} and y with d = ${yj.dim}`);
  }
  // y omitted or the very same points: K_ij = k(x_i, x_j) = K_ji
  return { x: xi, y: yj, symmetric: options.y === undefined || options.y === x };
}

function make(kernel: string, f: Formula, symmetric: boolean, options: KernelOptions, label: string, params: Record<string, number>) {
  return new KernelOperator(f, {
    dtype: options.dtype, backend: options.backend, denseCache: options.denseCache, denseCacheBytes: options.denseCacheBytes, gpu: options.gpu,
    symmetric, label, params,
  });
}

/** Gaussian (RBF) kernel exp(−|x − y|² / (2σ²)). */
export function gaussianKernel(x: PointsLike, options: BandwidthKernelOptions = {}): KernelOperator {
  const sigma = positive('gaussianKernel', 'sigma', options.sigma ?? 1);
  const v = pointVariables('gaussianKernel', x, options);
  const s = Pm(sigma, 'sigma');
  const f = v.x.sub(v.y).sqnorm2().div(s.square().mul(2)).neg().exp();
  return make('gaussianKernel', f, v.symmetric, options, `gaussian σ=${formatNumber(sigma)}`, { sigma });
}

/** Laplacian (exponential) kernel exp(−|x − y| / σ). */
export function laplacianKernel(x: PointsLike, options: BandwidthKernelOptions = {}): KernelOperator {
  const sigma = positive('laplacianKernel', 'sigma', options.sigma ?? 1);
  const v = pointVariables('laplacianKernel', x, options);
  const s = Pm(sigma, 'sigma');
  const f = v.x.sub(v.y).norm2().div(s).neg().exp();
  return make('laplacianKernel', f, v.symmetric, options, `laplacian σ=${formatNumber(sigma)}`, { sigma });
}

/**
 * Matérn kernel with half-integer ν, in closed form (r = |x − y|):
 * ν=½: e^{−r/σ};  ν=3/2: (1 + √3 r/σ) e^{−√3 r/σ};  ν=5/2: (1 + √5 r/σ + 5r²/(3σ²)) e^{−√5 r/σ}.
 */
export function maternKernel(x: PointsLike, options: MaternKernelOptions = {}): KernelOperator {
  const sigma = positive('maternKernel', 'sigma', options.sigma ?? 1);
  const nu = options.nu ?? 1.5;
  if (nu !== 0.5 && nu !== 1.5 && nu !== 2.5) {
    throw new RangeError(`maternKernel: nu must be 0.5, 1.5 or 2.5 (closed forms), got ${String(nu)}`);
  }
  const v = pointVariables('maternKernel', x, options);
  const s = Pm(sigma, 'sigma');
  const r2 = v.x.sub(v.y).sqnorm2();
  let f: Formula;
  if (nu === 0.5) {
    f = r2.sqrt().div(s).neg().exp();
  } else {
    const c = nu === 1.5 ? Math.sqrt(3) : Math.sqrt(5);
    const t = r2.sqrt().mul(c).div(s); // √(2ν)·r/σ
    const poly = nu === 1.5 ? t.add(1) : t.add(1).add(r2.mul(5 / 3).div(s.square()));
    f = poly.mul(t.neg().exp());
  }
  return make('maternKernel', f, v.symmetric, options, `matern ν=${nu} σ=${formatNumber(sigma)}`, { sigma, nu });
}

/** Cauchy kernel 1 / (1 + |x − y|²/σ²). */
export function cauchyKernel(x: PointsLike, options: BandwidthKernelOptions = {}): KernelOperator {
  const sigma = positive('cauchyKernel', 'sigma', options.sigma ?? 1);
  const v = pointVariables('cauchyKernel', x, options);
  const s = Pm(sigma, 'sigma');
  const f = v.x.sub(v.y).sqnorm2().div(s.square()).add(1).inv();
  return make('cauchyKernel', f, v.symmetric, options, `cauchy σ=${formatNumber(sigma)}`, { sigma });
}

/** Polynomial kernel (γ·⟨x, y⟩ + c₀)^degree. */
export function polynomialKernel(x: PointsLike, options: PolynomialKernelOptions = {}): KernelOperator {
  const degree = options.degree ?? 2;
  if (!Number.isInteger(degree) || degree < 1 || degree > 64) {
    throw new RangeError(`polynomialKernel: degree must be an integer in [1, 64], got ${String(degree)}`);
  }
  const gamma = finite('polynomialKernel', 'gamma', options.gamma ?? 1);
  const coef0 = finite('polynomialKernel', 'coef0', options.coef0 ?? 1);
  const v = pointVariables('polynomialKernel', x, options);
  const f = v.x.dot(v.y).mul(Pm(gamma, 'gamma')).add(Pm(coef0, 'coef0')).pow(degree);
  return make('polynomialKernel', f, v.symmetric, options,
    `polynomial degree=${degree} γ=${formatNumber(gamma)} c₀=${formatNumber(coef0)}`, { degree, gamma, coef0 });
}

/** Linear kernel ⟨x, y⟩. */
export function linearKernel(x: PointsLike, options: KernelOptions = {}): KernelOperator {
  const v = pointVariables('linearKernel', x, options);
  return make('linearKernel', v.x.dot(v.y), v.symmetric, options, 'linear', {});
}

/**
 * Any kernel formula: a string in mathjs syntax over the variables of `scope`
 * (`Vi(points)`, `Vj(points)`, numbers as parameters), or a builder `Formula`.
 *
 *     kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s: 0.1 })
 */
export function kernelOperator(formula: string, scope: FormulaScope, options?: KernelOperatorOptions): KernelOperator;
export function kernelOperator(formula: Formula, options?: KernelOperatorOptions): KernelOperator;
export function kernelOperator(
  formula: string | Formula,
  scopeOrOptions?: FormulaScope | KernelOperatorOptions,
  maybeOptions?: KernelOperatorOptions,
): KernelOperator {
  if (typeof formula === 'string') {
    if (!scopeOrOptions || typeof scopeOrOptions !== 'object') {
      throw new TypeError('kernelOperator: a string formula needs a scope object, e.g. { x: Vi(points), y: Vj(points), s: 0.1 }');
    }
    const f = parseFormula(formula, scopeOrOptions as FormulaScope);
    return new KernelOperator(f, { label: formula.length <= 60 ? formula : `${formula.slice(0, 59)}…`, ...maybeOptions });
  }
  if (!(formula instanceof Formula)) {
    throw new TypeError(`kernelOperator: expected a formula string or a Formula, got ${typeof formula}`);
  }
  return new KernelOperator(formula, scopeOrOptions as KernelOperatorOptions | undefined);
}
