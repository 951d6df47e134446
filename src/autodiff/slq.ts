/**
 * Log-determinants by stochastic Lanczos quadrature (Ubaru, Chen & Saad, SIMAX 2017), the way GPyTorch's
 * `inv_quad_logdet` does it (Gardner et al., NeurIPS 2018): one block PCG (`mbcg`) on [y, z₁ … z_t] gives A⁻¹y, the
 * probes' solves A⁻¹zᵢ for trace terms, and per probe the Lanczos tridiagonal whose Gauss quadrature estimates zᵢᵀ log(A) zᵢ.
 *
 * The preconditioned estimator, written once. With P ≈ A (SPD, log det P known exactly) and B = P^{-1/2} A P^{-1/2}:
 *   log det A = log det P + tr log B.
 * PCG on A x = z with M = P⁻¹ makes the same coefficients as plain CG on B x̃ = w with w = P^{-1/2} z, so its tridiagonal
 * T is B's Lanczos matrix from w/‖w‖, ‖w‖² = zᵀP⁻¹z = ρ₀, and wᵀ log(B) w ≈ ρ₀ · e₁ᵀ log(T) e₁ = ρ₀ Σ_k τ_k² log θ_k
 * (θ, τ: T's eigenvalues and the first components of its eigenvectors). That is an unbiased estimate of tr log B only if
 * E[w wᵀ] = I, i.e. E[z zᵀ] = P: the probes come from the preconditioner (`Preconditioner.sampleProbes`), Rademacher
 * without one. The same probes give tr(A⁻¹ D) = E[(A⁻¹z)ᵀ D (P⁻¹z)] for any D, because E[P⁻¹z zᵀ] = I.
 */
import { tridiagonalEigen } from '../krylov/tridiagonal.js';
import { mulberry32 } from '../krylov/random.js';
import { requireSymmetric } from '../krylov/symmetry.js';
import { applyColumns, dot } from '../krylov/util.js';
import { LinearOperator, ShiftedOperator } from '../operators/linear-operator.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import {
  field, instanceOf, oneOf, optional, parseOptions, positiveInt, positiveNumber, union, withDefault, integer, type OptionField,
} from '../operators/options.js';
import { describeValue, toVector } from '../operators/validate.js';
import { Preconditioner, rademacher, ScaledPreconditioner } from '../preconditioners/common.js';
import { affineParts } from '../preconditioners/dense-factor.js';
import { columnsOf } from '../preconditioners/dense.js';
import { defaultPreconditionerChoice, kernelPlusDiagonal, PreconditionerHolds, type PreconditionerOptions } from '../preconditioners/auto.js';
import { lanczosTridiagonal, mbcg, type MbcgColumn } from './mbcg.js';
import { denseLogdetTerms } from './dense-logdet.js';
import { logdetRoute, type GpMethod } from './policy.js';

/** Preconditioners whose P has an exact log-determinant and a probe sampler. */
export const LOGDET_PRECONDITIONERS = ['auto', 'none', 'pivoted-cholesky', 'nystrom', 'jacobi', 'device-landmarks'] as const;
export type LogdetPreconditionerChoice = (typeof LOGDET_PRECONDITIONERS)[number];

/**
 * 'auto' preconditions A = K + αI (K a symmetric kernel, α > 0) from this n: as `solve` does on the GPU (device
 * landmarks, where its policy picks them: a pivoted-Cholesky factor is n×r host memory, over WASM's 4 GiB at n = 10⁶),
 * else by pivoted Cholesky (solve's default rank).
 */
export const LOGDET_AUTO_MIN_N = 1000;

export interface LogdetOptions {
  /**
   * 'auto' (default: an exact dense float64 Cholesky up to GP_DENSE_MAX_N = 1000 rows, as GPyTorch below its
   * max_cholesky_size, else SLQ — and SLQ wherever one of the options below, which only SLQ reads, is given),
   * 'cholesky' or 'slq' (policy.ts).
   */
  method?: GpMethod;
  /** Probe vectors t (default 16): the error bar shrinks as 1/√t. */
  probes?: number;
  /**
   * Lanczos steps (CG iterations) per probe at most (default: none, each probe runs until its residual ≤ probeRtol, at
   * most maxiter). A cap below convergence costs the log det little (Gauss quadrature converges fast) but biases the
   * trace terms of `inverseQuadLogdet`, which use the probes' solves: `unconvergedProbes` counts the probes it stopped.
   */
  lanczosSteps?: number;
  /** Relative residual at which the data column of `inverseQuadLogdet` stops (default 1e-6): it must reach it. `logdet` refuses it. */
  rtol?: number;
  /**
   * Relative residual at which a probe column stops (default 1e-4). A probe's solve x = A⁻¹(z − r) with ‖r‖ ≤ probeRtol·‖z‖
   * shifts its trace sample xᵀD(P⁻¹z) by −(A⁻¹r)ᵀD(P⁻¹z): a bias, not in the error bars, that a trace with a control
   * variate feels most (what is left after tr(P⁻¹D) is small). GP likelihood at n = 20,000 (bench/gp-nll.mjs, same
   * probes): probeRtol 1e-6, 1e-4 and 1e-3 took 6–7, 4 and 2–3 steps per probe and put ∂/∂noise 0.28 %, 0.26 % and
   * 1.05 % from the exact value (its standard error 1.4 %); log det A moved by < 1e-6 of itself — Gauss quadrature of
   * log converges faster than the residual.
   */
  probeRtol?: number;
  /** Iteration limit of every column (default 10·n): the data column y not converged within it is an error. */
  maxiter?: number;
  /** Seed of the probes (default 0). */
  seed?: number;
  /**
   * 'auto' (default: for a symmetric kernel + αI from n = 1000, device landmarks where `solve` picks them — a GPU
   * kernel from n = 4096 —, else pivoted Cholesky of the rank `solve` gives it; none below), 'none', 'pivoted-cholesky',
   * 'nystrom' (randomized), 'jacobi', 'device-landmarks' — built for A = K + αI and cached on K, as `solve`'s — or a
   * Preconditioner whose `logdet()` and `sampleProbes` are defined. Host landmark preconditioners have no exact log det here.
   */
  preconditioner?: LogdetPreconditionerChoice | Preconditioner;
  /** Options of the preconditioner's builder (rank, seed, …). */
  preconditionerOptions?: PreconditionerOptions;
  /**
   * Trace terms tr(A⁻¹D) as tr(P⁻¹D) (exact, from P's structure) + the estimate of tr((A⁻¹ − P⁻¹)D), whose variance
   * is far smaller where P ≈ A: 'all' (default) wherever P's structure gives it — for D ≠ I at the cost of one product of
   * D with P's factor (rank columns) —, 'auto' only where it costs no products (D = I, or a Jacobi P), 'none' never.
   */
  traceControlVariate?: 'auto' | 'all' | 'none';
}

export const LOGDET_SPEC = {
  method: withDefault(oneOf('auto', 'cholesky', 'slq'), 'auto' as GpMethod),
  probes: withDefault(positiveInt, 16),
  lanczosSteps: optional(positiveInt),
  rtol: withDefault(positiveNumber, 1e-6),
  probeRtol: withDefault(positiveNumber, 1e-4),
  maxiter: optional(positiveInt),
  seed: withDefault(integer(), 0),
  preconditioner: withDefault(union(oneOf(...LOGDET_PRECONDITIONERS), instanceOf(Preconditioner)), 'auto' as LogdetPreconditionerChoice | Preconditioner),
  preconditionerOptions: optional(field<PreconditionerOptions>('an object', (v) => typeof v === 'object' && v !== null && !Array.isArray(v))),
  traceControlVariate: withDefault(oneOf('auto', 'all', 'none'), 'all' as 'auto' | 'all' | 'none'),
} satisfies Record<keyof LogdetOptions, OptionField<unknown>>;

export interface LogdetResult {
  /** log det A: exact on the 'cholesky' route, else SLQ's estimate. */
  value: number;
  /** Its standard error: the sample standard deviation of the per-probe estimates over √t (0 on the 'cholesky' route). */
  stderr: number;
  /** The route taken, and why (policy.ts). */
  method: 'cholesky' | 'slq';
  reason: string;
  /** t, and the per-probe estimates of log det A (0 and none on the 'cholesky' route). */
  probes: number;
  estimates: Float64Array;
  /** log det P added exactly (0 without a preconditioner), and P's description. */
  preconditionerLogdet: number;
  preconditioner: string;
  /** CG iterations (= Lanczos steps) per probe. */
  iterations: number[];
  /** Probes stopped (by lanczosSteps or maxiter) above probeRtol. */
  unconvergedProbes: number;
  /** Operator products, in vectors (on the 'cholesky' route the n columns `toDense` reads). */
  matvecs: number;
}

export interface InverseQuadLogdetOptions extends LogdetOptions {
  /** Operators D_k (typically ∂A/∂θ_k): their trace terms tr(A⁻¹ D_k) and quadratic terms uᵀ D_k u, u = A⁻¹y. */
  derivatives?: readonly LinearOperator[];
}

const INV_QUAD_SPEC = {
  ...LOGDET_SPEC,
  derivatives: optional(field<readonly LinearOperator[]>('an array of LinearOperators', (v) => Array.isArray(v) && v.every((d) => d instanceof LinearOperator))),
} satisfies Record<keyof InverseQuadLogdetOptions, OptionField<unknown>>;

export interface InverseQuadLogdetResult {
  /** u = A⁻¹ y. */
  solve: Float64Array;
  /** yᵀ A⁻¹ y. */
  inverseQuad: number;
  logdet: LogdetResult;
  /** Per derivative D_k: tr(A⁻¹ D_k) (stochastic, with its standard error) and uᵀ D_k u (exact up to the solve). */
  traces: number[];
  traceStderrs: number[];
  quads: number[];
  /** Iterations of the data column. */
  iterations: number;
}

/** log det A of a symmetric positive definite A (typically K + αI): exact by a dense Cholesky, or SLQ's estimate and its error bar. */
export async function logdet(A: LinearOperator, options?: LogdetOptions): Promise<LogdetResult> {
  const fn = 'logdet';
  const o = parseOptions(fn, options, LOGDET_SPEC);
  const n = requireSpdOperator(A, fn);
  // the spec is inverseQuadLogdet's too, whose data column rtol stops: logdet has no such column (it was ignored)
  if ((options as LogdetOptions | undefined)?.rtol !== undefined) {
    throw new RangeError("logdet: option 'rtol' is the tolerance of inverseQuadLogdet's solve A⁻¹y, which logdet does not make; probeRtol sets the probes'");
  }
  const route = logdetRoute(fn, n, o.method, slqOnlyKey(options, o.method === 'auto'));
  // the log det of a non-symmetric A is not what either route computes: refused as solve refuses it (structure, else a probe)
  await requireSymmetric(A, fn, NEEDS[route.method]);
  if (route.method === 'cholesky') return exactLogdet((await denseLogdetTerms(A, undefined, [], fn)).logdet, n, route);
  return (await run(A, undefined, o, [], fn, route)).logdet;
}

/** GPyTorch's inv_quad_logdet: A⁻¹y, yᵀA⁻¹y, log det A and the trace and quadratic terms of `derivatives` — exact by a dense Cholesky, or from one block CG. */
export async function inverseQuadLogdet(A: LinearOperator, y: Float64Array | number[], options?: InverseQuadLogdetOptions): Promise<InverseQuadLogdetResult> {
  const fn = 'inverseQuadLogdet';
  const o = parseOptions(fn, options, INV_QUAD_SPEC);
  const n = requireSpdOperator(A, fn);
  const yv = toVector(y, n, `${fn} (y)`); // finite entries, length n
  const derivatives = o.derivatives ?? [];
  derivatives.forEach((D, k) => {
    if (D.shape[0] !== n || D.shape[1] !== n) throw new RangeError(`${fn}: derivatives[${k}] has shape ${D.shape[0]}x${D.shape[1]}, expected ${n}x${n} like A`);
  });
  const route = logdetRoute(fn, n, o.method, slqOnlyKey(options, o.method === 'auto'));
  await requireSymmetric(A, fn, NEEDS[route.method]);
  if (route.method === 'cholesky') {
    const t = await denseLogdetTerms(A, yv, derivatives, fn);
    return {
      solve: t.solve!, inverseQuad: t.inverseQuad!, logdet: exactLogdet(t.logdet, n, route),
      traces: t.traces, traceStderrs: t.traces.map(() => 0), quads: t.quads, iterations: 0,
    };
  }
  return run(A, yv, o, derivatives, fn, route) as Promise<InverseQuadLogdetResult>;
}

/** What each route needs of A, for the refusal of a non-symmetric one. */
const NEEDS = {
  cholesky: 'a log-determinant needs a symmetric positive definite A',
  slq: 'its CG and Lanczos quadrature need a symmetric positive definite A',
} as const;

/** The options only SLQ reads ('auto' as the preconditioner is not one). */
const SLQ_KEYS = (Object.keys(LOGDET_SPEC) as (keyof LogdetOptions)[]).filter((k) => k !== 'method');

/**
 * The first SLQ-only option given, if any; with `choosing` ('auto' picks the route), the first that asks for SLQ — the
 * 'auto' preconditioner's options are not one, as in `solve`.
 */
export function slqOnlyKey(options: unknown, choosing: boolean): string | undefined {
  if (options === null || typeof options !== 'object') return undefined;
  const given = options as Record<string, unknown>;
  const autoPreconditioner = given['preconditioner'] === undefined || given['preconditioner'] === 'auto';
  return SLQ_KEYS.find((k) => given[k] !== undefined && !(k === 'preconditioner' && autoPreconditioner)
    && !(choosing && k === 'preconditionerOptions' && autoPreconditioner));
}

/** The 'cholesky' route's result: the exact value, no probes. */
function exactLogdet(value: number, n: number, route: { method: 'cholesky' | 'slq'; reason: string }): LogdetResult {
  return {
    value, stderr: 0, method: route.method, reason: route.reason, probes: 0, estimates: new Float64Array(0),
    preconditionerLogdet: 0, preconditioner: 'none', iterations: [], unconvergedProbes: 0, matvecs: n,
  };
}

function requireSpdOperator(A: unknown, fn: string): number {
  if (!(A instanceof LinearOperator)) throw new TypeError(`${fn}: expected a LinearOperator A, got ${describeValue(A)}`);
  if (A.shape[0] !== A.shape[1]) throw new RangeError(`${fn}: A must be square, got shape ${A.shape[0]}x${A.shape[1]} (${A})`);
  if (A instanceof ShiftedOperator && !(A.alpha >= 0)) throw new RangeError(`${fn}: the shift α of A = K + αI must be ≥ 0, got ${A.alpha}`);
  return A.shape[0];
}

type Parsed = ReturnType<typeof parseOptions<typeof LOGDET_SPEC>>;

/** The preconditioner of `choice` for A, or undefined; one without an exact log det is refused by name. */
export async function logdetPreconditioner(
  A: LinearOperator, o: Pick<Parsed, 'preconditioner' | 'preconditionerOptions'>, fn: string, holds?: PreconditionerHolds,
): Promise<Preconditioner | undefined> {
  const choice = o.preconditioner;
  let P: LinearOperator | undefined;
  if (choice instanceof Preconditioner) P = choice;
  else {
    const shifted = shiftedForm(A);
    const resolved = choice === 'auto' ? autoLogdetPreconditioner(A) : choice;
    if (resolved === 'none') return undefined;
    if (!shifted) throw new RangeError(`${fn}: preconditioner '${resolved}' is built for A = c·(K + αI) with α > 0, c > 0 (K.shift(α), any positive scale, or K plus a positive diagonal); got ${A}`);
    const built = await shifted.base.preconditioner(shifted.alpha, resolved, o.preconditionerOptions, holds);
    P = shifted.scale === 1 || !(built instanceof Preconditioner) ? built : new ScaledPreconditioner(built, shifted.scale);
  }
  if (!(P instanceof Preconditioner) || P.logdet() === undefined || P.shape[0] !== A.shape[0]) {
    throw new RangeError(`${fn}: preconditioner ${P} has no exact log-determinant or probe sampler (or is not ${A.shape[0]}x${A.shape[0]}); use one of ${LOGDET_PRECONDITIONERS.join(', ')}`);
  }
  return P;
}

/**
 * A as c·(B + αI) with c > 0, α > 0 — its shifts and positive scalings peeled (`affineParts`: K.shift(α), 2·K.shift(α),
 * K.scale(c).shift(s), …) — or as at least that, c·(K + αI) ⪯ A, where the peeled core is a kernel plus diagonals
 * (per-point noise K + D, α from min D: `kernelPlusDiagonal`, as solve's 'auto' preconditioner takes it): the form
 * whose preconditioner is B's for α, scaled by c. Any such P keeps the estimate unbiased (log det P is exact, the
 * probes estimate log det P^{-1/2}AP^{-1/2}); undefined where A has none.
 */
function shiftedForm(A: LinearOperator): { base: LinearOperator; alpha: number; scale: number } | undefined {
  const { core, scale, shift } = affineParts(A);
  if (!(scale > 0)) return undefined;
  const parts = kernelPlusDiagonal(core);
  if (parts) {
    const alpha = (shift + scale * parts.floor) / (scale * parts.scale);
    return alpha > 0 ? { base: parts.kernel, alpha, scale: scale * parts.scale } : undefined;
  }
  return shift > 0 ? { base: core, alpha: shift / scale, scale } : undefined;
}

/**
 * What 'auto' resolves to for A (preconditioned only where A = c·(K + αI), K a symmetric kernel, α > 0, c > 0,
 * n ≥ LOGDET_AUTO_MIN_N).
 */
export function autoLogdetPreconditioner(A: LinearOperator | undefined): 'device-landmarks' | 'pivoted-cholesky' | 'none' {
  const shifted = A === undefined ? undefined : shiftedForm(A);
  if (!(shifted && shifted.base instanceof KernelOperator && shifted.base.symmetric && A!.shape[0] >= LOGDET_AUTO_MIN_N)) return 'none';
  return defaultPreconditionerChoice(shifted.base, shifted.alpha) === 'device-landmarks' ? 'device-landmarks' : 'pivoted-cholesky';
}

/** Probes with E[z zᵀ] = P (Rademacher where P = I). */
async function drawProbes(n: number, t: number, seed: number, P: Preconditioner | undefined): Promise<Float64Array[]> {
  const rng = mulberry32(seed);
  const Z = P ? (await P.sampleProbes(t, rng))! : rademacher(n, t, rng);
  return columnsOf(Z);
}

/** e₁ᵀ log(T) e₁ for the tridiagonal of one column (Gauss quadrature of log on T's spectral measure). */
function quadratureLog(c: MbcgColumn): number {
  const { diag, off } = lanczosTridiagonal(c.alphas, c.betas);
  const m = diag.length;
  if (m === 0) return 0;
  const eig = tridiagonalEigen(diag, off, { eigenvectors: [0] });
  let s = 0;
  for (let k = 0; k < m; k++) {
    const theta = eig.eigenvalues[k]!;
    if (!(theta > 0)) throw new RangeError(`logdet: a Ritz value ${theta} ≤ 0: A is not positive definite (or its products are not symmetric)`);
    s += eig.eigenvectors![k]! ** 2 * Math.log(theta);
  }
  return s;
}

function meanAndStderr(v: Float64Array): { mean: number; stderr: number } {
  const t = v.length;
  let mean = 0;
  for (let i = 0; i < t; i++) mean += v[i]!;
  mean /= t;
  let s2 = 0;
  for (let i = 0; i < t; i++) s2 += (v[i]! - mean) ** 2;
  return { mean, stderr: t > 1 ? Math.sqrt(s2 / (t - 1) / t) : Infinity };
}

async function run(
  A: LinearOperator, y: Float64Array | undefined, o: Parsed, derivatives: readonly LinearOperator[], fn: string,
  route: { method: 'cholesky' | 'slq'; reason: string },
): Promise<InverseQuadLogdetResult | { logdet: LogdetResult }> {
  // the cached preconditioner stays this run's until it ends, whatever other runs or solves evict meanwhile
  const holds = new PreconditionerHolds();
  try {
    return await runWith(A, y, o, derivatives, fn, await logdetPreconditioner(A, o, fn, holds), route);
  } finally {
    holds.release();
  }
}

async function runWith(
  A: LinearOperator, y: Float64Array | undefined, o: Parsed, derivatives: readonly LinearOperator[], fn: string, P: Preconditioner | undefined,
  route: { method: 'cholesky' | 'slq'; reason: string },
): Promise<InverseQuadLogdetResult | { logdet: LogdetResult }> {
  const n = A.shape[0];
  const probes = await drawProbes(n, o.probes, o.seed, P);
  const bs = y ? [y, ...probes] : probes;
  const limit = o.maxiter ?? 10 * n;
  const maxiter = bs.map((_, j) => (y && j === 0 ? limit : Math.min(limit, o.lanczosSteps ?? Infinity)));
  A.expectRepeatedProducts();
  const rtol = bs.map((_, j) => (y && j === 0 ? o.rtol : o.probeRtol));
  const cols = await mbcg(A, bs, { rtol, maxiter, M: P });
  const probeCols = y ? cols.slice(1) : cols;
  const estimates = Float64Array.from(probeCols, (c) => c.rho0 * quadratureLog(c));
  const pld = P?.logdet() ?? 0;
  const { mean, stderr } = meanAndStderr(estimates);
  const iterations = probeCols.map((c) => c.alphas.length);
  const ld: LogdetResult = {
    value: pld + mean, stderr, method: route.method, reason: route.reason, probes: o.probes, estimates: estimates.map((e) => e + pld), preconditionerLogdet: pld,
    preconditioner: P ? String(P) : 'none', iterations, unconvergedProbes: probeCols.filter((c) => !c.converged).length,
    matvecs: cols.reduce((s, c) => s + c.alphas.length, 0),
  };
  if (!y) return { logdet: ld };
  const u = cols[0]!;
  if (!u.converged) {
    throw new Error(`${fn}: the solve A⁻¹y did not converge in ${u.alphas.length} iterations (relative residual ${u.relativeResidual.toExponential(3)} > rtol ${o.rtol}); raise maxiter or rtol`);
  }
  const terms = await traceAndQuadTerms(derivatives, u.x, probeCols, P, o.traceControlVariate);
  return { solve: u.x, inverseQuad: dot(y, u.x), logdet: ld, ...terms, iterations: u.alphas.length };
}

/**
 * tr(A⁻¹D) ≈ mean (A⁻¹zᵢ)ᵀ D (P⁻¹zᵢ), or with the control variate tr(P⁻¹D) + mean (A⁻¹zᵢ − P⁻¹zᵢ)ᵀ D (P⁻¹zᵢ)
 * (E[(P⁻¹z)ᵀD(P⁻¹z)] = tr(P⁻¹D)), and uᵀD u: one product of D on [u, P⁻¹z₁ … P⁻¹z_t] per derivative.
 */
async function traceAndQuadTerms(
  derivatives: readonly LinearOperator[], u: Float64Array, probeCols: readonly MbcgColumn[], P: Preconditioner | undefined,
  controlVariate: 'auto' | 'all' | 'none',
): Promise<Pick<InverseQuadLogdetResult, 'traces' | 'traceStderrs' | 'quads'>> {
  const traces: number[] = [];
  const traceStderrs: number[] = [];
  const quads: number[] = [];
  for (const D of derivatives) {
    const Dv = await applyColumns(D, [u, ...probeCols.map((c) => c.mb)]);
    quads.push(dot(u, Dv[0]!));
    const exact = P && controlVariate !== 'none' ? await P.traceInverseProduct(D, controlVariate === 'all') : undefined;
    const samples = Float64Array.from(probeCols, (c, i) => dot(c.x, Dv[i + 1]!) - (exact === undefined ? 0 : dot(c.mb, Dv[i + 1]!)));
    const { mean, stderr } = meanAndStderr(samples);
    traces.push((exact ?? 0) + mean);
    traceStderrs.push(stderr);
  }
  return { traces, traceStderrs, quads };
}
