/**
 * The negative log marginal likelihood of a zero-mean Gaussian process and its gradient. With A = K + s·I (s = `noise`,
 * the noise *variance* σₙ² added to K's diagonal) and u = A⁻¹y:
 *   NLL = ½ yᵀu + ½ log det A + (n/2) log 2π,
 *   ∂NLL/∂θ = ½ tr(A⁻¹ ∂K/∂θ) − ½ uᵀ(∂K/∂θ)u,     ∂NLL/∂s = ½ tr(A⁻¹) − ½ uᵀu.
 * Large n: one block CG (`inverseQuadLogdet`) gives u, log det A and every trace term from the same probes; small n
 * (policy.ts): a dense float64 Cholesky factorisation, exact. Either route's errors name gpNegativeLogMarginalLikelihood.
 */
import { LinearOperator } from '../operators/linear-operator.js';
import { field, parseOptions, optional, type OptionField } from '../operators/options.js';
import { assertFiniteScalar, describeValue, toVector } from '../operators/validate.js';
import { IdentityOperator } from '../operators/dense.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import { differentiableParameters, parameterDerivativeOperator } from './kernel-derivatives.js';
import { denseLogdetTerms } from './dense-logdet.js';
import { logdetRoute } from './policy.js';
import { inverseQuadLogdetAs, LOGDET_SPEC, slqOnlyKey, type LogdetOptions } from './slq.js';

/** `method` and the SLQ options as `logdet`'s: 'auto' factors up to GP_DENSE_MAX_N rows unless an SLQ-only option is given. */
export interface GpOptions extends LogdetOptions {
  /**
   * The parameters of K to differentiate (besides `noise`): default every differentiable one of a KernelOperator
   * ('sigma' for the kernels of r/σ, each scalar Pm by name: `differentiableParameters`), none for other operators.
   */
  parameters?: readonly string[];
  /** ∂K/∂θ per name as n×n operators, in place of (or besides) the symbolic `parameterDerivativeOperator(K, θ)`. */
  derivatives?: Readonly<Record<string, LinearOperator>>;
}

const GP_SPEC = {
  ...LOGDET_SPEC,
  parameters: optional(field<readonly string[]>('an array of parameter names', (v) => Array.isArray(v) && v.every((s) => typeof s === 'string'))),
  derivatives: optional(field<Readonly<Record<string, LinearOperator>>>(
    'an object of LinearOperators (∂K/∂θ by name)',
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((d) => d instanceof LinearOperator),
  )),
} satisfies Record<keyof GpOptions, OptionField<unknown>>;

export interface GpResult {
  /** The negative log marginal likelihood. */
  value: number;
  /** ∂NLL/∂noise (the variance), and ∂NLL/∂θ for each derivative given. */
  grad: { noise: number } & Record<string, number>;
  /**
   * Error bars of the value and of each gradient entry (0 on the dense route): the probes' standard error combined,
   * as √(s² + b²), with the bounds b on what the probes do not sample (truncated quadrature, inexact solves: `logdet`).
   */
  stderr: { value: number } & Record<string, number>;
  /** log det(K + noise·I) (its standard error is 2·stderr.value). */
  logdet: number;
  /** SLQ route: CG iterations of the solve A⁻¹y and of each probe (= its Lanczos steps). */
  iterations?: { y: number; probes: number[] };
  method: 'cholesky' | 'slq';
  reason: string;
}

const LOG_2PI = Math.log(2 * Math.PI);

/** −log p(y | K, noise) of the GP y ~ N(0, K + noise·I), and its gradient. */
export async function gpNegativeLogMarginalLikelihood(
  K: LinearOperator, y: Float64Array | Float32Array | number[], noise: number, options?: GpOptions,
): Promise<GpResult> {
  const fn = 'gpNegativeLogMarginalLikelihood';
  const o = parseOptions(fn, options, GP_SPEC);
  if (!(K instanceof LinearOperator)) throw new TypeError(`${fn}: expected a LinearOperator K, got ${describeValue(K)}`);
  const n = K.shape[0];
  if (K.shape[1] !== n) throw new RangeError(`${fn}: K must be square, got shape ${K.shape[0]}x${K.shape[1]} (${K})`);
  assertFiniteScalar(noise, `${fn} (noise)`);
  if (noise < 0) throw new RangeError(`${fn}: noise is the variance added to K's diagonal and must be ≥ 0, got ${noise}`);
  const yv = toVector(y, n, `${fn} (y)`);
  const { names, ders } = derivativeOperators(K, o.parameters, o.derivatives ?? {}, fn);
  const route = logdetRoute(fn, n, o.method, slqOnlyKey(options, o.method === 'auto'));
  const { method: _m, derivatives: _d, parameters: _p, ...slqOptions } = o;
  const terms = route.method === 'cholesky'
    ? await denseTerms(K, yv, noise, ders, fn)
    : await slqTerms(K, yv, noise, ders, slqOptions, fn);
  const grad: Record<string, number> = { noise: 0.5 * (terms.traces[0]! - terms.quads[0]!) };
  const stderr: Record<string, number> = {
    value: 0.5 * Math.hypot(terms.logdetStderr, terms.inverseQuadBound), noise: 0.5 * Math.hypot(terms.traceStderrs[0]!, terms.quadBounds[0]!),
  };
  names.forEach((name, k) => {
    grad[name] = 0.5 * (terms.traces[k + 1]! - terms.quads[k + 1]!);
    stderr[name] = 0.5 * Math.hypot(terms.traceStderrs[k + 1]!, terms.quadBounds[k + 1]!);
  });
  return {
    value: 0.5 * (terms.inverseQuad + terms.logdet + n * LOG_2PI),
    grad: grad as GpResult['grad'], stderr: stderr as GpResult['stderr'], logdet: terms.logdet, ...(terms.iterations ? { iterations: terms.iterations } : {}), method: route.method, reason: route.reason,
  };
}

/** ∂K/∂θ for each parameter: given in `derivatives`, else symbolic (KernelOperator); checked against K's shape. */
function derivativeOperators(
  K: LinearOperator, parameters: readonly string[] | undefined, given: Readonly<Record<string, LinearOperator>>, fn: string,
): { names: string[]; ders: LinearOperator[] } {
  const n = K.shape[0];
  const symbolic = K instanceof KernelOperator ? differentiableParameters(K) : [];
  const names = [...new Set(parameters ?? [...symbolic, ...Object.keys(given)])];
  const ders = names.map((name) => {
    if (name === 'noise') throw new RangeError(`${fn}: 'noise' is always differentiated; it is not a parameter of K`);
    const D = given[name] ?? (K instanceof KernelOperator ? parameterDerivativeOperator(K, name) : undefined);
    if (D === undefined) throw new RangeError(`${fn}: no derivative of ${K} for '${name}': give it in options.derivatives`);
    if (D.shape[0] !== n || D.shape[1] !== n) throw new RangeError(`${fn}: derivatives.${name} has shape ${D.shape[0]}x${D.shape[1]}, expected ${n}x${n} like K`);
    return D;
  });
  return { names, ders };
}

/** yᵀA⁻¹y, log det A, and per derivative (the identity first, for the noise) tr(A⁻¹D) and uᵀD u, with their error bars and bounds. */
interface Terms {
  inverseQuad: number;
  inverseQuadBound: number;
  logdet: number;
  logdetStderr: number;
  traces: number[];
  traceStderrs: number[];
  quads: number[];
  quadBounds: number[];
  iterations?: { y: number; probes: number[] };
}

/** The SLQ route (slq.ts) on A = K + noise·I, run under `fn`'s name: its errors name the function the user called. */
async function slqTerms(K: LinearOperator, y: Float64Array, noise: number, ders: LinearOperator[], o: LogdetOptions, fn: string): Promise<Terms> {
  const I = new IdentityOperator(K.shape[0]);
  const r = await inverseQuadLogdetAs(fn, K.shift(noise), y, { ...o, method: 'slq', derivatives: [I, ...ders] });
  return {
    inverseQuad: r.inverseQuad, inverseQuadBound: r.inverseQuadBound, logdet: r.logdet.value, logdetStderr: r.logdet.stderr,
    traces: r.traces, traceStderrs: r.traceStderrs, quads: r.quads, quadBounds: r.quadBounds,
    iterations: { y: r.iterations, probes: r.logdet.iterations },
  };
}

/** The dense float64 route (dense-logdet.ts) on A = K + noise·I, the identity's terms first (for the noise). */
async function denseTerms(K: LinearOperator, y: Float64Array, noise: number, ders: LinearOperator[], fn: string): Promise<Terms> {
  const I = new IdentityOperator(K.shape[0]);
  const t = await denseLogdetTerms(K.shift(noise), y, [I, ...ders], fn, {
    name: 'K', definite: `K + ${noise}·I is not positive definite; raise the noise`,
  });
  const zeros = t.traces.map(() => 0);
  return { inverseQuad: t.inverseQuad!, inverseQuadBound: 0, logdet: t.logdet, logdetStderr: 0, traces: t.traces, traceStderrs: zeros, quads: t.quads, quadBounds: zeros };
}
