/**
 * The named kernels and `kernelOperator`. Every kernel is a formula built with the same AST
 * the string parser produces — no special path a user formula could not express — so every
 * backend compiles it the same way.
 *
 * The kernels of r/σ (Gaussian, Laplacian, Matérn, Cauchy) bind their points centred and divided by σ
 * (`scaledPoints`): the formula is one of r̃ = |x̃ − ỹ| alone, so one compiled program serves every
 * bandwidth and no backend ever forms σ² or 1/σ² (which under- or overflow: σ = 1e-200 in float64 or
 * 1e-30 in float32 made the diagonal 0/0 = NaN). γ and c₀ of the polynomial kernel are parameters (`Pm`).
 */
import { Matrix } from 'ml-matrix';
import { Formula, Pm, Vi, Vj, min } from '../formula/builder.js';
import { parseFormula, type FormulaScope } from '../formula/parse.js';
import { readPoints, toBoundData, type PointsLike } from '../formula/points.js';
import { variable } from '../formula/nodes.js';
import type { BoundData } from '../formula/ast.js';
import { formatNumber } from '../formula/print.js';
import { FLOAT32_MAX, KERNEL_OPERATOR_SPEC, KernelOperator, markPointsScaledBySigma, refuseGpuFloat64, refuseUnusedKernelOptions, resolvePlacement, type KernelOperatorOptions } from './kernel-operator.js';
import {
  assertOptionsObject, checkArgument, field, finiteNumber, integer, oneOf, optional, parseOptions, positiveNumber, withDefault,
  type OptionField, type ParsedOptions,
} from './options.js';
import type { Dtype } from './types.js';
import { describeValue } from './validate.js';
import { pointsPass, type PointsPass } from '../cpu/points-prep.js';
import { isKernelDescriptor, kernelFromDescriptor, type DescriptorKernelOptions, type KernelDescriptor } from './cdist.js';

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

const isPointsLike = (v: unknown): boolean =>
  Array.isArray(v) || Matrix.isMatrix(v) || (typeof v === 'object' && v !== null && 'data' in v && 'rows' in v && 'cols' in v);

/** Points: their type here, their contents by `toBoundData` (finite, rectangular, non-empty). */
const points: OptionField<PointsLike> = field<PointsLike>('points (number[][], number[], an ml-matrix Matrix or { data, rows, cols })', isPointsLike);

/** KernelOptions, checked by `parseOptions` (unknown keys refused by name, with the known ones). */
const KERNEL_SPEC = {
  y: optional(points),
  dtype: KERNEL_OPERATOR_SPEC.dtype,
  backend: KERNEL_OPERATOR_SPEC.backend,
  denseCache: KERNEL_OPERATOR_SPEC.denseCache,
  denseCacheBytes: KERNEL_OPERATOR_SPEC.denseCacheBytes,
  gpu: KERNEL_OPERATOR_SPEC.gpu,
} satisfies Record<keyof KernelOptions, OptionField<unknown>>;

export interface BandwidthKernelOptions extends KernelOptions {
  /** Length scale σ > 0 (default 1). */
  sigma?: number;
}

const BANDWIDTH_SPEC = { ...KERNEL_SPEC, sigma: withDefault(positiveNumber, 1) } satisfies Record<keyof BandwidthKernelOptions, OptionField<unknown>>;

export interface MaternKernelOptions extends BandwidthKernelOptions {
  /** Smoothness ν ∈ {0.5, 1.5, 2.5} (default 1.5, as scikit-learn). */
  nu?: 0.5 | 1.5 | 2.5;
}

const MATERN_SPEC = { ...BANDWIDTH_SPEC, nu: withDefault(oneOf(0.5, 1.5, 2.5), 1.5) } satisfies Record<keyof MaternKernelOptions, OptionField<unknown>>;

export interface PolynomialKernelOptions extends KernelOptions {
  /** Positive integer degree (default 2). */
  degree?: number;
  gamma?: number;
  coef0?: number;
}

const POLYNOMIAL_SPEC = {
  ...KERNEL_SPEC,
  degree: withDefault(integer({ min: 1, max: 64 }), 2),
  gamma: withDefault(finiteNumber(), 1),
  coef0: withDefault(finiteNumber(), 1),
} satisfies Record<keyof PolynomialKernelOptions, OptionField<unknown>>;

type ParsedKernelOptions = ParsedOptions<typeof KERNEL_SPEC>;

/** x and y as formula variables (y = x when omitted). */
function pointVariables(kernel: string, x: PointsLike, o: ParsedKernelOptions): { x: Formula; y: Formula; symmetric: boolean } {
  refuseGpuFloat64(kernel, o.backend, o.dtype);
  refuseUnusedKernelOptions(kernel, o);
  const xi = Vi(checkArgument(kernel, 'x', x, points), 'x');
  const yj = Vj(o.y ?? x, 'y');
  if (yj.dim !== xi.dim) {
    throw new RangeError(`${kernel}: x and y must have the same dimension, got x with d = ${xi.dim} and y with d = ${yj.dim}`);
  }
  // y omitted or the very same points: K_ij = k(x_i, x_j) = K_ji
  return { x: xi, y: yj, symmetric: o.y === undefined || o.y === x };
}

/**
 * x̃ = (x − c)/σ and ỹ = (y − c)/σ in float64, c the centre of the joint bounding box, as formula variables. Why:
 * r/σ = |x̃ − ỹ| is then formed from values of the data's own scale — finite wherever the dtype can hold x̃ (checked
 * here for float32, which a float64 point set far wider than σ may overflow), and overflowing only to +∞ where
 * every kernel of this module is 0 — and centring keeps offset data's float32 coordinates exact to their spread.
 */
function scaledPoints(kernel: string, x: PointsLike, o: ParsedKernelOptions & { sigma: number }): { x: Formula; y: Formula; symmetric: boolean } {
  refuseGpuFloat64(kernel, o.backend, o.dtype);
  refuseUnusedKernelOptions(kernel, o);
  // the points are read once here and bound only as their scaled copy: no copy of the caller's array first
  const X = readPoints(checkArgument(kernel, 'x', x, points), 'x');
  const same = o.y === undefined || o.y === x; // y omitted or the very same points: K_ij = k(x_i, x_j) = K_ji
  const Y = same ? X : readPoints(o.y!, 'y');
  if (Y.bound.cols !== X.bound.cols) {
    throw new RangeError(`${kernel}: x and y must have the same dimension, got x with d = ${X.bound.cols} and y with d = ${Y.bound.cols}`);
  }
  const d = X.bound.cols;
  const lo = new Float64Array(d).fill(Infinity);
  const hi = new Float64Array(d).fill(-Infinity);
  // each set is read by one pass (in a WebAssembly memory where it is large: src/cpu/points-prep.ts), released below
  const passX = pointsPass(X.bound.data, d);
  const passY = same ? passX : pointsPass(Y.bound.data, d);
  try {
    for (const [name, read, raw, pass] of same ? [['x', X, x, passX] as const] : [['x', X, x, passX] as const, ['y', Y, o.y!, passY] as const]) {
      // the sum is finite when every entry is (else NaN or ±∞; a finite overflow only costs the exact check)
      if (!Number.isFinite(pass.box(lo, hi)) && !read.checked) toBoundData(raw, name); // throws, naming the entry
    }
    const center = lo.map((l, k) => l / 2 + hi[k]! / 2); // halves: no overflow at ±1.7e308
    const { dtype } = resolvePlacement(o.backend, o.dtype, X.bound.rows * Y.bound.rows);
    const limit = dtype === 'float32' ? FLOAT32_MAX : Number.MAX_VALUE;
    // |x̃| ≤ max_k (hi − lo)/(2σ) up to rounding: only a box near the limit needs the entry-by-entry check
    const reach = lo.reduce((r, l, k) => Math.max(r, hi[k]! / 2 - l / 2), 0) / o.sigma;
    const scale = (name: 'x' | 'y', data: Float64Array, pass: PointsPass): BoundData => {
      const out = pass.scaled(center, o.sigma);
      if (!(reach <= limit / 2)) {
        const first = out.findIndex((v) => !(Math.abs(v) <= limit));
        if (first >= 0) {
          // the entry of largest magnitude in that column: the centre is the box's midpoint, so both ends of a wide
          // column lie as far from it, and the first checked (an ordinary point, -0.99 beside 1e39) was blamed
          const k = first % d;
          let t = first;
          for (let at = k; at < data.length; at += d) if (Math.abs(data[at]!) > Math.abs(data[t]!)) t = at;
          const row = Math.floor(t / d);
          throw new RangeError(`${kernel}: ${name} at row ${row}, column ${k} (${data[t]}) lies ${Math.abs(out[t]!)}·σ from the centre `
            + `of the points (${center[k]}, σ = ${o.sigma}; they span [${lo[k]}, ${hi[k]}] there), beyond ${dtype}'s range${dtype === 'float32' ? ": use dtype 'float64' or" : ': use'} a larger σ`);
        }
      }
      return Object.freeze({ data: out, rows: data.length / d, cols: d });
    };
    // a fresh array of finite entries: bound as it is (Vi/Vj would copy and check it again)
    const xs = scale('x', X.bound.data, passX);
    return {
      x: new Formula(variable('i', 'x', xs)),
      y: new Formula(variable('j', 'y', same ? xs : scale('y', Y.bound.data, passY))),
      symmetric: same,
    };
  } finally {
    passX.release();
    passY.release();
  }
}

function make(f: Formula, symmetric: boolean, o: ParsedKernelOptions, label: string, params: Record<string, number>, scaled = false) {
  const K = new KernelOperator(f, {
    dtype: o.dtype, backend: o.backend, denseCache: o.denseCache, denseCacheBytes: o.denseCacheBytes, gpu: o.gpu, symmetric, label, params,
  });
  if (scaled) markPointsScaledBySigma(K);
  return K;
}

/** Gaussian (RBF) kernel exp(−|x − y|² / (2σ²)), formed as exp(−|x̃ − ỹ|²/2) on the scaled points. */
export function gaussianKernel(x: PointsLike, options: BandwidthKernelOptions = {}): KernelOperator {
  const o = parseOptions('gaussianKernel', options, BANDWIDTH_SPEC);
  const v = scaledPoints('gaussianKernel', x, o);
  const f = v.x.sub(v.y).sqnorm2().div(2).neg().exp();
  return make(f, v.symmetric, o, `gaussian σ=${formatNumber(o.sigma)}`, { sigma: o.sigma }, true);
}

/** Laplacian (exponential) kernel exp(−|x − y| / σ). */
export function laplacianKernel(x: PointsLike, options: BandwidthKernelOptions = {}): KernelOperator {
  const o = parseOptions('laplacianKernel', options, BANDWIDTH_SPEC);
  const v = scaledPoints('laplacianKernel', x, o);
  const f = v.x.sub(v.y).norm2().neg().exp();
  return make(f, v.symmetric, o, `laplacian σ=${formatNumber(o.sigma)}`, { sigma: o.sigma }, true);
}

/**
 * √(2ν)·r/σ is clamped here in the Matérn kernels: their value is below 10⁻⁴⁰⁰ beyond it (0 in either dtype),
 * while the polynomial factor alone would overflow to ∞ (r̃ = ∞ for points beyond float32's range of each other)
 * and ∞ · 0 be NaN.
 */
export const MATERN_MAX_SCALED_DISTANCE = 1000;

/**
 * Matérn kernel with half-integer ν, in closed form (t = √(2ν)·|x − y|/σ):
 * ν=½: e^{−t};  ν=3/2: (1 + t) e^{−t};  ν=5/2: (1 + t + t²/3) e^{−t}.
 */
export function maternKernel(x: PointsLike, options: MaternKernelOptions = {}): KernelOperator {
  const o = parseOptions('maternKernel', options, MATERN_SPEC);
  const v = scaledPoints('maternKernel', x, o);
  const r = v.x.sub(v.y).norm2();
  let f: Formula;
  if (o.nu === 0.5) {
    f = r.neg().exp();
  } else {
    const t = min(r.mul(Math.sqrt(2 * o.nu)), MATERN_MAX_SCALED_DISTANCE);
    const poly = o.nu === 1.5 ? t.add(1) : t.add(1).add(t.square().div(3));
    f = poly.mul(t.neg().exp());
  }
  return make(f, v.symmetric, o, `matern ν=${o.nu} σ=${formatNumber(o.sigma)}`, { sigma: o.sigma, nu: o.nu }, true);
}

/** Cauchy kernel 1 / (1 + |x − y|²/σ²). */
export function cauchyKernel(x: PointsLike, options: BandwidthKernelOptions = {}): KernelOperator {
  const o = parseOptions('cauchyKernel', options, BANDWIDTH_SPEC);
  const v = scaledPoints('cauchyKernel', x, o);
  const f = v.x.sub(v.y).sqnorm2().add(1).inv();
  return make(f, v.symmetric, o, `cauchy σ=${formatNumber(o.sigma)}`, { sigma: o.sigma }, true);
}

/** Polynomial kernel (γ·⟨x, y⟩ + c₀)^degree. */
export function polynomialKernel(x: PointsLike, options: PolynomialKernelOptions = {}): KernelOperator {
  const o = parseOptions('polynomialKernel', options, POLYNOMIAL_SPEC);
  const { degree, gamma, coef0 } = o;
  const v = pointVariables('polynomialKernel', x, o);
  const f = v.x.dot(v.y).mul(Pm(gamma, 'gamma')).add(Pm(coef0, 'coef0')).pow(degree);
  return make(f, v.symmetric, o, `polynomial degree=${degree} γ=${formatNumber(gamma)} c₀=${formatNumber(coef0)}`, { degree, gamma, coef0 });
}

/** Linear kernel ⟨x, y⟩. */
export function linearKernel(x: PointsLike, options: KernelOptions = {}): KernelOperator {
  const o = parseOptions('linearKernel', options, KERNEL_SPEC);
  const v = pointVariables('linearKernel', x, o);
  return make(v.x.dot(v.y), v.symmetric, o, 'linear', {});
}

/**
 * Any kernel formula: a string in mathjs syntax over the variables of `scope`
 * (`Vi(points)`, `Vj(points)`, numbers as parameters), or a builder `Formula`.
 *
 *     kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(p), y: Vj(p), s: 0.1 })
 */
export function kernelOperator(formula: string, scope: FormulaScope, options?: KernelOperatorOptions): KernelOperator;
export function kernelOperator(formula: Formula, options?: KernelOperatorOptions): KernelOperator;
/** kermac's fused kernel: `kernelOperator({ innerP: 1, epilogue: 'laplace', bandwidth: 0.5 }, x, { y })` (see cdist.ts). */
export function kernelOperator(descriptor: KernelDescriptor, x: PointsLike, options?: DescriptorKernelOptions): KernelOperator;
export function kernelOperator(
  formula: string | Formula | KernelDescriptor,
  scopeOrOptions?: FormulaScope | KernelOperatorOptions | PointsLike,
  maybeOptions?: KernelOperatorOptions | DescriptorKernelOptions,
): KernelOperator {
  if (isKernelDescriptor(formula)) return kernelFromDescriptor(formula, scopeOrOptions as PointsLike, maybeOptions);
  if (typeof formula === 'string') {
    if (!scopeOrOptions || typeof scopeOrOptions !== 'object') {
      throw new TypeError(`kernelOperator: a string formula needs a scope object, e.g. { x: Vi(points), y: Vj(points), s: 0.1 }, got ${describeValue(scopeOrOptions)}`);
    }
    assertOptionsObject('kernelOperator', maybeOptions);
    const f = parseFormula(formula, scopeOrOptions as FormulaScope);
    return new KernelOperator(f, { label: formula.length <= 60 ? formula : `${formula.slice(0, 59)}…`, ...(maybeOptions as KernelOperatorOptions | undefined) });
  }
  if (!(formula instanceof Formula)) {
    throw new TypeError(`kernelOperator: expected a formula string or a Formula, got ${describeValue(formula)}`);
  }
  if (maybeOptions !== undefined) {
    throw new TypeError(`kernelOperator: a Formula takes one options object, got a third argument ${describeValue(maybeOptions)}`);
  }
  return new KernelOperator(formula, scopeOrOptions as KernelOperatorOptions | undefined);
}
