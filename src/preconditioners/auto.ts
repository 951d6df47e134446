/**
 * The preconditioner `LinearOperator.solve` uses, built once per (operator, shift, choice,
 * options) and cached on the operator, so repeated solves and the adjoint solve of a gradient
 * reuse it.
 *
 * Default rule ('auto'): a symmetric KernelOperator with n ≥ AUTO_MIN_N (4096) and α > 0 gets
 * the randomized Nyström preconditioner with rank 'auto' (ℓ grows from 64, by 1.5× or 2×, whichever
 * is predicted cheaper, while that step is expected to pay for itself in CG time — its measured
 * build cost against the iterations it saves, predicted by a CG model calibrated on measured
 * iteration counts, see `nystromNextStep` and `ITERATION_CALIBRATION` — and λ̂_ℓ > 10·α, capped at
 * `defaultMaxRank(n)` = 1024 up to n ≈ 11,000); anything else runs unpreconditioned.
 * Below 4096 points a CG iteration costs milliseconds (≤ 16M kernel pairs, or a product with the
 * dense cache for n ≤ 2048) while a build of several hundred sketch columns plus its O(nℓ²) host
 * algebra costs seconds: measured at n = 2000, σ = 0.1, α = 1e-2, CG took 449 iterations in 1.3 s
 * against a 15 s build (ℓ = 1024) + 24 iterations. Without α > 0 the formula has no μ.
 * The sketch itself costs its first ℓ₀ = 64 columns of products, so before building it 'auto' bounds
 * plain CG with one product: λ̂ = ‖A1‖/‖1‖ (≤ λ_max), κ̂ = λ̂/α + 1, and the CG bound
 * ½·√κ̂·ln(2/10⁻⁵) iterations; below AUTO_MIN_PLAIN_ITERATIONS (2ℓ₀) the solve runs unpreconditioned.
 * Measured at n = 16,384, σ = 0.1, α = 1 (bound 116, plain CG 92 iterations): the Nyström build cost
 * more than the 18 iterations it saved — 6.9 s against 4.9 s end to end (float32, dense cache).
 * GPU kernel operators from AUTO_DEVICE_MIN_N (2¹⁷) points get the device-landmark preconditioner instead
 * (`deviceLandmarkPreconditioner`, m = 2048): the randomized build's host algebra grows as nℓ² — at
 * n = 2²⁰ on the H100 machine it stopped at ℓ = 106 after 73 s and left CG where it was — while the device
 * build took 11.5 s (K_mn 0.3 s, Gram 2.6 s, host Cholesky 8.3 s) and cut the residual 6× faster than plain
 * CG (bench/RESULTS.md).
 */
import { KernelOperator } from '../operators/kernel-operator.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { describeValue } from '../operators/validate.js';
import { onesRayleighEstimate } from './common.js';
import { DEFAULT_DEVICE_LANDMARKS, deviceLandmarkPreconditioner } from './device-landmarks.js';
import { jacobiPreconditioner } from './jacobi.js';
import { nystromPreconditioner, type NystromOptions } from './nystrom.js';
import { pivotedCholeskyPreconditioner } from './pivoted-cholesky.js';

export type PreconditionerChoice = 'auto' | 'none' | 'nystrom' | 'landmarks' | 'device-landmarks' | 'jacobi' | 'pivoted-cholesky';

export const PRECONDITIONER_CHOICES: readonly PreconditionerChoice[] = [
  'auto', 'none', 'nystrom', 'landmarks', 'device-landmarks', 'jacobi', 'pivoted-cholesky',
];

/** n from which 'auto' preconditions a kernel solve. */
export const AUTO_MIN_N = 4096;

/** n from which 'auto' uses the device-landmark preconditioner for a kernel operator on the GPU backend. */
export const AUTO_DEVICE_MIN_N = 1 << 17;

/**
 * 'auto' skips the randomized Nyström build when plain CG is bounded by fewer iterations than this:
 * twice the 64 sketch columns of its first stage, which cost about one product each.
 */
export const AUTO_MIN_PLAIN_ITERATIONS = 128;

/** The classical CG bound ½·√κ·ln(2/tol) on the iterations of plain CG for condition number κ. */
export function cgIterationBound(kappa: number, tol = 1e-5): number {
  return 0.5 * Math.sqrt(kappa) * Math.log(2 / tol);
}

/** Options of the chosen builder, minus `shift` (the solve's α). */
export type PreconditionerOptions = Partial<Omit<NystromOptions, 'shift'>> & { tol?: number; tau?: number };

/** What 'auto' resolves to for A and α. */
export function defaultPreconditionerChoice(A: LinearOperator, alpha: number): Exclude<PreconditionerChoice, 'auto'> {
  if (!(A instanceof KernelOperator && A.symmetric && A.shape[0] >= AUTO_MIN_N && alpha > 0)) return 'none';
  return A.backend === 'gpu' && A.shape[0] >= AUTO_DEVICE_MIN_N ? 'device-landmarks' : 'nystrom';
}

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
  switch (choice) {
    case 'nystrom':
      return nystromPreconditioner(A, { ...options, method: options.method ?? 'randomized', rank: options.rank ?? 'auto', shift: alpha });
    case 'landmarks':
      return nystromPreconditioner(A, { ...options, method: 'landmarks', rank: options.rank ?? defaultFixedRank(n), shift: alpha });
    case 'device-landmarks': {
      const rank = options.rank ?? Math.min(n - 1, DEFAULT_DEVICE_LANDMARKS);
      if (rank === 'auto') throw new RangeError("device-landmarks: rank 'auto' is not supported; give the number of landmarks m");
      return deviceLandmarkPreconditioner(A, {
        rank, shift: alpha, ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.tau !== undefined ? { tau: options.tau } : {}),
      });
    }
    case 'jacobi':
      return jacobiPreconditioner(A, alpha);
    case 'pivoted-cholesky': {
      const rank = options.rank ?? defaultFixedRank(n);
      if (rank === 'auto') throw new RangeError("pivoted-cholesky: rank 'auto' is not supported; give a number (or use tol)");
      return pivotedCholeskyPreconditioner(A, { rank, shift: alpha, ...(options.tol !== undefined ? { tol: options.tol } : {}) });
    }
    default:
      throw new RangeError(`preconditioner must be one of ${PRECONDITIONER_CHOICES.join(', ')}, got ${describeValue(choice)}`);
  }
}

const cache = new WeakMap<LinearOperator, Map<string, Promise<unknown>>>();

/** Stable text of the options (sorted keys; arrays of landmark indices included verbatim). */
function optionsKey(options: PreconditionerOptions): string {
  const keys = Object.keys(options).sort() as (keyof PreconditionerOptions)[];
  return keys
    .filter((k) => options[k] !== undefined)
    .map((k) => {
      const v = options[k] as unknown;
      return `${k}=${ArrayBuffer.isView(v) || Array.isArray(v) ? `[${Array.from(v as ArrayLike<number>).join(',')}]` : String(v)}`;
    })
    .join(';');
}

/**
 * Whether the CG bound for A + αI (κ from λ̂ = ‖A1‖/‖1‖, one product) reaches
 * AUTO_MIN_PLAIN_ITERATIONS; decided once per operator and α (cached with the preconditioners).
 */
function plainCgIsLong(A: LinearOperator, alpha: number, perOp: Map<string, Promise<unknown>>): Promise<boolean> {
  const key = `auto-bound|${alpha}`;
  let p = perOp.get(key) as Promise<boolean> | undefined;
  if (!p) {
    p = onesRayleighEstimate(A).then((lambda) => cgIterationBound(lambda / alpha + 1) >= AUTO_MIN_PLAIN_ITERATIONS);
    perOp.set(key, p);
    p.catch(() => perOp.delete(key));
  }
  return p;
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
): Promise<LinearOperator | undefined> {
  if (!PRECONDITIONER_CHOICES.includes(choice)) {
    throw new RangeError(`preconditioner must be one of ${PRECONDITIONER_CHOICES.join(', ')} or a LinearOperator, got ${describeValue(choice)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`preconditionerOptions must be an object, got ${describeValue(options)}`);
  }
  const resolved = choice === 'auto' ? defaultPreconditionerChoice(A, alpha) : choice;
  if (resolved === 'none') return undefined;
  let perOp = cache.get(A);
  if (!perOp) cache.set(A, (perOp = new Map()));
  if (choice === 'auto' && resolved === 'nystrom' && !(await plainCgIsLong(A, alpha, perOp))) return undefined;
  const key = `${resolved}|${alpha}|${optionsKey(options)}`;
  let p = perOp.get(key) as Promise<LinearOperator> | undefined;
  if (!p) {
    p = buildPreconditioner(A, alpha, resolved, options);
    perOp.set(key, p);
    p.catch(() => perOp.delete(key));
  }
  return p;
}
