/**
 * The preconditioner `LinearOperator.solve` uses, built once per (operator, shift, choice,
 * options) and cached on the operator, so repeated solves and the adjoint solve of a gradient
 * reuse it.
 *
 * Default rule ('auto'): a symmetric KernelOperator with n ≥ AUTO_MIN_N (4096) and α > 0 is
 * preconditioned; anything else runs unpreconditioned (without α > 0 the formula has no μ).
 * - CPU backend: adaptive landmarks (`adaptiveLandmarkPreconditioner`: m doubles from 512 while a
 *   κ estimate of 8 PCG steps and the measured build and iteration costs predict the step pays).
 *   K_mn, its Gram and the Cholesky factor are evaluated and kept in WASM memory, so a landmark
 *   costs n kernel evaluations and its share of an n·m² Gram — far less than a randomized sketch
 *   column, which costs a product: measured at n = 8000, σ = 0.1, α = 1e-3 (2 cores), m = 1024 in
 *   1.9 s with 199 CG iterations and 6.4–10.8 s in all, where randomized Nyström stopped at ℓ = 288
 *   (9.1 s build, 848 iterations, 31.5 s) and plain CG took 2137 iterations (40.9–49.3 s).
 *   Before the build, one product bounds plain CG: λ̂ = ‖A1‖/‖1‖ (≤ λ_max), κ̂ = λ̂/α + 1, and
 *   the CG bound ½·√κ̂·ln(2/10⁻⁵); below AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS (32, four times the
 *   8 estimate steps of the first stage) the solve runs unpreconditioned.
 * - GPU backend: the device-landmark preconditioner (`deviceLandmarkPreconditioner`: K̃_nm whitened on the device,
 *   its Gram and both factor products there, the m×m Cholesky factorizations on the host; m = the power of two
 *   nearest √(64n), ≤ 8192),
 *   skipped by the same bound as on the CPU. It replaced randomized Nyström there: on llvmpipe (σ = 0.1, CG on
 *   float64 products to rtol 1e-6, iterations with each preconditioner built from the GPU operator)
 *
 *     n, α               device landmarks (m)    randomized Nyström, rank 'auto' (ℓ)    plain CG
 *     5,000, 1e-3        399 (512)               511 (384)                              1715
 *     12,000, 1e-3       236 (1024)              310 (768)                              2594
 *     12,000, 1e-1        25 (1024)              165 (128)                               253
 *
 *   with builds of 1.0 / 6.0 / 6.0 s against 6.4 / 48.7 / 6.1 s there; at n = 2²⁰ (H100) the randomized build's
 *   host algebra (∝ nℓ²) stopped at ℓ = 106 after 73 s, where the device build takes 24.2 s for m = 8192 (H100) and
 *   `K.solve(b, 1e-3)` converges in 12 iterations (bench/RESULTS.md; the table's device counts are the fifth
 *   session's unwhitened form, which the whitened one matches or beats). Randomized Nyström stays available
 *   as the explicit choice 'nystrom' (rank 'auto' by default).
 */
import { KernelOperator } from '../operators/kernel-operator.js';
import { LinearOperator, ScaledOperator, ShiftedOperator, SumOperator } from '../operators/linear-operator.js';
import { describeValue } from '../operators/validate.js';
import { onesRayleighEstimate } from './common.js';
import { choleskyFactorPreconditioner } from './dense-factor.js';
import { deviceLandmarkPreconditioner, type DeviceLandmarkOptions } from './device-landmarks.js';
import { jacobiPreconditioner } from './jacobi.js';
import { landmarkWarmStart, type PcgState } from './landmarks-auto.js';
import { nystromPreconditioner, type NystromOptions } from './nystrom.js';
import { pivotedCholeskyPreconditioner, type PivotedCholeskyOptions } from './pivoted-cholesky.js';
import { OptionRangeError, rejectUnknownKeys } from '../operators/options.js';

/** 'cholesky' is the exact inverse by a dense factorisation (see dense-factor.ts): what `solve`'s direct path uses. */
export type PreconditionerChoice = 'auto' | 'none' | 'nystrom' | 'landmarks' | 'device-landmarks' | 'jacobi' | 'pivoted-cholesky' | 'cholesky';

export const PRECONDITIONER_CHOICES = [
  'auto', 'none', 'nystrom', 'landmarks', 'device-landmarks', 'jacobi', 'pivoted-cholesky', 'cholesky',
] as const satisfies readonly PreconditionerChoice[];

/** n from which 'auto' preconditions a kernel solve. */
export const AUTO_MIN_N = 4096;

/** The classical CG bound ½·√κ·ln(2/tol) on the iterations of plain CG for condition number κ. */
export function cgIterationBound(kappa: number, tol = 1e-5): number {
  return 0.5 * Math.sqrt(kappa) * Math.log(2 / tol);
}

/**
 * Options of the chosen builder, minus `shift` (the solve's α). Each builder checks its own (an option it does not
 * read is an error naming it); `preconditionerFor` refuses a key no builder knows even where none is built.
 */
export type PreconditionerOptions = Partial<Omit<NystromOptions, 'shift'>> & {
  /** pivoted Cholesky: stop once trace(K − LLᵀ) ≤ tol · trace(K). */
  tol?: number;
  /** device landmarks: ν = max(α, tau·λ̂), the starting jitter and the whitening shift δ (see DeviceLandmarkOptions). */
  tau?: number;
  jitter?: number;
  whiteningJitter?: number;
  /** device landmarks: where the order and the factorisations run (see DeviceLandmarkOptions). */
  landmarkOrder?: DeviceLandmarkOptions['landmarkOrder'];
  whiteningFactor?: DeviceLandmarkOptions['whiteningFactor'];
  coreFactor?: DeviceLandmarkOptions['coreFactor'];
  /** device landmarks: the build's stages as they finish. */
  onProgress?: (stage: { stage: string; elapsedMs: number }) => void;
  /** cholesky: the precision the factor is computed and held in (default 'float64'; see choleskyFactorPreconditioner). */
  factorDtype?: 'float32' | 'float64';
};

/** Every key some builder reads. */
const PRECONDITIONER_OPTION_KEYS = [
  'rank', 'seed', 'method', 'initialRank', 'maxRank', 'tolerance', 'stopping', 'costModel', 'rhs', 'alternativeProducts', 'landmarks', 'factor', 'maxStoredBytes',
  'tol', 'tau', 'jitter', 'whiteningJitter', 'landmarkOrder', 'whiteningFactor', 'coreFactor', 'onProgress', 'factorDtype',
] as const satisfies readonly (keyof PreconditionerOptions)[];

/**
 * A positive multiple of a kernel plus diagonal parts (c·K + D: an output scale, per-point noise) as the kernel, c and
 * m = Σ min D: 'auto' preconditions c·K + D + αI by (1/c)·P, P the preconditioner K's own solve builds for
 * K + ((α + m)/c)·I (cached on K), as `K.solve(b, (α + m)/c)` would. With D between m and M, the preconditioned
 * spectrum stays within a factor M/m of K's own: n = 8,000, D in [10⁻³, 10⁻²] took the n³/3 dense factor (6.0 s)
 * where `K.solve(b, 10⁻³)` took landmark-preconditioned CG (1.1 s); `K.scale(2).solve(b, 2·10⁻³)` a 3.65 s factor
 * against 1.37 s. Undefined unless A is c·K (c > 0, K a symmetric KernelOperator), or a sum of one such and diagonals
 * whose least entries sum to m ≥ 0.
 */
export function kernelPlusDiagonal(A: LinearOperator): { kernel: KernelOperator; scale: number; floor: number } | undefined {
  const parts = A instanceof SumOperator ? A.parts : [A];
  const kernels = parts.filter((part) => part.diagonalEntries() === undefined);
  if (kernels.length !== 1) return undefined;
  let core = kernels[0]!;
  let scale = 1;
  while (core instanceof ScaledOperator && core.factor > 0) {
    scale *= core.factor;
    core = core.base;
  }
  if (!(core instanceof KernelOperator && core.symmetric) || (core === A)) return undefined;
  const floor = structuralFloor(A);
  return floor !== undefined && floor >= 0 ? { kernel: core, scale, floor } : undefined;
}

/**
 * A lower bound on A's eigenvalues from its structure — a diagonal's least entry, under shifts, positive scalings and
 * sums — counting each other part as `leaf` says: by default (the preconditioner policy) as positive semidefinite;
 * undefined where a part may be negative or `leaf` knows no bound for it.
 */
export function structuralFloor(A: LinearOperator, leaf: (part: LinearOperator) => number | undefined = () => 0): number | undefined {
  const d = A.diagonalEntries();
  if (d) return d.reduce((m, v) => Math.min(m, v), Infinity);
  if (A instanceof ShiftedOperator) {
    const f = structuralFloor(A.base, leaf);
    return f === undefined ? undefined : f + A.alpha;
  }
  if (A instanceof ScaledOperator) {
    const f = structuralFloor(A.base, leaf);
    return f === undefined || A.factor < 0 ? undefined : A.factor * f;
  }
  if (A instanceof SumOperator) {
    let sum = 0;
    for (const part of A.parts) {
      const f = structuralFloor(part, leaf);
      if (f === undefined) return undefined;
      sum += f;
    }
    return sum;
  }
  return leaf(A);
}

/** What 'auto' resolves to for A and α. */
export function defaultPreconditionerChoice(A: LinearOperator, alpha: number): Exclude<PreconditionerChoice, 'auto'> {
  const sum = kernelPlusDiagonal(A);
  if (sum) return defaultPreconditionerChoice(sum.kernel, (alpha + sum.floor) / sum.scale);
  if (!(A instanceof KernelOperator && A.symmetric && A.shape[0] >= AUTO_MIN_N && alpha > 0)) return 'none';
  return A.backend === 'cpu' ? 'landmarks' : 'device-landmarks';
}

/**
 * 'auto' skips the adaptive landmark build (CPU) when plain CG is bounded by fewer iterations than
 * this: four times the PCG steps of its first κ estimate, which cost a product each.
 */
export const AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS = 32;

/** Default ranks when none is given: adaptive for randomized Nyström, min(n−1, ⌈√n⌉·4) landmarks / pivots otherwise. */
function defaultFixedRank(n: number): number {
  return Math.max(1, Math.min(n - 1, 4 * Math.ceil(Math.sqrt(n)), 1000));
}

export async function buildPreconditioner(
  A: LinearOperator,
  alpha: number,
  choice: Exclude<PreconditionerChoice, 'auto' | 'none'>,
  options: PreconditionerOptions = {},
): Promise<LinearOperator> {
  const n = A.shape[0];
  const where = `preconditioner '${choice}'`;
  rejectUnknownKeys(where, options, PRECONDITIONER_OPTION_KEYS, 'preconditionerOptions');
  // the solve hands every build its right-hand side, which only the Nyström and landmark builds read; a progress
  // callback is for builds that report progress (device landmarks): neither changes what is built, so a build that
  // has no use for them goes without (what 'auto' picks differs by backend)
  const { rhs, onProgress, ...rest } = options;
  const withRhs = rhs === undefined ? rest : { ...rest, rhs };
  switch (choice) {
    case 'nystrom':
      return nystromPreconditioner(A, { ...withRhs, shift: alpha });
    case 'landmarks': {
      if (options.method !== undefined && options.method !== 'landmarks') {
        throw new OptionRangeError(`${where}: method must be 'landmarks' (or left out), got ${describeValue(options.method)}; use preconditioner 'nystrom' for method '${options.method}'`, 'method');
      }
      const explicit = options.landmarks !== undefined && typeof options.landmarks !== 'string';
      const rank = options.rank ?? (explicit ? undefined : defaultFixedRank(n));
      return nystromPreconditioner(A, { ...withRhs, method: 'landmarks', rank, shift: alpha });
    }
    case 'device-landmarks':
      if (options.rank === 'auto') throw new RangeError("device-landmarks: rank 'auto' is not supported; give the number of landmarks m, or leave it out for the default");
      // a key device landmarks do not read is refused there, by name
      return deviceLandmarkPreconditioner(A, { ...rest, shift: alpha, ...(onProgress ? { onProgress } : {}) } as DeviceLandmarkOptions);
    case 'jacobi':
    case 'cholesky': {
      const { factorDtype, ...others } = rest;
      const key = Object.keys(choice === 'jacobi' ? rest : others).find((k) => rest[k as keyof typeof rest] !== undefined);
      if (key !== undefined) throw new OptionRangeError(`${where}: takes no options (its only parameter is the solve's α${choice === 'cholesky' ? ', and factorDtype' : ''}), got '${key}'`, key);
      if (factorDtype !== undefined && factorDtype !== 'float32' && factorDtype !== 'float64') {
        throw new OptionRangeError(`${where}: factorDtype must be 'float32' or 'float64', got ${describeValue(factorDtype)}`, 'factorDtype');
      }
      return choice === 'jacobi' ? jacobiPreconditioner(A, alpha) : choleskyFactorPreconditioner(A, alpha, factorDtype);
    }
    case 'pivoted-cholesky': {
      const rank = options.rank ?? defaultFixedRank(n);
      if (rank === 'auto') throw new RangeError("pivoted-cholesky: rank 'auto' is not supported; give a number (or use tol)");
      return pivotedCholeskyPreconditioner(A, { ...rest, rank, shift: alpha } as PivotedCholeskyOptions & { shift: number });
    }
    default:
      throw new RangeError(`preconditioner must be one of ${PRECONDITIONER_CHOICES.join(', ')}, got ${describeValue(choice)}`);
  }
}

const cache = new WeakMap<LinearOperator, Map<string, Promise<unknown>>>();

/**
 * Built preconditioners kept per operator (least recently used first out). Without a bound, a loop over α — a
 * validation search — kept one per α: a dense Cholesky factor is n² doubles (RSS grew 34 MiB per α at n = 2,500).
 * An evicted preconditioner is disposed, its memory recycled for the next build; one still held elsewhere throws
 * "released" when applied, never a wrong answer.
 */
export const MAX_CACHED_PRECONDITIONERS = 3;

const BOUND_KEY = 'auto-bound|';

/** Marks `key` most recently used and retires the least recently used built preconditioners beyond the bound. */
function keepRecent(perOp: Map<string, Promise<unknown>>, key: string): void {
  const p = perOp.get(key)!;
  perOp.delete(key);
  perOp.set(key, p);
  const built = [...perOp.keys()].filter((k) => !k.startsWith(BOUND_KEY));
  for (const old of built.slice(0, Math.max(0, built.length - MAX_CACHED_PRECONDITIONERS))) {
    const pending = perOp.get(old)!;
    perOp.delete(old);
    retire(pending);
  }
}

/** Running solves' holds on a cached preconditioner (its build's promise), and whether it left the cache meanwhile. */
const holdStates = new WeakMap<Promise<unknown>, { count: number; retired: boolean }>();

/** Disposes a preconditioner out of the cache once built — or, while a solve holds it, once the last hold ends. */
function retire(pending: Promise<unknown>): void {
  const held = holdStates.get(pending);
  if (held && held.count > 0) {
    held.retired = true;
    return;
  }
  void pending.then((M) => (M instanceof LinearOperator ? M.dispose() : undefined), () => undefined);
}

/**
 * The cached preconditioners a running solve uses: the cache's bound and `dispose()` retire them only once the solve
 * `release`s them. Without holds, seven solves of one K for seven α at once (a validation search under Promise.all)
 * evicted the first four factors as the later ones were cached: 4 of 7 rejected, "the 1500x1500 factor was released".
 */
export class PreconditionerHolds {
  private readonly held: Promise<unknown>[] = [];

  add(pending: Promise<unknown>): void {
    let state = holdStates.get(pending);
    if (!state) holdStates.set(pending, (state = { count: 0, retired: false }));
    state.count++;
    this.held.push(pending);
  }

  release(): void {
    for (const pending of this.held.splice(0)) {
      const state = holdStates.get(pending)!;
      if (--state.count === 0 && state.retired) {
        state.retired = false;
        retire(pending);
      }
    }
  }
}

/**
 * Disposes the preconditioners cached for A (see LinearOperator.dispose) and forgets them and the
 * cached CG bounds; a build still running is awaited first.
 */
export async function disposePreconditioners(A: LinearOperator): Promise<void> {
  const perOp = cache.get(A);
  if (!perOp) return;
  cache.delete(A);
  for (const pending of perOp.values()) {
    const built = await pending.catch(() => undefined);
    if (!(built instanceof LinearOperator) || built === A) continue;
    const held = holdStates.get(pending);
    if (held && held.count > 0) held.retired = true; // a running solve's: disposed when it ends
    else await built.dispose();
  }
}

/**
 * Where building M left PCG on (A + αI) x = rhs (rank-'auto' landmarks ran their κ estimate on `rhs`: see
 * AdaptiveLandmarkOptions.rhs): the iterate, and the state cg can resume from; or undefined. Given once.
 */
export function warmStartFor(M: LinearOperator, rhs: Float64Array): { x: Float64Array; state?: PcgState } | undefined {
  return landmarkWarmStart(M, rhs);
}

/**
 * Stable text of the options (sorted keys; arrays of landmark indices included verbatim). Callbacks (onProgress)
 * and the solve's right-hand side `rhs` do not change what is built, so a preconditioner built with them is found by
 * a solve without them. Nor does `alternativeProducts` take part: 'auto' passes it, and `K.preconditioner(α)` finds
 * what the solve built; a build it stopped early (its last stage 'alternative') serves later CG solves as it is.
 */
export function optionsKey(options: PreconditionerOptions): string {
  const keys = Object.keys(options).sort() as (keyof PreconditionerOptions)[];
  return keys
    .filter((k) => options[k] !== undefined && typeof options[k] !== 'function' && k !== 'rhs' && k !== 'alternativeProducts')
    .map((k) => {
      const v = options[k] as unknown;
      return `${k}=${ArrayBuffer.isView(v) || Array.isArray(v) ? `[${Array.from(v as ArrayLike<number>).join(',')}]` : String(v)}`;
    })
    .join(';');
}

/**
 * Whether the CG bound for A + αI (κ from λ̂ = ‖A1‖/‖1‖, one product) reaches
 * `threshold` iterations; decided once per operator and α (cached with the preconditioners).
 */
function plainCgIsLong(A: LinearOperator, alpha: number, perOp: Map<string, Promise<unknown>>, threshold: number): Promise<boolean> {
  const key = `${BOUND_KEY}${alpha}|${threshold}`;
  let p = perOp.get(key) as Promise<boolean> | undefined;
  if (!p) {
    p = onesRayleighEstimate(A).then((lambda) => cgIterationBound(lambda / alpha + 1) >= threshold);
    perOp.set(key, p);
    p.catch(() => perOp.delete(key));
  }
  return p;
}

/** Whether the preconditioner `choice` (not 'auto') for (A + αI) with `options` is built or building, cached on A. */
export function isCached(A: LinearOperator, alpha: number, choice: Exclude<PreconditionerChoice, 'auto' | 'none'>, options: PreconditionerOptions = {}): boolean {
  return cache.get(A)?.has(`${choice}|${alpha}|${optionsKey(options)}`) ?? false;
}

/**
 * `solve`'s preconditionerOptions: an object of keys some build reads (unknown ones refused by name), checked also where
 * none is built — 'auto' on a small problem, or a dense factor chosen instead of CG — so that a misspelt key never
 * passes unseen. `fn` names the public function called (`logdet` and the GP likelihood check theirs here too).
 */
export function checkPreconditionerOptions(options: unknown, fn = 'solve'): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`preconditionerOptions must be an object, got ${describeValue(options)}`);
  }
  rejectUnknownKeys(fn, options as Record<string, unknown>, PRECONDITIONER_OPTION_KEYS, 'preconditionerOptions');
}

/**
 * The preconditioner for (A + αI), or undefined for 'none' (and for 'auto' where the rule says
 * no). Built once per operator and key; a failed build is not cached.
 */
export async function preconditionerFor(
  A: LinearOperator,
  alpha: number,
  choice: PreconditionerChoice = 'auto',
  options: PreconditionerOptions = {},
  holds?: PreconditionerHolds,
): Promise<LinearOperator | undefined> {
  if (!(PRECONDITIONER_CHOICES as readonly string[]).includes(choice)) {
    throw new RangeError(`preconditioner must be one of ${PRECONDITIONER_CHOICES.join(', ')} or a LinearOperator, got ${describeValue(choice)}`);
  }
  checkPreconditionerOptions(options);
  // c·K + D: (1/c)·K's own preconditioner for K + ((α + min D)/c)·I (see kernelPlusDiagonal), built without the
  // solve's right-hand side: the adaptive build's κ-estimate steps on it are a CG state of K's system, which
  // warm-started CG on K + D wrongly (4,335 iterations, no convergence, n = 8,000)
  const sum = choice === 'auto' ? kernelPlusDiagonal(A) : undefined;
  if (sum) {
    const { rhs: _rhs, ...forKernel } = options;
    const P = await preconditionerFor(sum.kernel, (alpha + sum.floor) / sum.scale, 'auto', forKernel, holds);
    return P === undefined || sum.scale === 1 ? P : P.scale(1 / sum.scale);
  }
  const resolved = choice === 'auto' ? defaultPreconditionerChoice(A, alpha) : choice;
  if (resolved === 'none') return undefined;
  let perOp = cache.get(A);
  if (!perOp) cache.set(A, (perOp = new Map()));
  // 'auto' resolves to (device) landmarks only, each skipped where one product's bound says plain CG is short
  if (choice === 'auto') {
    if (!(await plainCgIsLong(A, alpha, perOp, AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS))) return undefined;
    if (resolved === 'landmarks') options = { rank: 'auto', ...options };
  }
  const key = `${resolved}|${alpha}|${optionsKey(options)}`;
  let p = perOp.get(key) as Promise<LinearOperator> | undefined;
  if (!p) {
    p = buildPreconditioner(A, alpha, resolved, options);
    perOp.set(key, p);
    p.catch(() => perOp.delete(key));
  }
  holds?.add(p); // before keepRecent: held, it is never disposed under the solve that asked for it
  keepRecent(perOp, key);
  return p;
}
