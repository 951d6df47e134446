/**
 * Rank 'auto' of the randomized Nyström preconditioner (nystrom.ts): when growing the sketch from ℓ to 1.5ℓ or 2ℓ
 * pays — its build against the CG iterations it saves —, as pure functions of the measured costs, with the measured
 * constants behind them. `randomizedNystrom` times each stage, and `stageCosts` and `spectrumTrend` turn that into the
 * inputs of `nystromNextStep`.
 */

/** rank 'auto' stops once λ̂_ℓ ≤ this · μ: the preconditioned condition number is then ≲ 1 + tolerance. */
export const DEFAULT_NYSTROM_TOLERANCE = 10;

/**
 * Largest sketch size of rank 'auto': min(n − 1, 1024, ⌊√(1.2e10 / n)⌋). The build does ~3·n·ℓ²
 * host multiply-adds (orthonormalisation, ΩᵀY, the triangular solve, BᵀB) plus an ℓ³
 * eigendecomposition; the n-dependent term keeps 3nℓ² ≤ 3.6e10 (tens of seconds of JS at ~2e9
 * multiply-adds/s) — so ℓ ≤ 1024 up to n ≈ 11,000, ℓ ≤ 109 at n = 10⁶.
 */
export function defaultMaxRank(n: number): number {
  return Math.max(1, Math.min(n - 1, 1024, Math.floor(Math.sqrt(1.2e10 / n))));
}

/** One step rank 'auto' (cost rule) weighed after a stage: ℓ → `rank`, in milliseconds. */
export interface NystromStep {
  rank: number;
  /** The predicted λ̂ at `rank` (power-law extrapolation of the decay, see `nystromNextStep`). */
  predictedEigenvalue: number;
  iterations: number;
  /** The step's build (new sketch columns, host algebra, eigendecomposition). */
  buildMs: number;
  /** CG at `rank`: iterations × (product + application of P⁻¹). */
  solveMs: number;
}

/**
 * What rank 'auto' (cost rule) predicted after a stage, in milliseconds: the CG time left at the
 * current ℓ, and for the cheapest step ℓ → ℓ' (of 1.5ℓ and 2ℓ, capped at maxRank) its build plus
 * the CG time at ℓ'. `steps` lists every step weighed.
 */
export interface NystromDecision {
  nextRank: number;
  /** The predicted λ̂_ℓ' (power-law extrapolation of the stage-to-stage decay). */
  predictedEigenvalue: number;
  /** ρ ≥ 1: how far the previous stage's λ̂ underestimated the same eigenvalue as this stage sees it (1 after the first stage). */
  underestimate: number;
  /** λ̂ decay per doubling of ℓ used for the extrapolation (≤ 1). */
  decayPerDoubling: number;
  iterationsNow: number;
  iterationsNext: number;
  solveMsNow: number;
  buildMsNext: number;
  solveMsNext: number;
  /** The steps weighed (empty when the stage stopped on tolerance or maxRank). */
  steps: readonly NystromStep[];
  /** 'grow' (to nextRank), or why it stopped: 'cost' (no step pays), 'tolerance' (λ̂_ℓ ≤ tolerance·μ), 'maxRank'. */
  action: 'grow' | 'cost' | 'tolerance' | 'maxRank';
}

/**
 * The costs rank 'auto' weighs (milliseconds). Each field left out is measured during the build;
 * give all of the first four to make the rule independent of timings (tests, or a caller who
 * knows its machine).
 */
export interface NystromCostModel {
  /** One column of the sketch A·Ω (measured: the latest stage's matmat time / its width, at most `productMs`). */
  sketchMsPerColumn?: number;
  /** One product A·x inside CG (measured: one timed matvec after the first stage). */
  productMs?: number;
  /** One multiply-add of the host algebra: the O(nℓ²) loops of the build and the P⁻¹ application (measured per stage). */
  hostMsPerMultiplyAdd?: number;
  /** The ℓ×ℓ eigendecomposition, per ℓ³ (measured per stage). */
  eigenMsPerCube?: number;
  /** CG iterations per unit of √κ, κ ≈ 1 + ρλ̂_ℓ/μ (default `DEFAULT_ITERATIONS_PER_SQRT_KAPPA` ≈ 13.8, calibrated at rtol 1e-6). */
  iterationsPerSqrtKappa?: number;
}

/** ½·ln(2/rtol) at rtol = 1e-6 (≈ 7.25): CG's energy-norm bound, iterations per unit of √κ. */
export const CG_BOUND_ITERATIONS_PER_SQRT_KAPPA = 0.5 * Math.log(2e6);

/**
 * Measured CG iterations over the prediction CG_BOUND_ITERATIONS_PER_SQRT_KAPPA·√(1 + ρλ̂_ℓ/μ),
 * fitted: geometric mean 1.88 over these nine measurements (all within 1.78–2.02), rounded to 1.9.
 * Gaussian kernels on uniform points in [0,1]³, rtol 1e-6, preconditioners built by rank 'auto'
 * (the same nested sketches and the same ρ as the rule sees), κ from 130 to 16,000:
 *   n = 8000, σ = 0.1, α = 1e-3: ℓ = 128, 256, 384, 512, 768, 1024 → 1393, 930, 650, 463, 253, 148
 *     iterations, ratios 1.78, 1.79, 2.02, 1.87, 1.93, 1.80;
 *   n = 6000, σ = 0.1, α = 1e-4: ℓ = 384, 768 → 1802, 691 iterations, ratios 1.95, 2.01;
 *   n = 2000, σ = 0.1, α = 1e-3: ℓ = 128 → 691 iterations, ratio 1.80.
 * Two reasons the bound alone is optimistic here: CG stops on the residual, not the energy norm (up
 * to √κ more reduction needed: ½·ln(2√κ/rtol) is 9.5–10.5 for κ = 10³–10⁴), and κ is set by λ̂_ℓ + ‖A − Â‖, where
 * ‖A − Â‖ (measured by Lanczos: 6–12·ρλ̂_ℓ at n = 8000) exceeds the ρλ̂_ℓ ≈ λ_ℓ the rule can see
 * without extra products. Where κ is small the ratio is lower (n = 4096, σ = 0.2, α = 1e-2:
 * 1.39 and 1.56 at κ ≈ 120 and 8, 0.79 at κ ≈ 1.1), but there CG is short and no step pays anyway.
 * At the first stage ρ is unknown (1): the ratio was 2.1–2.3 there (ℓ = 64 at n = 2000, 4096, 8000), so
 * the first decision underpredicts iterations by up to ~15 %, which only makes it stop earlier.
 */
export const ITERATION_CALIBRATION = 1.9;

/** CG iterations per unit of √(1 + ρλ̂_ℓ/μ) at rtol 1e-6: the bound times the measured `ITERATION_CALIBRATION` (≈ 13.8). */
export const DEFAULT_ITERATIONS_PER_SQRT_KAPPA = ITERATION_CALIBRATION * CG_BOUND_ITERATIONS_PER_SQRT_KAPPA;

/** Host multiply-adds of a stage from ℓ_old to ℓ (orthonormalisation, ΩᵀY_new, the B/G update). */
export function stageMultiplyAdds(n: number, lOld: number, l: number, passes: number): number {
  const k = l - lOld;
  return passes * (2 * n * lOld * k + n * k * k) + n * l * k + 2 * n * lOld * k + n * k * k;
}

/** Host multiply-adds of one application P⁻¹x (two n×ℓ passes and the ℓ×ℓ H). */
export function applyMultiplyAdds(n: number, l: number): number {
  return 2 * n * l + l * l;
}

/** Gram–Schmidt/CholeskyQR passes of a stage to ℓ: two once ℓ is a sizeable part of n (the block gets ill-conditioned). */
export function orthonormalizationPasses(n: number, l: number): number {
  return l > n / 4 ? 2 : 1;
}

/**
 * The cost of one step of rank 'auto' (cost rule), a pure function: after a stage at ℓ with λ̂_ℓ,
 * the CG time left at ℓ against a step to ℓ' and CG there. With κ ≈ 1 + ρ·λ̂/μ (FTU's bound
 * (λ̂_ℓ + μ + ‖A − Â‖)/μ with ρλ̂_ℓ ≈ λ_ℓ standing for what the sketch can see of ‖A − Â‖; ρ ≥ 1
 * corrects for λ̂_ℓ underestimating λ_ℓ, measured between stages — see `randomizedNystrom`),
 * CG iterations ≈ c·√κ (c = `iterationsPerSqrtKappa`, by default the CG bound times the measured
 * `ITERATION_CALIBRATION`), and a CG iteration costing one product plus one application of P⁻¹
 * (which grows with ℓ):
 *   now  = c·√κ(λ̂_ℓ) · (product + apply(ℓ))
 *   next = build(ℓ → ℓ') + c·√κ(λ̂_ℓ') · (product + apply(ℓ'))
 * and the step pays iff next < now. build(ℓ → ℓ') = (ℓ' − ℓ)·sketch column + host multiply-adds of
 * the stage · their measured rate + ℓ'³ · the eigendecomposition's measured rate (the O(nℓ²) and
 * O(ℓ³) terms extrapolated separately).
 */
export function nystromDecision(input: {
  n: number;
  mu: number;
  rank: number;
  nextRank: number;
  lambda: number;
  predictedLambda: number;
  passesNext: number;
  costs: Required<NystromCostModel>;
  /** ρ ≥ 1 (default 1): κ ≈ (ρ·λ̂ + μ)/μ. */
  underestimate?: number;
}): Omit<NystromDecision, 'action' | 'steps' | 'decayPerDoubling'> & { pays: boolean } {
  const { n, mu, rank: l, nextRank: l2, lambda, predictedLambda, passesNext, costs } = input;
  const rho = input.underestimate ?? 1;
  const c = costs.iterationsPerSqrtKappa;
  const iterationsNow = c * Math.sqrt((rho * lambda + mu) / mu);
  const iterationsNext = c * Math.sqrt((rho * predictedLambda + mu) / mu);
  const iterMs = (r: number) => costs.productMs + costs.hostMsPerMultiplyAdd * applyMultiplyAdds(n, r);
  const solveMsNow = iterationsNow * iterMs(l);
  const solveMsNext = iterationsNext * iterMs(l2);
  const buildMsNext = (l2 - l) * costs.sketchMsPerColumn
    + costs.hostMsPerMultiplyAdd * stageMultiplyAdds(n, l, l2, passesNext)
    + costs.eigenMsPerCube * l2 ** 3;
  return {
    nextRank: l2, predictedEigenvalue: predictedLambda, underestimate: rho, iterationsNow, iterationsNext, solveMsNow, buildMsNext, solveMsNext,
    pays: buildMsNext + solveMsNext < solveMsNow,
  };
}

/** The ranks a cost-rule step may go to from ℓ: ⌊1.5ℓ⌋ (at least ℓ + 1) and 2ℓ, capped at maxRank, distinct, ascending; none at maxRank. */
export function nystromStepRanks(rank: number, maxRank: number): number[] {
  const out: number[] = [];
  for (const r of [Math.max(rank + 1, Math.floor(1.5 * rank)), 2 * rank]) {
    const capped = Math.min(maxRank, r);
    if (capped > rank && !out.includes(capped)) out.push(capped);
  }
  return out;
}

/**
 * The λ̂ decay per doubling of ℓ through two sketch sizes ℓ_prev < ℓ: (λ̂_ℓ/λ̂_prev)^(1/log₂(ℓ/ℓ_prev)),
 * i.e. the power law λ̂ ∝ ℓ^log₂(decay) through both points; capped at 1, and 1 when λ̂_prev ≤ 0.
 * (Kernel spectra such as the Gaussian's decay faster than any power law, so extrapolating one
 * overestimates λ̂ at a larger ℓ: the prediction errs towards more iterations at ℓ', not fewer.)
 */
export function nystromDecayPerDoubling(lambda: number, rank: number, previousLambda: number, previousRank: number): number {
  if (!(previousLambda > 0) || !(rank > previousRank)) return 1;
  return Math.min(1, Math.max(0, lambda) / previousLambda) ** (1 / Math.log2(rank / previousRank));
}

/**
 * The cost rule's decision after a stage at ℓ < maxRank (a pure function): every step of
 * `nystromStepRanks` (1.5ℓ and 2ℓ) is costed by `nystromDecision` with λ̂_ℓ' = λ̂_ℓ·decay^log₂(ℓ'/ℓ),
 * and the step with the smallest predicted build + CG time is taken if that beats the CG time at ℓ
 * ('grow'; a tie goes to the smaller step), else none ('cost'). Why 1.5× as well as 2×: near the
 * best rank a doubling can cost more than it saves while a smaller step still pays — measured at
 * n = 8000 (σ = 0.1, α = 1e-3, 2 cores): ℓ = 512 took 37.6 s in all, 768 34.4 s, 1024 ≈ 39 s. One step
 * ahead only (greedy): kernel spectra decay monotonically, so the saving per step shrinks while its
 * cost grows.
 */
export function nystromNextStep(input: {
  n: number;
  mu: number;
  rank: number;
  maxRank: number;
  lambda: number;
  /** λ̂ decay per doubling (see `nystromDecayPerDoubling`), in [0, 1]. */
  decayPerDoubling: number;
  costs: Required<NystromCostModel>;
  /** ρ ≥ 1 (default 1). */
  underestimate?: number;
}): Omit<NystromDecision, 'action'> & { action: 'grow' | 'cost' } {
  const { n, mu, rank, maxRank, lambda, costs } = input;
  const ranks = nystromStepRanks(rank, maxRank);
  if (ranks.length === 0) throw new RangeError(`nystromNextStep: no step from rank ${rank} with maxRank ${maxRank}`);
  const decay = Math.min(1, Math.max(0, input.decayPerDoubling));
  const steps: NystromStep[] = [];
  let best: ReturnType<typeof nystromDecision> | undefined;
  for (const r of ranks) {
    const predicted = lambda * decay ** Math.log2(r / rank);
    const d = nystromDecision({
      n, mu, rank, nextRank: r, lambda, predictedLambda: predicted, passesNext: orthonormalizationPasses(n, r), costs,
      ...(input.underestimate !== undefined ? { underestimate: input.underestimate } : {}),
    });
    steps.push({ rank: r, predictedEigenvalue: predicted, iterations: d.iterationsNext, buildMs: d.buildMsNext, solveMs: d.solveMsNext });
    if (!best || d.buildMsNext + d.solveMsNext < best.buildMsNext + best.solveMsNext) best = d;
  }
  const { pays, ...rest } = best!;
  return { ...rest, decayPerDoubling: decay, steps, action: pays ? 'grow' : 'cost' };
}

/** The decision recorded where rank 'auto' stops without weighing a step (tolerance or maxRank reached). */
export function stopDecision(l: number, lmin: number): Omit<NystromDecision, 'action'> {
  return {
    nextRank: l, predictedEigenvalue: lmin, underestimate: NaN, decayPerDoubling: NaN, iterationsNow: NaN, iterationsNext: NaN, solveMsNow: NaN, buildMsNext: NaN, solveMsNext: NaN, steps: [],
  };
}

/** The cost rule's costs after a stage from lOld to l: the given fields, the others measured on the stage. */
export function stageCosts(
  given: NystromCostModel,
  stage: { n: number; lOld: number; l: number; passes: number; ms: number; sketchMs: number; eigenMs: number; productMs: number },
): Required<NystromCostModel> {
  const { n, lOld, l, passes, ms, sketchMs, eigenMs, productMs } = stage;
  return {
    productMs,
    // a matmat column never costs more than a product (and the first matmat may include warm-up)
    sketchMsPerColumn: given.sketchMsPerColumn ?? Math.min(sketchMs / (l - lOld), productMs),
    hostMsPerMultiplyAdd: given.hostMsPerMultiplyAdd ?? (ms - sketchMs - eigenMs) / stageMultiplyAdds(n, lOld, l, passes),
    eigenMsPerCube: given.eigenMsPerCube ?? eigenMs / l ** 3,
    iterationsPerSqrtKappa: given.iterationsPerSqrtKappa ?? DEFAULT_ITERATIONS_PER_SQRT_KAPPA,
  };
}

/**
 * How the sketch's spectrum moves, for the cost rule after the last of `stages` (whose eigenvalues are `lambda`): λ̂'s
 * decay per doubling of ℓ — stage to stage when there are two stages, else within this sketch (λ̂_ℓ against
 * λ̂_⌊ℓ/2⌋) — and ρ. The last eigenvalue of a sketch underestimates the true λ_ℓ that bounds κ (Nyström gives
 * λ̂_i ≤ λ_i, worst at i = ℓ); the grown sketch sees the previous stage's last eigenvalue better, and their ratio
 * (2.0–2.7 at every stage of the n = 8000 must-show problem) scales λ̂ in κ.
 */
export function spectrumTrend(
  stages: readonly { rank: number; smallestEigenvalue: number }[], lambda: Float64Array,
): { decayPerDoubling: number; underestimate: number } {
  const { rank: l, smallestEigenvalue: lmin } = stages[stages.length - 1]!;
  const before = stages.length >= 2 ? stages[stages.length - 2]! : undefined;
  const half = Math.max(1, Math.floor(l / 2));
  const decayPerDoubling = before
    ? nystromDecayPerDoubling(lmin, l, before.smallestEigenvalue, before.rank)
    : nystromDecayPerDoubling(lmin, l, lambda[half - 1]!, half);
  const underestimate = before
    ? Math.min(100, Math.max(1, lambda[before.rank - 1]! / Math.max(before.smallestEigenvalue, Number.MIN_VALUE)))
    : 1;
  return { decayPerDoubling, underestimate };
}
