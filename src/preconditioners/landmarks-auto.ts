/**
 * Landmark preconditioner with an adaptive number of landmarks (rank 'auto'): m doubles from
 * `initialRank` while the step is predicted to pay for itself in CG time.
 *
 * After a stage with m landmarks, a few PCG steps on (A + μI) with a seeded right-hand side give
 * the Lanczos tridiagonal of P⁻¹(A + μI) (from CG's α_k, β_k), whose largest Ritz value estimates
 * κ_m: P = K̂ + μI ≼ A + μI (K̂ ≼ A for a Nyström approximation), so the smallest eigenvalue is ≥ 1
 * and ≈ 1 — while the largest Ritz value converges in a few steps, the smallest does not (measured
 * at n = 8000, α = 1e-3, m = 256: 11.0 after 8 steps, 1.09 after 100; the largest 2.74·10⁴ after 8,
 * 2.75·10⁴ after 100), so κ_m is taken as the largest one. The same steps time one product and one
 * application of P⁻¹. CG then needs about c·½·ln(2/rtol)·√κ_m iterations
 * (c = LANDMARK_ITERATION_CALIBRATION). The step m → 2m is taken when
 *   build(2m) + estimate steps + iterations(κ̂_2m)·iteration(2m) < iterations(κ_m)·iteration(m),
 * with build(2m) extrapolated from this stage's measured parts (kernel columns ∝ m, Gram ∝ m²,
 * Cholesky ∝ m³), an iteration at 2m costing the measured one plus the application's growth, and
 * κ̂_2m − 1 = (κ_m − 1)·r, r the measured ratio of the last doubling (FIRST_DOUBLING_RATIO before
 * there is one). Why doubling and a fresh build: the Gram grows as m², so the stages before the
 * last cost a third of it together, and both selections nest (the farthest-point order is extended, a fresh
 * uniform draw with the same seed contains the last).
 */
import { tridiagonalEigen } from '../krylov/tridiagonal.js';
import { axpy, dot } from '../krylov/util.js';
import { mulberry32 } from '../krylov/random.js';
import { MAX_WASM_PAGES } from '../cpu/reduce.js';
import { defaultDenseCacheBytes, KernelOperator } from '../operators/kernel-operator.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { describeOperand, rankBelow, rhsField, seedField, shiftField } from './common.js';
import { finiteNumber, func, optional, parseOptions, positiveNumber, withDefault } from '../operators/options.js';
import { fillGaussian } from './dense.js';
import { LANDMARK_SPEC, landmarkPreconditioner, LandmarkPreconditioner, type LandmarkOptions } from './landmarks.js';
import { settleCallback } from '../operators/validate.js';

/**
 * The first m of rank 'auto'. Each stage costs LANDMARK_ESTIMATE_STEPS products besides its build,
 * so a first stage that is surely too small is pure overhead: at n = 16,384, σ = 0.1, α = 1
 * (float32, cached products, 2 cores) m = 256 stopped there with 44 CG iterations (2.7–3.8 s in all)
 * where m = 512 took 25 (2.1–2.2 s); at n = 8000, α = 1e-3 the 256 stage only led to 512.
 */
export const DEFAULT_INITIAL_LANDMARKS = 512;

/** PCG steps per κ estimate. */
export const LANDMARK_ESTIMATE_STEPS = 8;

/**
 * κ̂_2m − 1 over κ_m − 1 assumed for the first doubling. Measured on Gaussian kernels (σ = 0.1,
 * [0,1]³): 0.38, 0.09, 0.06 for m = 256 → 512 → 1024 → 2048 at n = 8000, α = 1e-3 with uniform landmarks
 * (0.23, 0.10, 0.06 with farthest-point ones) — the ratio shrinks as m grows (the spectrum decays faster than
 * any power law), so the measured ratio of the last doubling errs towards stopping early.
 */
export const FIRST_DOUBLING_RATIO = 0.4;

/**
 * Measured CG iterations over ½·ln(2/rtol)·√κ̂ with κ̂ the 8-step estimate (rtol 1e-6, Gaussian
 * kernels σ = 0.1 on uniform points in [0,1]³, n = 8000, α = 1e-3, this package's cg and estimate,
 * bench/landmark-calibration.ts): farthest-point landmarks (the default),
 * m = 256, 512, 1024, 2048 → κ̂ 1.47·10⁴, 3376, 329, 22 and 815, 394, 127, 28 iterations: ratios 0.93, 0.93,
 * 0.97, 0.82. (Uniform landmarks gave 0.86, 0.85, 0.69, 0.85; numpy PCG on them earlier 0.67, 0.87, 0.77.)
 */
export const LANDMARK_ITERATION_CALIBRATION = 0.9;

export interface LandmarkStage {
  rank: number;
  /** κ̂ of P⁻¹(A + μI) (largest Ritz value of LANDMARK_ESTIMATE_STEPS PCG steps). */
  kappa: number;
  predictedIterations: number;
  /** One CG iteration with this P (product + application), measured on the estimate's steps. */
  iterationMs: number;
  productMs: number;
  applyMs: number;
  buildMs: number;
  /**
   * What was decided after this stage: 'memory' when K_mn at 2m would pass `maxStoredBytes` (default
   * `defaultDenseCacheBytes()`); 'alternative' when the solve's alternative (`alternativeProducts`) costs less than CG
   * with this stage's P and than the next stage.
   */
  action: 'grow' | 'cost' | 'maxRank' | 'memory' | 'alternative';
  /** For 'grow'/'cost': the predicted build + CG time of the next stage against the CG time here. */
  nextMs?: number;
  nowMs?: number;
  /** With `alternativeProducts`: its time at this stage's measured product time. */
  alternativeMs?: number;
}

export interface AdaptiveLandmarkOptions extends LandmarkOptions {
  shift: number;
  seed?: number;
  /** First m (default DEFAULT_INITIAL_LANDMARKS = 512, at most n − 1). */
  initialRank?: number;
  /** Largest m (default min(n − 1, 4096)). */
  maxRank?: number;
  /** The solve's tolerance the iteration model aims at (default 1e-6). */
  rtol?: number;
  onStage?: (stage: LandmarkStage) => void;
  /**
   * The cost, in products with A per right-hand side, of the solve's alternative to CG with this preconditioner (a
   * dense factor of A + μI: `solve` passes its estimate). CG's cost grows as √κ and κ as 1/μ once μ is below what m
   * landmarks resolve, so at a tiny μ no m may pay: a stage whose CG time, and the next stage's build + CG time, both
   * exceed the alternative's (`productMs` × this) ends the build, its action 'alternative' — the solve then takes the
   * alternative. Undefined (default): none.
   */
  alternativeProducts?: number;
  /**
   * The right-hand side of the solve this build serves (one vector of length n). The κ-estimate steps then run
   * PCG on it instead of on a seeded vector, and where the last stage's steps left PCG is kept for that solve
   * (`landmarkWarmStart`): CG resumes from it, so the estimate's products are not spent twice (n = 16,384,
   * α = 1: 8 steps + 17 CG iterations, the straight run's 25; restarting from the iterate alone took 8 + 18 and
   * a product for the residual).
   */
  rhs?: Float64Array;
}

/** AdaptiveLandmarkOptions, checked by `parseOptions`, for an n×n K. */
function adaptiveLandmarkSpec(n: number) {
  return {
    ...LANDMARK_SPEC,
    shift: shiftField,
    seed: seedField,
    initialRank: optional(rankBelow(n)),
    maxRank: optional(rankBelow(n)),
    rtol: withDefault(finiteNumber({ above: 0, below: 1 }), 1e-6),
    onStage: optional(func),
    alternativeProducts: optional(positiveNumber),
    rhs: optional(rhsField(n)),
  } satisfies Record<keyof AdaptiveLandmarkOptions, unknown>;
}

/**
 * κ of P⁻¹(A + μI) estimated by `steps` PCG steps from x = 0 (on `rhs`, else on a seeded Gaussian
 * right-hand side), the time of one product and of one application of P⁻¹ (the first step excluded:
 * it may store A's dense cache), and the PCG iterate x after the steps.
 */
export async function preconditionedConditionEstimate(
  A: KernelOperator, P: LandmarkPreconditioner, mu: number, steps: number, seed: number, rhs?: Float64Array,
): Promise<{ kappa: number; lambdaMin: number; productMs: number; applyMs: number; x: Float64Array; state?: PcgState }> {
  const n = A.shape[0];
  const r = rhs ? Float64Array.from(rhs) : fillGaussian(new Float64Array(n), mulberry32(seed ^ 0x5bd1e995));
  const x = new Float64Array(n);
  let z = await P.matvec(r);
  let p = Float64Array.from(z);
  let rz = dot(r, z);
  const alphas: number[] = [];
  const betas: number[] = [];
  let productMs = 0;
  let applyMs = 0;
  let state: PcgState | undefined;
  for (let k = 0; k < steps; k++) {
    let t = performance.now();
    const q = await A.matvec(p);
    if (k > 0) productMs += performance.now() - t;
    axpy(mu, p, q);
    const pq = dot(p, q);
    if (!(pq > 0) || !(rz > 0)) break; // exact convergence (or breakdown): the steps so far are the estimate
    const alpha = rz / pq;
    axpy(alpha, p, x);
    axpy(-alpha, q, r);
    t = performance.now();
    z = await P.matvec(r);
    if (k > 0) applyMs += performance.now() - t;
    const rzNext = dot(r, z);
    const beta = rzNext / rz;
    alphas.push(alpha);
    betas.push(beta);
    // what CG needs to go on from here (cg's `resume`): the residual, the step's direction and its rᵀz
    if (k === steps - 1) state = { r, p: Float64Array.from(p), rho: rz };
    for (let i = 0; i < n; i++) p[i] = z[i]! + beta * p[i]!;
    rz = rzNext;
  }
  const k = alphas.length;
  const timed = Math.max(1, k - 1);
  productMs /= timed;
  applyMs /= timed;
  if (k === 0) return { kappa: 1, lambdaMin: 1, productMs, applyMs, x };
  const resumable = state ? { state } : {};
  // T_kk = 1/α_k + β_{k−1}/α_{k−1}, T_{k,k+1} = √β_k/α_k
  const diag = alphas.map((a, j) => 1 / a + (j > 0 ? betas[j - 1]! / alphas[j - 1]! : 0));
  const off = alphas.slice(0, k - 1).map((a, j) => Math.sqrt(Math.max(0, betas[j]!)) / a);
  const ev = tridiagonalEigen(diag, off).eigenvalues;
  // the least eigenvalue is ≥ 1 where P ≼ A + μI; a P whose shift ν was raised above μ (see
  // LANDMARK_MIN_SHIFT_PER_JITTER) has (λ + μ)/(λ̂ + ν) ≥ μ/ν there instead, which the few steps do not resolve
  const floor = Math.min(1, mu / P.mu);
  return { kappa: Math.max(1, ev[k - 1]!) / floor, lambdaMin: ev[0]!, productMs, applyMs, x, ...resumable };
}

/** CG iterations the model predicts for κ at rtol. */
export function landmarkIterations(kappa: number, rtol: number): number {
  return LANDMARK_ITERATION_CALIBRATION * 0.5 * Math.log(2 / rtol) * Math.sqrt(Math.max(1, kappa));
}

/**
 * Marks `stage` 'alternative' where the alternative (taking `alternativeMs`) beats both CG with this stage's P and the
 * next stage (its build, estimate steps and CG) — the greedy rule's own one-step lookahead, with the alternative as a
 * third choice.
 */
function weighAlternative(stage: LandmarkStage, alternativeMs: number): void {
  stage.alternativeMs = alternativeMs;
  const nowMs = stage.predictedIterations * stage.iterationMs;
  const next = stage.action === 'grow' ? stage.nextMs! : Infinity;
  if (alternativeMs < Math.min(nowMs, next)) {
    stage.nowMs = nowMs;
    stage.action = 'alternative';
  }
}

const stagesOf = new WeakMap<LandmarkPreconditioner, readonly LandmarkStage[]>();
/**
 * A PCG run's state after a step, as cg's `resume` takes it: r the residual after the step, p the step's direction
 * and rho the step's rᵀz (z = M·r for the residual before the step, M applying P⁻¹).
 */
export interface PcgState {
  r: Float64Array;
  p: Float64Array;
  rho: number;
}

const warmStarts = new WeakMap<LandmarkPreconditioner, { rhs: Float64Array; x: Float64Array; state?: PcgState }>();

/**
 * Where the build's last κ estimate left PCG on `rhs` (see AdaptiveLandmarkOptions.rhs): the iterate x and, when
 * all its steps ran, the state cg resumes from. Given once: a later call, or one with another right-hand side,
 * gets undefined.
 */
export function landmarkWarmStart(P: LinearOperator, rhs: Float64Array): { x: Float64Array; state?: PcgState } | undefined {
  if (!(P instanceof LandmarkPreconditioner)) return undefined;
  const warm = warmStarts.get(P);
  if (!warm || warm.rhs !== rhs) return undefined;
  warmStarts.delete(P);
  return warm.state ? { x: warm.x, state: warm.state } : { x: warm.x };
}

/** The stages an adaptive build went through (empty for a fixed m). */
export function landmarkStages(P: LandmarkPreconditioner): readonly LandmarkStage[] {
  return stagesOf.get(P) ?? [];
}

/**
 * The landmark preconditioner of (A + shift·I) with m chosen by the cost rule of this module's
 * comment (farthest-point landmarks by default, or uniform ones; seeded; `onStage` reports each stage as it is decided).
 */
export async function adaptiveLandmarkPreconditioner(A: KernelOperator, options: AdaptiveLandmarkOptions): Promise<LandmarkPreconditioner> {
  const fn = "nystromPreconditioner (method 'landmarks', rank 'auto')";
  if (!(A instanceof KernelOperator) || !A.symmetric) {
    throw new TypeError(`${fn}: needs a symmetric KernelOperator (y omitted), got ${describeOperand(A)}`);
  }
  const n = A.shape[0];
  const o = parseOptions(fn, options, adaptiveLandmarkSpec(n));
  const { shift: mu, seed, rtol, rhs } = o;
  const maxRank = o.maxRank ?? Math.min(n - 1, 4096);
  if (o.initialRank !== undefined && o.initialRank > maxRank) {
    throw new RangeError(`${fn}: initialRank = ${o.initialRank} exceeds maxRank = ${maxRank}`);
  }
  let m = o.initialRank ?? Math.min(maxRank, DEFAULT_INITIAL_LANDMARKS);
  // K_mn is stored (float64) while it fits the budget and one WebAssembly memory with its Gram
  const budget = Math.min(o.maxStoredBytes ?? defaultDenseCacheBytes(), MAX_WASM_PAGES * 65536 * 0.75);
  const fits = (r: number) => n * r * 8 + r * r * 8 <= budget;
  while (m > 1 && !fits(m)) m = Math.floor(m / 2);
  const selection = o.landmarks;
  if (selection !== 'farthest-point' && selection !== 'uniform') {
    throw new RangeError(`${fn}: landmarks must be 'farthest-point' or 'uniform' (sets that nest as m doubles), got ${typeof selection === 'string' ? `'${selection}'` : 'explicit indices'}`);
  }
  A.expectRepeatedProducts();
  let previousKappa: number | undefined;
  const stages: LandmarkStage[] = [];
  for (;;) {
    const t0 = performance.now();
    const P = await landmarkPreconditioner(A, { rank: m, shift: mu, seed, landmarks: selection, factor: o.factor, maxStoredBytes: budget });
    const buildMs = performance.now() - t0;
    const est = await preconditionedConditionEstimate(A, P, mu, LANDMARK_ESTIMATE_STEPS, seed, rhs);
    const iterations = landmarkIterations(est.kappa, rtol);
    const iterationMs = est.productMs + est.applyMs;
    const stage: LandmarkStage = {
      rank: m, kappa: est.kappa, predictedIterations: iterations, iterationMs, productMs: est.productMs, applyMs: est.applyMs, buildMs, action: 'cost',
    };
    const next = Math.min(maxRank, 2 * m);
    if (next === m) stage.action = 'maxRank';
    else if (!fits(next)) stage.action = 'memory';
    else {
      const grow = next / m;
      const { kernelMs, gramMs, choleskyMs } = P.timings;
      const buildNext = kernelMs * grow + gramMs * grow * grow + choleskyMs * grow ** 3;
      const ratio = previousKappa !== undefined && previousKappa > 1 ? Math.min(1, (est.kappa - 1) / (previousKappa - 1)) : FIRST_DOUBLING_RATIO;
      const kappaNext = 1 + (est.kappa - 1) * ratio;
      // an application of P⁻¹ is ~2nm multiply-adds: it grows with m, the product does not
      const iterationNext = est.productMs + est.applyMs * grow;
      stage.nowMs = iterations * iterationMs;
      stage.nextMs = buildNext + LANDMARK_ESTIMATE_STEPS * iterationNext + landmarkIterations(kappaNext, rtol) * iterationNext;
      stage.action = stage.nextMs < stage.nowMs ? 'grow' : 'cost';
    }
    if (o.alternativeProducts !== undefined) weighAlternative(stage, o.alternativeProducts * est.productMs);
    stages.push(stage);
    await settleCallback(options.onStage?.(stage));
    if (stage.action !== 'grow') {
      stagesOf.set(P, Object.freeze(stages));
      if (rhs) warmStarts.set(P, { rhs, x: est.x, ...(est.state ? { state: est.state } : {}) });
      return P;
    }
    previousKappa = est.kappa;
    m = next;
  }
}
