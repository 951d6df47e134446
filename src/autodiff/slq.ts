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
 *
 * What the probes' sample spread does not show is bounded and added to the error bars (`stderr = √(s² + b²)`): log's
 * even derivatives are negative, so each probe's m-point Gauss quadrature G over-estimates wᵀlog(B)w, and Gauss–Radau
 * with a node at a ≤ λ_min(B) under-estimates it (Golub & Meurant, Matrices, Moments and Quadrature, §6.2) — their gap
 * bounds a probe cut short by `lanczosSteps`; a residual r of a solve errs by at most ‖r‖·‖D v‖/λ_min(A) in a trace or
 * quadratic sample. a and λ_min(A) come from A's structure (`spectralFloor`: K + αI ⪰ αI; P ⪯ A for a pivoted-Cholesky
 * P of K + αI); where neither is known, a probe cut short is refused rather than returned with an error bar it lacks.
 */
import { tridiagonalEigen } from '../krylov/tridiagonal.js';
import { mulberry32 } from '../krylov/random.js';
import { requireSymmetric } from '../krylov/symmetry.js';
import { applyColumns, dot, norm } from '../krylov/util.js';
import { LinearOperator, ScaledOperator, ShiftedOperator, SumOperator } from '../operators/linear-operator.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import {
  calledFunction, field, instanceOf, oneOf, optional, parseOptions, positiveInt, positiveNumber, refined, union, withDefault, integer, type OptionField,
} from '../operators/options.js';
import { describeValue, toVector } from '../operators/validate.js';
import { Preconditioner, rademacher, ScaledPreconditioner } from '../preconditioners/common.js';
import { affineParts } from '../preconditioners/dense-factor.js';
import { columnsOf } from '../preconditioners/dense.js';
import {
  checkPreconditionerOptions, defaultPreconditionerChoice, kernelPlusDiagonal, PreconditionerHolds, structuralFloor, type PreconditionerOptions,
} from '../preconditioners/auto.js';
import { JacobiPreconditioner } from '../preconditioners/jacobi.js';
import { PivotedCholeskyPreconditioner } from '../preconditioners/pivoted-cholesky.js';
import { lanczosTridiagonal, mbcg, type MbcgColumn } from './mbcg.js';
import { denseLogdetTerms, powerOfTwoScale, unscaledQuad, unscaledSolve } from './dense-logdet.js';
import { timesPow2 } from '../operators/kernel-operator.js';
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
   * most maxiter). A cap below convergence biases the log det (Gauss quadrature over-estimates it) and the trace terms
   * of `inverseQuadLogdet`: the error bars include bounds on both (`truncationBound`, `traceBounds`), and where A's
   * structure gives no bound (no lower bound on its spectrum, or a preconditioner other than 'none', 'jacobi' or a
   * pivoted Cholesky built here) a probe it stops is refused. `unconvergedProbes` counts the probes it stopped.
   */
  lanczosSteps?: number;
  /** Relative residual at which the data column of `inverseQuadLogdet` stops (default 1e-6): it must reach it. `logdet` refuses it. */
  rtol?: number;
  /**
   * Relative residual at which a probe column stops (default 1e-4). A probe's solve x = A⁻¹(z − r) with ‖r‖ ≤ probeRtol·‖z‖
   * shifts its trace sample xᵀD(P⁻¹z) by −(A⁻¹r)ᵀD(P⁻¹z): a bias, in the error bars only for probes stopped above
   * probeRtol (`lanczosSteps`: its worst-case bound would dwarf the spread of converged ones), that a trace with a control
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
   * Trace terms tr(A⁻¹D) as β·tr(P⁻¹D) (exact, from P's structure) + the estimate of tr((A⁻¹ − βP⁻¹)D), whose variance
   * is far smaller where P ≈ A; β ∈ [0, 1] is fitted on the probes (0 where the control variate would only add noise):
   * 'all' (default) wherever P's structure gives it — for D ≠ I at the cost of one product of D with P's factor (rank
   * columns) —, 'auto' only where it costs no products (D = I, or a Jacobi P), 'none' never.
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
  preconditionerOptions: optional(refined(
    field<PreconditionerOptions>('an object', (v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
    // its keys as solve checks them (also where no preconditioner is built), under the name of the function called
    // (`calledFunction`: the name in `where`, "<fn>: preconditionerOptions")
    (v, where) => {
      checkPreconditionerOptions(v, calledFunction(where));
      return v;
    },
  )),
  traceControlVariate: withDefault(oneOf('auto', 'all', 'none'), 'all' as 'auto' | 'all' | 'none'),
} satisfies Record<keyof LogdetOptions, OptionField<unknown>>;

export interface LogdetResult {
  /** log det A: exact on the 'cholesky' route, else SLQ's estimate. */
  value: number;
  /**
   * Its error bar √(s² + b²): s the sample standard deviation of the per-probe estimates over √t, b `truncationBound`
   * (0 on the 'cholesky' route). s is a sample estimate: with few probes read it with Student's t (4 probes: |error| >
   * 2·stderr in about 14 % of seeds).
   */
  stderr: number;
  /**
   * b: a bound on the bias of `value` from the probes' truncated Gauss quadrature (the untruncated estimate lies in
   * [value − b, value]: Gauss–Radau below, Gauss above; `lanczosSteps` makes it large), in `stderr`; 0 where every probe's quadrature
   * is exact, undefined where no lower bound of the preconditioned spectrum is known (and every probe converged).
   */
  truncationBound?: number;
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
  /**
   * Per derivative D_k: tr(A⁻¹ D_k) (stochastic) with its error bar √(s² + b²) — b the bound, in `traceBounds`, on the
   * bias of the solves of probes stopped above probeRtol, ‖rᵢ‖‖D_k P⁻¹zᵢ‖/λ_min(A) averaged, where λ_min(A) has a
   * structural lower bound (else 0) — and uᵀ D_k u, within `quadBounds` (2‖D_k u‖‖r‖/λ_min(A), r the solve's residual; first order) of its value.
   */
  traces: number[];
  traceStderrs: number[];
  traceBounds: number[];
  quads: number[];
  quadBounds: number[];
  /** |yᵀA⁻¹y − inverseQuad| ≤ inverseQuadBound = |uᵀr| + ‖r‖²/λ_min(A) (0 where λ_min(A) has no structural bound). */
  inverseQuadBound: number;
  /** Iterations of the data column. */
  iterations: number;
}

/**
 * What `SlqNoConvergence` carries: the SLQ route's block CG as it stopped. The data column's fields (`solve`,
 * `inverseQuad`, `iterations`, `relativeResidual`, `rtol`) are there where it has one — `inverseQuadLogdet`, and
 * `gpNegativeLogMarginalLikelihood`, whose A is K + noise·I —, absent for `logdet`.
 */
export interface SlqPartialResult {
  /**
   * What stopped short: 'solve', the data column A⁻¹y, at maxiter above rtol; 'probes', probe columns stopped above
   * probeRtol (by lanczosSteps or maxiter) where nothing bounds the bias that leaves — in log det A
   * (`logdet.truncationBound` absent) or in the trace terms of `derivatives` (no lower bound on A's spectrum).
   */
  cause: 'solve' | 'probes';
  /** x ≈ A⁻¹y as the data column stopped (an entry past float64, for a y near overflow, is ±Infinity). */
  solve?: Float64Array;
  /** yᵀx, the estimate of yᵀA⁻¹y from it. */
  inverseQuad?: number;
  /** CG iterations of the data column. */
  iterations?: number;
  /** ‖y − A x‖/‖y‖ of `solve`, from one more product with A (not CG's recursive residual, which can drift from it). */
  relativeResidual?: number;
  /** The data column's tolerance (the option, default 1e-6). */
  rtol?: number;
  /** The iteration cap of every column, as run (the option, default 10·n). */
  maxiter: number;
  /** The probe columns' tolerance and step cap (the options). */
  probeRtol: number;
  lanczosSteps?: number;
  /**
   * log det A from the probes as they stopped (`iterations`, `unconvergedProbes` per probe); for cause 'probes' its
   * `stderr` is their spread alone, without the bias nothing bounds.
   */
  logdet: LogdetResult;
}

/**
 * The SLQ route of `logdet`, `inverseQuadLogdet` or `gpNegativeLogMarginalLikelihood` stopped short of a result it can
 * vouch for: the solve A⁻¹y not converged within maxiter, or probes cut short where nothing bounds their bias. A
 * RangeError (raise maxiter, rtol or lanczosSteps, as the message says, naming the function called) with the partial
 * result in `result`.
 */
export class SlqNoConvergence extends RangeError {
  constructor(message: string, readonly result: SlqPartialResult) {
    super(message);
    this.name = 'SlqNoConvergence';
  }
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
  return inverseQuadLogdetAs('inverseQuadLogdet', A, y, options);
}

/**
 * `inverseQuadLogdet` run for the public function `fn` (the GP likelihood: `gp.ts`): every error it and the steps it
 * runs (options, symmetry, preconditioner, block CG, quadrature, refusals) throw names `fn`, the function the user called.
 */
export async function inverseQuadLogdetAs(
  fn: string, A: LinearOperator, y: Float64Array | number[], options?: InverseQuadLogdetOptions,
): Promise<InverseQuadLogdetResult> {
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
    const zeros = t.traces.map(() => 0);
    return {
      solve: t.solve!, inverseQuad: t.inverseQuad!, logdet: exactLogdet(t.logdet, n, route),
      traces: t.traces, traceStderrs: zeros, traceBounds: zeros, quads: t.quads, quadBounds: zeros, inverseQuadBound: 0, iterations: 0,
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
    value, stderr: 0, truncationBound: 0, method: route.method, reason: route.reason, probes: 0, estimates: new Float64Array(0),
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

/**
 * λ_min(A) ≥ the value, from A's structure alone: a diagonal's least entry, under shifts, positive scalings and sums,
 * a symmetric kernel counted positive semidefinite (as the preconditioner policy counts it: `structuralFloor`); undefined
 * where a part's spectrum is unknown (a dense or composed operator) or the bound is not > 0.
 */
export function spectralFloor(A: LinearOperator): number | undefined {
  const f = floorOf(A);
  return f !== undefined && f > 0 ? f : undefined;
}

/** `structuralFloor` counting only symmetric kernels as positive semidefinite: any other part's spectrum is unknown here. */
const floorOf = (A: LinearOperator): number | undefined =>
  structuralFloor(A, (part) => (part instanceof KernelOperator && part.symmetric ? 0 : undefined));

/**
 * a ≤ λ_min(P^{-1/2} A P^{-1/2}), the node of Gauss–Radau: A's spectral floor f without P; f/λ_max(P) for a Jacobi P
 * (any P: λ_min(P^{-1/2}AP^{-1/2}) ≥ λ_min(A)/λ_max(P)); 1 for a pivoted-Cholesky P built here (P = c·(LLᵀ + αI) with
 * LLᵀ ⪯ K, its Schur complement being positive semidefinite, and c·(K + αI) ⪯ A: `shiftedForm`); undefined for other
 * preconditioners (their P need not lie below A, nor is λ_max(P) at hand).
 */
function quadratureFloor(A: LinearOperator, P: Preconditioner | undefined, built: boolean): number | undefined {
  const f = spectralFloor(A);
  if (!P) return f;
  const c = P instanceof ScaledPreconditioner ? P.factor : 1;
  const inner = P instanceof ScaledPreconditioner ? P.inner : P;
  if (inner instanceof JacobiPreconditioner) {
    const minInverse = inner.inverseDiagonal.reduce((m, v) => Math.min(m, v), Infinity);
    return f === undefined || !(minInverse > 0) ? undefined : (f * minInverse) / c;
  }
  const base = shiftedForm(A)?.base;
  return built && inner instanceof PivotedCholeskyPreconditioner && base !== undefined && floorOf(base) !== undefined ? 1 : undefined;
}

/**
 * For one column's tridiagonal T (m×m): Gauss quadrature e₁ᵀ log(T) e₁ of log on its spectral measure — an upper
 * bound of the exact wᵀlog(B)w/‖w‖² — and, where a ≤ λ_min(B) and the next coupling β are known, Gauss–Radau with a
 * node at a, a lower bound: T extended by the row [β, ω] with ω = a + β²·[(T − aI)⁻¹]_mm, so that a is an eigenvalue.
 */
function quadratureLog(c: MbcgColumn, floor: number | undefined, fn: string): { gauss: number; radau?: number } {
  const { diag, off } = lanczosTridiagonal(c.alphas, c.betas);
  const m = diag.length;
  if (m === 0) return { gauss: 0, radau: 0 };
  const eig = tridiagonalEigen(diag, off, { eigenvectors: m > 1 ? [0, m - 1] : [0] });
  const last = m > 1 ? m : 0;
  let gauss = 0;
  let thetaMin = Infinity;
  for (let k = 0; k < m; k++) {
    const theta = eig.eigenvalues[k]!;
    if (!(theta > 0)) throw new RangeError(`${fn}: a Ritz value ${theta} ≤ 0: A is not positive definite (or its products are not symmetric)`);
    gauss += eig.eigenvectors![k]! ** 2 * Math.log(theta);
    thetaMin = Math.min(thetaMin, theta);
  }
  if (floor === undefined || c.nextBeta === undefined) return { gauss };
  if (c.nextBeta === 0) return { gauss, radau: gauss }; // an invariant subspace: the quadrature is exact
  const a = Math.min(floor, thetaMin * (1 - 1e-9)); // Ritz values lie above λ_min ≥ a but for rounding
  let inv = 0;
  for (let k = 0; k < m; k++) inv += eig.eigenvectors![last + k]! ** 2 / (eig.eigenvalues[k]! - a);
  const beta2 = c.nextBeta / c.alphas[m - 1]! ** 2;
  const radauDiag = Float64Array.of(...diag, a + beta2 * inv);
  const radauOff = Float64Array.of(...off, Math.sqrt(beta2));
  const ext = tridiagonalEigen(radauDiag, radauOff, { eigenvectors: [0] });
  let radau = 0;
  for (let k = 0; k <= m; k++) {
    const theta = ext.eigenvalues[k]!;
    if (!(theta > 0)) return { gauss };
    radau += ext.eigenvectors![k]! ** 2 * Math.log(theta);
  }
  return { gauss, radau: Math.min(radau, gauss) };
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

/** Lower bounds, from structure, of λ_min(P^{-1/2} A P^{-1/2}) (Gauss–Radau's node) and of λ_min(A) (the solves' errors). */
interface Floors {
  quadrature?: number;
  operator?: number;
}

async function run(
  A: LinearOperator, y: Float64Array | undefined, o: Parsed, derivatives: readonly LinearOperator[], fn: string,
  route: { method: 'cholesky' | 'slq'; reason: string },
): Promise<InverseQuadLogdetResult | { logdet: LogdetResult }> {
  // the cached preconditioner stays this run's until it ends, whatever other runs or solves evict meanwhile
  const holds = new PreconditionerHolds();
  try {
    const P = await logdetPreconditioner(A, o, fn, holds);
    const floors = { quadrature: quadratureFloor(A, P, !(o.preconditioner instanceof Preconditioner)), operator: spectralFloor(A) };
    return await runWith(A, y, o, derivatives, fn, P, floors, route);
  } finally {
    holds.release();
  }
}

async function runWith(
  A: LinearOperator, y: Float64Array | undefined, o: Parsed, derivatives: readonly LinearOperator[], fn: string, P: Preconditioner | undefined,
  floors: Floors, route: { method: 'cholesky' | 'slq'; reason: string },
): Promise<InverseQuadLogdetResult | { logdet: LogdetResult }> {
  const n = A.shape[0];
  const probes = await drawProbes(n, o.probes, o.seed, P);
  // the data column is 2⁻ᵉy (its largest entry in [½, 1)), an exact scaling undone on u, yᵀu and uᵀD u
  const e = y ? powerOfTwoScale(y) : 0;
  const yHat = y && e !== 0 ? y.map((v) => timesPow2(v, -e)) : y;
  const bs = yHat ? [yHat, ...probes] : probes;
  const limit = o.maxiter ?? 10 * n;
  const maxiter = bs.map((_, j) => (y && j === 0 ? limit : Math.min(limit, o.lanczosSteps ?? Infinity)));
  A.expectRepeatedProducts();
  const rtol = bs.map((_, j) => (y && j === 0 ? o.rtol : o.probeRtol));
  const cols = await mbcg(A, bs, { fn, rtol, maxiter, M: P });
  const probeCols = y ? cols.slice(1) : cols;
  const ld = probeLogdet(probeCols, P, o, floors.quadrature, fn, route);
  ld.matvecs = cols.reduce((s, c) => s + c.alphas.length, 0); // the data column's too
  const data = yHat ? { col: cols[0]!, yHat, e } : undefined;
  const partial = (cause: SlqPartialResult['cause']) => partialResult(cause, A, ld, o, limit, data);
  if (ld.truncationBound === undefined) {
    await refuseUnbounded(probeCols, o, fn, `the bias of their truncated quadrature (no lower bound on the spectrum of ${P ? `P⁻¹A, P = ${P}` : 'A'})`, partial);
  }
  if (!yHat) return { logdet: ld };
  const u = cols[0]!;
  if (!u.converged) {
    const r = await partial('solve');
    throw new SlqNoConvergence(
      `${fn}: the solve A⁻¹y did not converge in ${u.alphas.length} iterations (relative residual ${r.relativeResidual!.toExponential(3)} > rtol ${o.rtol}); raise maxiter or rtol`,
      r,
    );
  }
  const f = floors.operator;
  if (derivatives.length > 0 && f === undefined) await refuseUnbounded(probeCols, o, fn, `the trace terms' bias (no lower bound on the spectrum of ${A})`, partial);
  const inverseQuad = unscaledQuad(dot(yHat, u.x), e, fn, 'yᵀA⁻¹y');
  // yᵀA⁻¹y = yᵀu + uᵀr + rᵀA⁻¹r for u = A⁻¹(y − r); CG makes uᵀr = 0 but for rounding
  const rY = norm(u.residual);
  const inverseQuadBound = f === undefined ? 0 : timesPow2(timesPow2(Math.abs(dot(u.x, u.residual)) + rY * rY / f, e), e);
  const terms = await traceAndQuadTerms(derivatives, u, probeCols, P, o.traceControlVariate, f, e, fn);
  return { solve: unscaledSolve(u.x, e, fn), inverseQuad, inverseQuadBound, logdet: ld, ...terms, iterations: u.alphas.length };
}

/** The log det from the probe columns: per probe ρ₀ times its Gauss quadrature, with the truncation's bound (Gauss − Radau). */
function probeLogdet(
  probeCols: readonly MbcgColumn[], P: Preconditioner | undefined, o: Parsed, floor: number | undefined, fn: string,
  route: { method: 'cholesky' | 'slq'; reason: string },
): LogdetResult {
  const quad = probeCols.map((c) => quadratureLog(c, floor, fn));
  const bounded = quad.every((q) => q.radau !== undefined); // where not, the caller refuses probes cut short (`refuseUnbounded`)
  const estimates = Float64Array.from(probeCols, (c, i) => c.rho0 * quad[i]!.gauss);
  const truncationBound = bounded ? probeCols.reduce((s, c, i) => s + c.rho0 * (quad[i]!.gauss - quad[i]!.radau!), 0) / probeCols.length : undefined;
  const pld = P?.logdet() ?? 0;
  const { mean, stderr } = meanAndStderr(estimates);
  return {
    value: pld + mean, stderr: truncationBound === undefined ? stderr : Math.hypot(stderr, truncationBound),
    ...(truncationBound === undefined ? {} : { truncationBound }), method: route.method, reason: route.reason, probes: o.probes,
    estimates: estimates.map((v) => v + pld), preconditionerLogdet: pld, preconditioner: P ? String(P) : 'none',
    iterations: probeCols.map((c) => c.alphas.length), unconvergedProbes: probeCols.filter((c) => !c.converged).length, matvecs: 0,
  };
}

/** Probes stopped above probeRtol (by lanczosSteps or maxiter) whose bias `what` has no bound: refused, not returned (with `partial('probes')`). */
async function refuseUnbounded(
  probeCols: readonly MbcgColumn[], o: Parsed, fn: string, what: string, partial: (cause: 'probes') => Promise<SlqPartialResult>,
): Promise<void> {
  const stopped = probeCols.filter((c) => !c.converged).length;
  if (stopped === 0) return;
  const cap = o.lanczosSteps !== undefined ? `lanczosSteps = ${o.lanczosSteps}` : `maxiter = ${o.maxiter ?? 'the default'}`;
  throw new SlqNoConvergence(
    `${fn}: ${cap} stopped ${stopped} of ${probeCols.length} probes above probeRtol ${o.probeRtol}, and nothing bounds ${what}; `
    + "raise lanczosSteps (or leave it out), or give A as K + αI (K a kernel) with preconditioner 'none', 'jacobi' or 'pivoted-cholesky'",
    await partial('probes'),
  );
}

/**
 * What `SlqNoConvergence` carries: the options that stopped the columns, the log det as the probes stopped, and the
 * data column's iterate x̂ ≈ A⁻¹ŷ (ŷ = 2⁻ᵉy) unscaled, with its true relative residual from one product with A.
 */
async function partialResult(
  cause: SlqPartialResult['cause'], A: LinearOperator, ld: LogdetResult, o: Parsed, maxiter: number,
  data: { col: MbcgColumn; yHat: Float64Array; e: number } | undefined,
): Promise<SlqPartialResult> {
  const limits = { maxiter, probeRtol: o.probeRtol, ...(o.lanczosSteps === undefined ? {} : { lanczosSteps: o.lanczosSteps }) };
  if (!data) return { cause, ...limits, logdet: ld };
  const { col, yHat, e } = data;
  const Ax = await A.matvec(col.x);
  const yNorm = norm(yHat);
  const relativeResidual = yNorm === 0 ? 0 : norm(yHat.map((v, i) => v - Ax[i]!)) / yNorm; // y's scaling leaves it as it is
  return {
    cause, solve: col.x.map((v) => timesPow2(v, e)), inverseQuad: timesPow2(timesPow2(dot(yHat, col.x), e), e),
    iterations: col.alphas.length, relativeResidual, rtol: o.rtol, ...limits, logdet: ld,
  };
}

/**
 * tr(A⁻¹D) ≈ mean (A⁻¹zᵢ)ᵀ D (P⁻¹zᵢ), or with the control variate β·tr(P⁻¹D) + mean (A⁻¹zᵢ − β P⁻¹zᵢ)ᵀ D (P⁻¹zᵢ)
 * (E[(P⁻¹z)ᵀD(P⁻¹z)] = tr(P⁻¹D); β fitted: `controlVariateMean`), and uᵀD u: one product of D on
 * [u, P⁻¹z₁ … P⁻¹z_t] per derivative. A solve x = A⁻¹(b − r) errs by A⁻¹r, ‖A⁻¹r‖ ≤ ‖r‖/f: the bounds (f, a lower
 * bound of λ_min(A); none without one). u is 2⁻ᵉ times A⁻¹y.
 */
async function traceAndQuadTerms(
  derivatives: readonly LinearOperator[], u: MbcgColumn, probeCols: readonly MbcgColumn[], P: Preconditioner | undefined,
  controlVariate: 'auto' | 'all' | 'none', f: number | undefined, e: number, fn: string,
): Promise<Pick<InverseQuadLogdetResult, 'traces' | 'traceStderrs' | 'traceBounds' | 'quads' | 'quadBounds'>> {
  const out = { traces: [] as number[], traceStderrs: [] as number[], traceBounds: [] as number[], quads: [] as number[], quadBounds: [] as number[] };
  const rY = norm(u.residual);
  const rProbes = probeCols.map((c) => norm(c.residual));
  for (const D of derivatives) {
    const Dv = await applyColumns(D, [u.x, ...probeCols.map((c) => c.mb)]);
    out.quads.push(unscaledQuad(dot(u.x, Dv[0]!), e, fn, 'a quadratic term uᵀD u'));
    out.quadBounds.push(f === undefined ? 0 : timesPow2(timesPow2(2 * norm(Dv[0]!) * rY / f, e), e));
    const exact = P && controlVariate !== 'none' ? await P.traceInverseProduct(D, controlVariate === 'all') : undefined;
    const xs = Float64Array.from(probeCols, (c, i) => dot(c.x, Dv[i + 1]!));
    const { mean, stderr } = exact === undefined ? meanAndStderr(xs) : controlVariateMean(xs, Float64Array.from(probeCols, (c, i) => dot(c.mb, Dv[i + 1]!)), exact);
    const bound = f === undefined ? 0 : probeCols.reduce((s, c, i) => s + (c.converged ? 0 : rProbes[i]! * norm(Dv[i + 1]!)), 0) / (probeCols.length * f);
    out.traces.push(mean);
    out.traceStderrs.push(Math.hypot(stderr, bound));
    out.traceBounds.push(bound);
  }
  return out;
}

/**
 * tr ≈ β·E[y] + mean(xᵢ − β yᵢ) and its standard error, for samples xᵢ of the trace and yᵢ of a control variate with a
 * known mean E[y]: β = Cov(x, y)/Var(y) clamped to [0, 1], the variance-minimising coefficient fitted on the same probes
 * (a bias O(1/t) against an error bar O(1/√t)). β = 1 throughout inflated the error bars where P misses much of A
 * (docs/gradients.md); the fitted β keeps the better of the plain and the controlled estimate.
 */
function controlVariateMean(xs: Float64Array, ys: Float64Array, ey: number): { mean: number; stderr: number } {
  const t = xs.length;
  const mx = xs.reduce((a, v) => a + v, 0) / t;
  const my = ys.reduce((a, v) => a + v, 0) / t;
  let cov = 0;
  let vy = 0;
  for (let i = 0; i < t; i++) {
    cov += (xs[i]! - mx) * (ys[i]! - my);
    vy += (ys[i]! - my) ** 2;
  }
  const beta = vy > 0 ? Math.min(1, Math.max(0, cov / vy)) : 1;
  const { mean, stderr } = meanAndStderr(Float64Array.from(xs, (x, i) => x - beta * ys[i]!));
  return { mean: beta * ey + mean, stderr };
}
