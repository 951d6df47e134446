/**
 * `LinearOperator.solve`'s policy as free functions, as lineax's `linear_solve` and `AutoLinearSolver`: for
 * (A + αI) x = b, `solvePlan` decides — a dense Cholesky factorisation or CG, the operator CG runs on (a more
 * accurate twin where A's products cannot reach rtol), the preconditioner and its warm start, refinement or
 * relaxed products — and returns the decisions as a record; `solveShifted` carries a plan out and checks the
 * answer (CgNoConvergence unless `returnInfo`). Operators take part only through their capability hooks
 * (`solveCapabilities`, `denseSource`); the factor and the preconditioners are cached on the operator
 * (auto.ts), so repeated and adjoint solves with the same α reuse them.
 */
import type { Matrix } from 'ml-matrix';
import { CG_SPEC, CgNoConvergence, type CgOptions, type CgResult, type IterationProgress } from '../krylov/cg.js';
import { requireSymmetric } from '../krylov/symmetry.js';
import { MAX_REFINEMENT_CONTRACTION, REFINED_CG_SPEC, type RefinedCgOptions, type RefinementProgress } from '../krylov/refine.js';
import { applyColumns, axpy, dtypeEps, norm, now } from '../krylov/util.js';
import { loadKrylovModule } from '../operators/krylov-bridge.js';
import { LinearOperator, ScaledOperator, ShiftedOperator, SumOperator } from '../operators/linear-operator.js';
import { FLOAT32_UNIT_ROUNDOFF, KernelOperator } from '../operators/kernel-operator.js';
import {
  boolean, field, instanceOf, oneOf, optional, parseOptions, union, withDefault, type OptionField,
} from '../operators/options.js';
import type { BlockLike, VectorLike } from '../operators/types.js';
import { Block } from '../operators/block.js';
import { assertFiniteScalar, atLeastOneColumn, formatShape, settleCallback, toBlock, toVector } from '../operators/validate.js';
import {
  AUTO_MIN_N, cgIterationBound, checkPreconditionerOptions, defaultPreconditionerChoice, isCached, kernelPlusDiagonal, PRECONDITIONER_CHOICES, PreconditionerHolds, preconditionerFor, structuralFloor, warmStartFor, type PreconditionerChoice, type PreconditionerOptions,
} from './auto.js';
import { onesRayleighEstimate, ScaledPreconditioner } from './common.js';
import { LandmarkPreconditioner } from './landmarks.js';
import { landmarkStages, type LandmarkStage } from './landmarks-auto.js';
import { defaultDenseCacheBytes } from '../cpu/memory-pool.js';
import { warn } from '../operators/warnings.js';
import { CholeskySolver, SOLVE_COLUMNS } from '../cpu/dense-cholesky.js';
import { affineParts, CholeskyFactorPreconditioner, factorShifted, hasStoredEntries, NotPositiveDefinite, type DenseShiftedFactor } from './dense-factor.js';

export type SolveMethod = 'auto' | 'cholesky' | 'cg';

export interface SolveOptions
  extends Omit<CgOptions, 'throwOnNoConvergence'>, Pick<RefinedCgOptions, 'innerRtol' | 'maxOuter'> {
  /**
   * Return the result object (x, info, iterations, residualNorms, …, the `plan`, and `float32Entries` where x was checked
   * against a float32 kernel's exact entries: `checkFloat32Entries`) instead of throwing on non-convergence. Default false.
   */
  returnInfo?: boolean;
  /**
   * 'auto' (default): a dense Cholesky factorisation of A + αI where A's entries are stored within its budget
   * (`denseSource`) and the factorisation costs less than the expected CG run (`choleskyPays`), else CG;
   * 'cholesky': the factorisation always (from `toDense()` where nothing is stored); 'cg': CG always.
   */
  method?: SolveMethod;
  /** CG's preconditioner: 'auto' (default, see auto.ts), a named choice, or an operator applying P⁻¹. `M` overrides it. */
  preconditioner?: PreconditionerChoice | LinearOperator;
  /** Options of the preconditioner's builder (rank, seed, …). */
  preconditionerOptions?: PreconditionerOptions;
  /** With a more accurate twin (GPU): false runs CG on the twin throughout, true refines regardless of the floor rule. */
  refine?: boolean;
  /**
   * Called after each refinement step with the true residual: refinedCg's outer steps on a twin, then the steps on A's
   * exact entries of a solve on float32 entries (`float32Entries`), numbered on from them (`residualNorm`: the largest
   * over the columns refined).
   */
  onOuter?: RefinedCgOptions['onOuter'];
  /**
   * Precision of the dense factor (the 'cholesky' path): 'float32' factors in about half the time and refines x on
   * A's float64 products to the accuracy a float64 factor gives (a float32 factor that fails or stalls is replaced by
   * a float64 one); 'float64' factors in float64; 'auto' (default) takes float32 where α > 0, n ≥ FLOAT32_FACTOR_MIN_N
   * and n ≥ FLOAT32_FACTOR_N_PER_COLUMN per right-hand side, and κ̂·ε₃₂ ≤ FLOAT32_FACTOR_MAX_KAPPA_EPS (κ̂ = λ̂/α + 1,
   * λ̂ = ‖A1‖/‖1‖). Refused with method 'cg'.
   */
  factorDtype?: 'auto' | 'float32' | 'float64';
}

/**
 * CG's keys and refinedCg's (their checks, without their defaults: an absent key stays absent, so the solver applies
 * its own default and the plan can tell what the caller gave), and solve's.
 */
export const SOLVE_SPEC = {
  x0: CG_SPEC.x0, rtol: optional(CG_SPEC.rtol), atol: optional(CG_SPEC.atol), maxiter: CG_SPEC.maxiter, M: CG_SPEC.M,
  callback: CG_SPEC.callback, onProgress: CG_SPEC.onProgress, residualCheckEvery: optional(CG_SPEC.residualCheckEvery),
  verify: optional(CG_SPEC.verify), relaxed: CG_SPEC.relaxed, resume: CG_SPEC.resume,
  innerRtol: optional(REFINED_CG_SPEC.innerRtol), maxOuter: optional(REFINED_CG_SPEC.maxOuter), onOuter: REFINED_CG_SPEC.onOuter,
  returnInfo: withDefault(boolean, false),
  method: withDefault(oneOf('auto', 'cholesky', 'cg'), 'auto' as SolveMethod),
  preconditioner: optional(union(oneOf(...PRECONDITIONER_CHOICES), instanceOf(LinearOperator))),
  preconditionerOptions: optional(field<PreconditionerOptions>('an object', (v) => typeof v === 'object' && v !== null && !Array.isArray(v))),
  refine: optional(boolean),
  factorDtype: optional(oneOf('auto', 'float32', 'float64')),
} satisfies Record<keyof SolveOptions, OptionField<unknown>>;

/**
 * Keys that only CG uses: given, they make 'auto' choose CG, and 'cholesky' refuses them — except `preconditionerOptions`
 * beside the 'auto' preconditioner, the options of whatever CG would build (a seed), which leave 'auto' free to factor.
 * `onProgress` is not one: the factor's refinement reports its steps too.
 */
const CG_ONLY_KEYS = [
  'maxiter', 'x0', 'M', 'callback', 'residualCheckEvery', 'verify', 'relaxed', 'resume', 'innerRtol', 'maxOuter', 'onOuter',
  'preconditioner', 'preconditionerOptions', 'refine',
] as const;
/** solve's own keys and refinedCg's: stripped before cg sees the options. */
const NOT_CG_KEYS = ['returnInfo', 'method', 'preconditioner', 'preconditionerOptions', 'refine', 'innerRtol', 'maxOuter', 'onOuter', 'factorDtype'] as const;

type ParsedSolveOptions = ReturnType<typeof parseSolveOptions>;

/**
 * The first option given that only CG uses ('auto' as the preconditioner is not one), if any; with `choosing`, the
 * first that makes 'auto' choose CG (the 'auto' preconditioner's options are not one either).
 */
function cgOnlyKey(o: ParsedSolveOptions, choosing = false): (typeof CG_ONLY_KEYS)[number] | undefined {
  const autoPreconditioner = o.preconditioner === undefined || o.preconditioner === 'auto';
  return CG_ONLY_KEYS.find((k) => o[k] !== undefined && !(k === 'preconditioner' && autoPreconditioner)
    && !(choosing && k === 'preconditionerOptions' && autoPreconditioner));
}

/** Whether a dense factor of A + αI, of either precision, is cached on A. */
function factorCached(A: LinearOperator, alpha: number): boolean {
  return isCached(A, alpha, 'cholesky') || isCached(A, alpha, 'cholesky', { factorDtype: 'float32' });
}

function parseSolveOptions(options: unknown) {
  return parseOptions('solve', options, SOLVE_SPEC);
}

/**
 * The factorisation's cost per multiply-add, in multiply-adds of a product with the stored K: 'auto' factors where
 * (n/3)·CHOLESKY_MADD_COST + k·(FACTOR_SOLVE_PRODUCTS + 1) products cost less than CG's: its bound ½√κ̂·ln(2/rtol)
 * (κ̂ = λ̂/α + 1, at most n iterations) times k columns, or from AUTO_MIN_N points, where 'auto' preconditions CG,
 * PRECONDITIONED_CG_BUILD_PRODUCTS + k·PRECONDITIONED_CG_PRODUCTS_PER_COLUMN if lower. Measured by
 * `node bench/small-solve.mjs --crossover` on the 2-vCPU VM under load (Gaussian σ = 0.2, d = 3, rtol 1e-6;
 * bench/RESULTS.md): the factor took 0.03 s at n = 1000, 0.5–0.9 s at 2000, 1.7–2.6 s at 3000 — 0.2 to 0.5 of
 * n/3 products — and 6.5–10 s at 5000; the bound overestimated plain CG's iterations 1.4–1.9-fold, which leans the
 * rule towards the factor, whose cost is bounded and known.
 */
export const CHOLESKY_MADD_COST = 0.4;
/**
 * Landmark-preconditioned CG (the build with its κ-estimate steps, then the iterations per column) in products, fitted
 * to n = 5000 (7 ms a product): one column took 0.7–2.8 s, ten 1.8–6.2 s at d = 3 and 11.7 s at d = 64
 * (bench/small-solve.mjs, both modes).
 */
export const PRECONDITIONED_CG_BUILD_PRODUCTS = 200;
export const PRECONDITIONED_CG_PRODUCTS_PER_COLUMN = 80;
/** Two triangular solves with the factor, per right-hand side, in products (11.7 ms against 7 ms at n = 5000). */
export const FACTOR_SOLVE_PRODUCTS = 1.6;
/** Iterative-refinement steps with the factor (x += F⁻¹ r) before CG preconditioned by it takes over. */
export const FACTOR_REFINEMENT_STEPS = 3;
/**
 * 'auto' factors in float32 from this order on: below it the factor costs little either way, and the float32 programs'
 * compilation (a fresh process) and the refinement's extra products are not repaid.
 */
export const FLOAT32_FACTOR_MIN_N = 600;
/**
 * …and from this many rows per right-hand side: each column pays its own refinement steps (a float64 product with
 * A and two float32 triangular solves each), the factor's saving does not grow with the columns. Fit + predict,
 * float32 factor / float64 factor, medians of 7 alternating (`node bench/small-solve.mjs --dtype-crossover`, dev VM):
 * 1 column 0.59–0.94 from n = 800; 10 columns 1.03–1.55 up to n = 1,257, 0.96–1.12 at 1,500, 0.81–0.95 at 2,000.
 */
export const FLOAT32_FACTOR_N_PER_COLUMN = 180;
/**
 * 'auto' factors in float32 where κ̂·ε₃₂ is at most this: the refinement's residual shrank 1e-5-fold a step at
 * κ̂·ε₃₂ ≈ 0.04 (Gaussian K, n = 1,257, d = 64, α = 10⁻³); near 1 the float32 factor fails or the refinement stalls.
 */
export const FLOAT32_FACTOR_MAX_KAPPA_EPS = 0.25;
/** Refinement steps with a float32 factor: each gains about −log₁₀(κ·ε₃₂·c) digits; a stalled one ends it. */
export const FLOAT32_REFINEMENT_STEPS = 6;

/** What `solvePlan` decided, for inspection and for `solveShifted` to carry out. */
export interface SolvePlan {
  /**
   * 'cholesky': x = F⁻¹ b by the dense factor, refined to rtol on the products of `operator` (the operator holding the
   * factored entries); 'cg' or 'refined-cg' (on a twin).
   */
  readonly method: 'cholesky' | 'cg' | 'refined-cg';
  /** Why (the option that fixed it, the cost comparison, or the factorisation's failure). */
  readonly reason: string;
  /** The operator the products run on (the system is operator + αI): A, or its more accurate twin. */
  readonly operator: LinearOperator;
  readonly twin: boolean;
  /** The preconditioner as resolved ('given': options.M or an operator), and M; 'cholesky' is the factor. */
  readonly preconditioner: Exclude<PreconditionerChoice, 'auto'> | 'given';
  readonly M?: LinearOperator;
  /** Where the preconditioner's build left PCG on b (one vector): CG goes on from there. */
  readonly warmStart?: { readonly x: Float64Array; readonly state?: { r: Float64Array; p: Float64Array; rho: number } };
  /** Cheaper products for CG's later iterations (cg's `relaxed`). */
  readonly relaxed?: { readonly operator: LinearOperator; readonly below: number };
  /** CG accepts its recursive residual without a verifying product (the operator's products are exact to rounding). */
  readonly trusted: boolean;
  /** The figures behind 'auto' (products with the stored K): λ̂ = ‖A1‖/‖1‖, the CG bound, both costs. */
  readonly estimate?: { readonly lambda: number; readonly iterations: number; readonly cgProducts: number; readonly choleskyProducts: number };
}

/**
 * The check of x against A's exact entries and its refinement there (`checkFloat32Entries`), where the solve applied
 * float32-rounded kernel entries and their rounding can move x by more than rtol (floor > rtol).
 */
export interface Float32EntriesCheck {
  /**
   * ε₃₂·λ̂/α (ε₃₂ = 2⁻²⁴, λ̂ = ‖A1‖/‖1‖, α with A's diagonal floor): about how far, relative, the entries' rounding moves x
   * at most, and a bound on what a refinement step contracts the exact residual by (measured: 30–50 times less).
   */
  readonly floor: number;
  /**
   * 'exact': x's residual was measured against A's exact entries (the float64 CPU operator of the same formula), and
   * refined there; 'float32': A is beyond EXACT_RESIDUAL_MAX_PAIRS, so x met the tolerance on the float32 entries only,
   * and may be off by about `floor` against the exact ones.
   */
  readonly verifiedOn: 'exact' | 'float32';
  /** ‖b − (A + αI)x‖ on the exact entries of the x returned, one per column ('exact' only). */
  readonly exactResidualNorms?: readonly number[];
  /** Refinement steps run on the exact residual (x += (Ã + αI)⁻¹ r by the solve's float32 route; 'exact' only). */
  readonly refinementSteps?: number;
  /**
   * The exact residual norms measured: one array per measurement (x as the solve left it, then after each refinement
   * step; a column's latest where it took no part), one entry per column ('exact' only).
   */
  readonly exactResidualHistory?: readonly (readonly number[])[];
}

/**
 * The result with `returnInfo`: cg's (or refinedCg's) result object, the plan it followed and, where the check ran,
 * `float32Entries` (see `checkFloat32Entries`).
 */
export type SolveResult<X extends Float64Array | Matrix = Float64Array | Matrix> =
  CgResult<X, X extends Matrix ? number[][] : number[]> & { plan: SolvePlan; float32Entries?: Float32EntriesCheck };

/**
 * Solves (A + αI) x = b (b a vector or an n×k block) by the plan of `solvePlan`. Throws CgNoConvergence (its
 * `result` the partial one) when the answer does not meet max(rtol·‖b‖, atol), unless `returnInfo`.
 */
export async function solveShifted(Ain: LinearOperator, b: VectorLike | BlockLike, alphaIn = 0, options?: SolveOptions): Promise<Float64Array | Matrix | SolveResult> {
  const o = parseSolveOptions(options);
  const rhs = rightHandSide(Ain, b, alphaIn);
  const { A, alpha } = unshifted(Ain, alphaIn);
  // the cached factor or preconditioner stays this solve's until it ends, whatever other solves evict meanwhile
  const holds = new PreconditionerHolds();
  const started = now();
  let result: AnyCgResult;
  let finalPlan: SolvePlan;
  try {
    const plan = await planFor(A, rhs, alpha, o, holds);
    result = plan.method === 'cholesky' ? await solveByFactor(A, rhs, alpha, plan, o, holds) : await solveByCg(A, rhs, alpha, plan, o);
    // a float32 operator's indefiniteness note names α and ends on what to do; otherwise what CG ran on
    const f32Note = result.info < 0 && result.message ? float32IndefiniteNote(A, alpha, plan) : '';
    if (result.info !== 0 && result.message) result.message += f32Note || cgNote(A, alpha, plan);
    // a float32 factor that stalled hands back the plan it was replaced by
    finalPlan = (result as { plan?: SolvePlan }).plan ?? plan;
    await checkFloat32Entries(A, rhs, alpha, result, finalPlan, o, holds, started);
  } finally {
    holds.release();
  }
  if (o.returnInfo) return { ...result, plan: finalPlan } as SolveResult;
  if (result.info !== 0) throw new CgNoConvergence(result);
  warnUnverifiedFloat32(A, alpha, result);
  return result.x;
}

/** Operators already warned of by `warnUnverifiedFloat32` (once each: a loop of solves would repeat it). */
const warnedUnverified = new WeakSet<LinearOperator>();

/**
 * Where a solve that hides its result object (`K.solve`, `solveWithVjp` without `returnInfo`) returns x that met rtol
 * on float32 entries only — beyond EXACT_RESIDUAL_MAX_PAIRS, where its exact residual is not measured
 * (`float32Entries.verifiedOn: 'float32'`) — a warning says so, with the floor that bounds the entries' effect: the
 * result object records it, and without one nothing did (a GPU solve at n = 16,385, α = 1, floor 9.2e-4, returned x
 * with no word). Once per operator.
 */
export function warnUnverifiedFloat32(A: LinearOperator, alpha: number, result: { info: number; float32Entries?: Float32EntriesCheck }): void {
  const check = result.float32Entries;
  if (result.info !== 0 || check?.verifiedOn !== 'float32' || warnedUnverified.has(A)) return;
  warnedUnverified.add(A);
  warn(`solve: x meets rtol on the float32 entries of ${A}, but beyond ${EXACT_RESIDUAL_MAX_PAIRS} pairs its residual against the exact `
    + `entries is not measured: their rounding may move x by up to about ε₃₂·λ̂/α = ${check.floor.toExponential(2)} (relative; α = ${alpha}). `
    + "Pass returnInfo to read the check (float32Entries), or use a larger α or a float64 CPU operator for an exact answer", 'LAZYLINALG_FLOAT32_UNVERIFIED');
}

/**
 * The largest n·m for which `checkFloat32Entries` measures x's residual on A's exact entries: one float64 CPU product
 * (kernel evaluations and sums in float64, symmetric: half the evaluations) took 0.32 s at n = 16,384 = 2¹⁴ (Gaussian,
 * d = 3, 2-vCPU VM; 0.11 s at 8,192) — where the check runs (small α) CG on the GPU takes hundreds of products or a
 * dense factor n³/3 multiply-adds. It is also the default dense budget's n×n float64 matrix (2 GiB, `toDense()`'s limit).
 */
export const EXACT_RESIDUAL_MAX_PAIRS = 2 ** 28;

/**
 * A solve that applied float32-rounded kernel entries — a GPU kernel's (its own products, its compensated twin or its
 * CPU twin's stored float32 K), a float32 CPU kernel's stored K — solved the system of those entries K̃ to rtol, and
 * their rounding E = K̃ − K moves x by about ε₃₂·λ̂/α relative: above rtol, x can meet rtol on K̃ and miss it on K by
 * far (Gaussian σ = 0.5, d = 3, n = 500, α = 3·10⁻⁶, llvmpipe: 8.6·10⁻²·‖b‖ against `toDense()`, info 0). There
 * (floor > rtol; A's kernels under scalings, shifts, sums and diagonals) x's residual is measured on A's exact entries
 * — the float64 CPU operator of the same formula (`exactEntriesOperator`), one product — up to
 * EXACT_RESIDUAL_MAX_PAIRS, and a column above max(rtol·‖b‖, atol) is refined on it (`refineOnExactEntries`); one
 * still above makes info > 0 (CgNoConvergence unless `returnInfo`) with a message naming α, the floor, the exact
 * residual, the refinement and what to do. Beyond the budget nothing is computed: `float32Entries.verifiedOn` says
 * 'float32'. A float32 CPU kernel whose solve ran on its float64 twin, a float64 operator, a moderate α (floor ≤ rtol:
 * λ̂ is the plan's, remembered) and a solve already short of rtol are left as they were, with no product. Records
 * `float32Entries` on the result. Runs while the solve's factor or preconditioner is held: the corrections reuse it.
 */
async function checkFloat32Entries(
  A: LinearOperator, rhs: Float64Array | Block, alpha: number, result: AnyCgResult, plan: SolvePlan, o: ParsedSolveOptions,
  holds: PreconditionerHolds, started: number,
): Promise<void> {
  if (result.info !== 0 || !appliesFloat32Entries(plan.operator) || !hasExactEntries(A)) return;
  const rtol = o.rtol ?? 1e-5;
  const { floor, lambda } = await float32EntriesFloor(A, alpha, plan);
  if (!(floor > rtol)) return;
  const n = A.shape[0];
  const check: { -readonly [K in keyof Float32EntriesCheck]: Float32EntriesCheck[K] } = { floor, verifiedOn: 'float32' };
  Object.assign(result, { float32Entries: check });
  if (n * A.shape[1] > EXACT_RESIDUAL_MAX_PAIRS) return;
  const exact = withExactEntries(A)!;
  const B = rhs instanceof Float64Array ? [rhs] : rhs.columns();
  // x's columns: replaced by the refinement's steps, never written in place
  const X = solutionColumns(result.x);
  const tol = B.map((b) => Math.max(rtol * norm(b), o.atol ?? 0));
  const refined = await refineOnExactEntries({ A, exact: alpha ? exact.shift(alpha) : exact, rhs, B, X, tol, alpha, plan, o, holds, started, result });
  const residuals = refined.history.at(-1)!;
  Object.assign(check, { verifiedOn: 'exact', exactResidualNorms: residuals, refinementSteps: refined.steps, exactResidualHistory: refined.history });
  const short = residuals.map((r, j) => !(r <= tol[j]!));
  if (!short.includes(true)) return;
  const relative = residuals.map((r, j) => r / Math.max(norm(B[j]!), Number.MIN_VALUE));
  const worst = relative.reduce((w, r, j) => (short[j] && !(r <= relative[w]!) ? j : w), short.indexOf(true));
  result.info = Math.max(result.iterations, 1);
  if (result.columnInfo) result.columnInfo = result.columnInfo.map((info, j) => (short[j] ? Math.max(result.columnIterations?.[j] ?? result.iterations, 1) : info));
  result.message = float32EntriesMessage(A, alpha, {
    rtol, atol: o.atol, floor, lambda, relative: relative[worst]!, ratio: residuals[worst]! / tol[worst]!, column: B.length > 1 ? worst : undefined,
    steps: refined.steps, stop: refined.stop[worst]!,
  });
}

/**
 * Refinement steps on the exact residual at most: where a step helps at all it contracts the residual by about
 * ‖E (K̃ + αI)⁻¹‖ — at most the floor ε₃₂·λ̂/α, 30–50 times less in practice (Gaussian σ = 0.5, n = 500, float32 stored
 * K: 0.085–0.19 a step at α = 3·10⁻⁶, floor 4.6, rtol 10⁻⁵ reached in 5 steps; 0.003 at α = 10⁻⁴, floor 0.14) —, and
 * each step costs a product on the exact entries (float64, CPU) and a solve of the float32 route.
 */
export const FLOAT32_ENTRIES_REFINEMENT_STEPS = 6;
/**
 * The correction solves' relative tolerance where a step cannot reach the tolerance anyway: a step contracts the exact
 * residual by about η plus the entries' own contraction, so an η near MAX_REFINEMENT_CONTRACTION would stall the
 * refinement where the rounding alone would not. (Where one step can reach it, η is half of what it must gain.)
 */
export const FLOAT32_ENTRIES_MAX_CORRECTION_RTOL = 0.1;

/** Why a column's refinement on the exact residual ended short of the tolerance (see `float32EntriesMessage`). */
type RefinementStop =
  | { readonly cause: 'contraction'; readonly contraction: number }
  | { readonly cause: 'steps' | 'maxiter' }
  | { readonly cause: 'predicted'; readonly contraction: number; readonly needed: number; readonly left: number }
  | { readonly cause: 'correction'; readonly message: string };

interface ExactRefinement {
  readonly A: LinearOperator;
  /** (A's exact entries) + αI. */
  readonly exact: LinearOperator;
  readonly rhs: Float64Array | Block;
  readonly B: readonly Float64Array[];
  /** x's columns, refined in place. */
  readonly X: Float64Array[];
  readonly tol: readonly number[];
  readonly alpha: number;
  readonly plan: SolvePlan;
  readonly o: ParsedSolveOptions;
  readonly holds: PreconditionerHolds;
  readonly started: number;
  /** The solve's result: x, iterations, residualNorms, matvecs (and per column) take the steps in. */
  readonly result: AnyCgResult;
}

/**
 * Mixed-precision iterative refinement on A's exact entries, the float32 route as its inner solver (refine.ts's scheme
 * with the roles of float32 entries and exact ones): r = b − (A + αI)x on the exact entries, d ≈ (Ã + αI)⁻¹ r by the
 * solve's own plan (its factor, or CG with its preconditioner, on its operator), x += d, while a column stays above its
 * tolerance. r' = (r − (Ã + αI)d) + E d: a step contracts r by about η + ‖E (Ã + αI)⁻¹‖, measured per step — the first
 * by the solve itself (x from 0: ‖r‖/‖b‖). A column stops where a step contracts it by less than
 * MAX_REFINEMENT_CONTRACTION (a step that does not reduce it is undone), where even its last contraction could not
 * reach the tolerance within the steps left, at FLOAT32_ENTRIES_REFINEMENT_STEPS, or at maxiter (the corrections'
 * iterations count). The steps join the result as refinedCg's do: iterations and matvecs (the exact products too)
 * added, each step's exact residual appended to residualNorms, `onOuter` called per step, `onProgress` numbered on.
 * Returns the exact residuals measured (one array per measurement: x as the solve left it, then after each step).
 */
async function refineOnExactEntries(e: ExactRefinement): Promise<{ steps: number; history: number[][]; stop: (RefinementStop | undefined)[] }> {
  const { B, X, tol, result, o } = e;
  const residualsOf = async (cols: readonly number[], at: readonly Float64Array[]) => {
    const AX = await applyColumns(e.exact, at);
    result.matvecs += cols.length;
    return cols.map((j, i) => difference(B[j]!, AX[i]!));
  };
  const all = B.map((_, j) => j);
  const R = await residualsOf(all, X);
  const last = R.map(norm);
  const history = [last.slice()];
  // the solve itself was the first step, from x = 0
  const contraction = last.map((r, j) => r / Math.max(norm(B[j]!), Number.MIN_VALUE));
  const stop: (RefinementStop | undefined)[] = B.map(() => undefined);
  const outerBase = (result as { outerIterations?: number }).outerIterations ?? 0;
  let steps = 0;
  for (;;) {
    const open = all.filter((j) => last[j]! > tol[j]! && stop[j] === undefined);
    for (const j of open) stop[j] = refinementStop(last[j]!, tol[j]!, contraction[j]!, FLOAT32_ENTRIES_REFINEMENT_STEPS - steps);
    const left = o.maxiter === undefined ? undefined : o.maxiter - result.iterations;
    if (left !== undefined && left <= 0) for (const j of open) stop[j] ??= { cause: 'maxiter' };
    const stepping = open.filter((j) => stop[j] === undefined);
    if (stepping.length === 0) return { steps, history, stop };
    // the exact residual before the first step joins the history the steps extend
    if (steps === 0) appendResiduals(result, stepping, last);
    const eta = Math.min(...stepping.map((j) => Math.max((0.5 * tol[j]!) / last[j]!, Math.min(FLOAT32_ENTRIES_MAX_CORRECTION_RTOL, contraction[j]! / 2))));
    const correction = await correctionSolve(e, stepping, stepping.map((j) => R[j]!), eta, left);
    if (correction.info < 0) {
      for (const j of stepping) stop[j] = { cause: 'correction', message: correction.message ?? 'no message' };
      return { steps, history, stop };
    }
    steps++;
    const D = solutionColumns(correction.x);
    const candidates = stepping.map((j, i) => { const c = Float64Array.from(X[j]!); axpy(1, D[i]!, c); return c; });
    const next = await residualsOf(stepping, candidates);
    stepping.forEach((j, i) => {
      const r = norm(next[i]!);
      contraction[j] = r / last[j]!;
      // a step that does not reduce the exact residual is undone (its contraction ends the column's refinement)
      if (!(r < last[j]!)) return;
      X[j] = candidates[i]!;
      R[j] = next[i]!;
      last[j] = r;
    });
    history.push(last.slice());
    await recordStep(e, stepping, correction, last, Math.max(...stepping.map((j) => contraction[j]!)), outerBase + steps);
  }
}

/** Whether (and why) a column at residual r refines no further: see `refineOnExactEntries`. */
function refinementStop(r: number, tol: number, contraction: number, stepsLeft: number): RefinementStop | undefined {
  if (!(contraction <= MAX_REFINEMENT_CONTRACTION)) return { cause: 'contraction', contraction };
  if (stepsLeft <= 0) return { cause: 'steps' };
  // later steps contract less, not more (the residual gathers where E (Ã + αI)⁻¹ is largest): at this rate, the least
  const needed = contraction > 0 ? Math.ceil(Math.log(tol / r) / Math.log(contraction)) : 1;
  return needed > stepsLeft ? { cause: 'predicted', contraction, needed, left: stepsLeft } : undefined;
}

/**
 * d ≈ (Ã + αI)⁻¹ R (R the open columns' exact residuals) to relative tolerance η by the solve's own route: the plan's
 * factor, or CG (refinedCg on a twin) with its preconditioner and operator — no warm start (that was b's), the
 * caller's callback seeing x + d, `onProgress` numbered on from the iterations so far, `onOuter` kept for the steps.
 */
async function correctionSolve(e: ExactRefinement, open: readonly number[], R: Float64Array[], eta: number, maxiter: number | undefined): Promise<AnyCgResult> {
  const { A, alpha, X, o, result } = e;
  const n = A.shape[0];
  const block = !(e.rhs instanceof Float64Array);
  const rhs = block ? Block.fromColumns(R, n) : R[0]!;
  const base = result.iterations;
  const callback = o.callback as ((xk: Float64Array | Matrix) => unknown) | undefined;
  const onProgress = o.onProgress as ((p: IterationProgress) => unknown) | undefined;
  const corrected = (d: Float64Array | Matrix): Float64Array | Matrix => {
    const cols = X.map((x) => Float64Array.from(x));
    const D = solutionColumns(d);
    open.forEach((j, i) => axpy(1, D[i]!, cols[j]!));
    return block ? Block.fromColumns(cols, n).toMatrix() : cols[0]!;
  };
  const options: ParsedSolveOptions = {
    ...o, rtol: eta, atol: undefined, x0: undefined, resume: undefined, maxiter, onOuter: undefined,
    callback: callback && ((d: Float64Array | Matrix) => callback(corrected(d))),
    onProgress: onProgress && ((p: IterationProgress) => onProgress({ ...p, iteration: base + p.iteration, elapsedMs: now() - e.started })),
  };
  const { warmStart: _b, ...plan } = e.plan;
  return plan.method === 'cholesky' ? solveByFactor(A, rhs, alpha, plan, options, e.holds) : solveByCg(A, rhs, alpha, plan, options);
}

/** The columns of a solution (a vector: itself; a matrix: copied out). */
function solutionColumns(x: Float64Array | Matrix): Float64Array[] {
  return x instanceof Float64Array ? [x] : Block.fromMatrix(x).columns();
}

/** A refinement step into the result, as refinedCg reports its outer steps (see `refineOnExactEntries`). */
async function recordStep(e: ExactRefinement, open: readonly number[], correction: AnyCgResult, last: readonly number[], contraction: number, outer: number): Promise<void> {
  const { result, X, o } = e;
  result.iterations += correction.iterations;
  result.matvecs += correction.matvecs;
  result.x = result.x instanceof Float64Array ? X[0]! : Block.fromColumns(X, result.x.rows).toMatrix();
  appendResiduals(result, open, last);
  if (result.columnIterations) open.forEach((j, i) => (result.columnIterations![j]! += correction.columnIterations?.[i] ?? correction.iterations));
  const onOuter = o.onOuter as ((p: RefinementProgress) => unknown) | undefined;
  await settleCallback(onOuter?.({
    outer, residualNorm: Math.max(...open.map((j) => last[j]!)), innerIterations: correction.iterations, contraction, elapsedMs: now() - e.started,
  }));
}

/** The exact residuals of the columns `open` onto the result's residual history (one list, or one per column). */
function appendResiduals(result: AnyCgResult, open: readonly number[], last: readonly number[]): void {
  if (result.x instanceof Float64Array) (result.residualNorms as number[]).push(last[0]!);
  else for (const j of open) (result.residualNorms as number[][])[j]!.push(last[j]!);
}

/** ε₃₂·λ̂/α of `checkFloat32Entries`, with λ̂ as the plan made it (remembered): on the factored entries, or on A. */
async function float32EntriesFloor(A: LinearOperator, alpha: number, plan: SolvePlan): Promise<{ floor: number; lambda: number }> {
  const regular = regularisation(A, alpha);
  const lambda = plan.estimate?.lambda ?? (await onesRayleighEstimate(plan.method === 'cholesky' ? plan.operator : A));
  return { floor: regular > 0 ? (FLOAT32_UNIT_ROUNDOFF * lambda) / regular : Infinity, lambda };
}

/** How the refinement of the worst column ended, for the message of `checkFloat32Entries`. */
function refinementPhrase(steps: number, stop: RefinementStop | undefined): string {
  const ran = steps === 0 ? 'no refinement step on the exact residual ran' : `after ${steps} refinement step${steps === 1 ? '' : 's'} on the exact residual (x += (Ã + αI)⁻¹ r)`;
  switch (stop?.cause) {
    case 'contraction':
      return steps === 0
        ? `${ran}: the solve's own x left ${stop.contraction.toPrecision(3)} of ‖b‖, about what each step would contract the residual by (above ${MAX_REFINEMENT_CONTRACTION})`
        : `${ran}, the last contracting it by only ${stop.contraction.toPrecision(3)} (above ${MAX_REFINEMENT_CONTRACTION})`;
    case 'predicted':
      return `${ran}: contracting it by ${stop.contraction.toPrecision(3)} a step, it would need at least ${stop.needed} ${steps === 0 ? '' : 'more '}steps, ` +
        (steps === 0 ? `beyond the ${FLOAT32_ENTRIES_REFINEMENT_STEPS} allowed` : `where ${stop.left} of the ${FLOAT32_ENTRIES_REFINEMENT_STEPS} allowed are left`);
    case 'steps':
      return `${ran}, the most allowed`;
    case 'maxiter':
      return `${ran}, when the correction solves reached maxiter`;
    case 'correction':
      return `${ran}, when a correction solve failed (${stop.message})`;
    default:
      return ran;
  }
}

/** The message of `checkFloat32Entries` where x misses the tolerance on A's exact entries. */
function float32EntriesMessage(
  A: LinearOperator, alpha: number,
  f: { rtol: number; atol?: number; floor: number; lambda: number; relative: number; ratio: number; column?: number; steps: number; stop?: RefinementStop },
): string {
  const gpu = float32Kernels(A).some((K) => K.backend === 'gpu');
  const which = f.column === undefined ? '' : ` (column ${f.column}, the worst)`;
  const tolerance = f.atol !== undefined && f.atol > 0 ? `the tolerance max(rtol·‖b‖, atol) (rtol = ${f.rtol}, atol = ${f.atol})` : `the tolerance rtol = ${f.rtol}`;
  const advice = gpu
    ? "use a larger α, or solve on the CPU: K.solve on the float64 operator of the same formula (dtype 'float64', backend 'cpu') is the accurate route"
    : "use dtype 'float64' (on the CPU) or a larger α";
  return `x solves A + αI with A's float32 entries to rtol, but its residual against A's exact entries (the formula in float64) is ` +
    `${f.relative.toExponential(3)}·‖b‖${which}, ${f.ratio < 1000 ? f.ratio.toPrecision(3) : f.ratio.toExponential(1)}× ${tolerance}, ${refinementPhrase(f.steps, f.stop)}: ` +
    `at α = ${alpha} the float32 entries' rounding moves the solution by up to ` +
    `about ε₃₂·λ̂/α = ${f.floor.toExponential(2)} (the float32 entries' floor; λ̂ = ‖A1‖/‖1‖ = ${f.lambda.toPrecision(3)}) — ${advice}`;
}

/** Whether A's products apply float32-rounded kernel entries (a float32 KernelOperator under scalings, shifts and sums). */
function appliesFloat32Entries(A: LinearOperator): boolean {
  return float32Kernels(A).length > 0;
}

/** The float32 KernelOperators under A's scalings, shifts and sums. */
function float32Kernels(A: LinearOperator): KernelOperator[] {
  if (A instanceof KernelOperator) return A.dtype === 'float32' ? [A] : [];
  if (A instanceof ScaledOperator || A instanceof ShiftedOperator) return float32Kernels(A.base);
  if (A instanceof SumOperator) return A.parts.flatMap(float32Kernels);
  return [];
}

/** Whether `withExactEntries(A)` is defined (nothing built). */
function hasExactEntries(A: LinearOperator): boolean {
  if (A instanceof KernelOperator || A.diagonalEntries() !== undefined) return true;
  if (A instanceof ScaledOperator || A instanceof ShiftedOperator) return hasExactEntries(A.base);
  return A instanceof SumOperator && A.parts.every(hasExactEntries);
}

/**
 * A with each KernelOperator replaced by the operator of its exact entries (`exactEntriesOperator`), through scalings,
 * shifts and sums, diagonal parts kept; undefined where any other part is found (its entries are only its products).
 */
function withExactEntries(A: LinearOperator): LinearOperator | undefined {
  if (A instanceof KernelOperator) return A.exactEntriesOperator();
  if (A.diagonalEntries() !== undefined) return A;
  if (A instanceof ScaledOperator) return withExactEntries(A.base)?.scale(A.factor);
  if (A instanceof ShiftedOperator) return withExactEntries(A.base)?.shift(A.alpha);
  if (A instanceof SumOperator) {
    const parts = A.parts.map(withExactEntries);
    return parts.every((p) => p !== undefined) ? new SumOperator(parts as LinearOperator[]) : undefined;
  }
  return undefined;
}

/**
 * Why a float32 operator's A + αI can be indefinite: rounding its entries moves its eigenvalues by up to ≈ ε₃₂·‖A‖,
 * which a small α does not cover — a Gaussian K of 200 points on a line (σ = 0.1) at α = 10⁻⁸ failed its factor and
 * broke down in CG on the GPU with "A is not positive definite" and no more, where float64 solves it. Said where CG
 * broke down on such an operator, unless α is far above that (λ̂ from the plan, where it was estimated).
 */
function float32IndefiniteNote(A: LinearOperator, alpha: number, plan: SolvePlan): string {
  if (A.dtype !== 'float32') return '';
  const lambda = plan.estimate?.lambda;
  const rounding = lambda === undefined ? undefined : dtypeEps('float32') * lambda;
  if (rounding !== undefined && alpha > 100 * rounding) return '';
  const size = rounding === undefined ? 'ε₃₂·‖A‖' : `ε₃₂·‖A‖ ≈ ${rounding.toExponential(1)}`;
  return `; A is float32: rounding its entries moves its eigenvalues by up to about ${size}, more than α = ${alpha} covers — ` +
    "use dtype 'float64' (on the CPU) or a larger α";
}

/**
 * What CG that stopped short ran on — α and the preconditioner, with the κ̂ of P⁻¹(A + αI) its build estimated — which
 * cg's own message cannot name, and the dense factor where A's entries are stored. A stagnation at α = 10⁻⁸ (n = 6,000)
 * read "the products' accuracy limits the attainable residual" and no more, where its cause was the landmark
 * preconditioner (then indefinite at that α) and CG's 1,875 iterations.
 */
function cgNote(A: LinearOperator, alpha: number, plan: SolvePlan): string {
  if (plan.method === 'cholesky') return '';
  const stage = lastLandmarkStage(plan.M);
  const kappa = stage ? ` (its build's κ̂ of P⁻¹(A + αI): ${stage.kappa.toExponential(2)}, ≈ ${Math.round(stage.predictedIterations)} iterations predicted)` : '';
  const what = plan.M ? `preconditioned by ${plan.M}${kappa}` : 'unpreconditioned';
  // a GPU kernel's entries are its CPU twin's, made on asking: not for a message
  const { core } = affineParts(A);
  const onCpu = !(core instanceof KernelOperator) || core.backend === 'cpu';
  const factor = onCpu && plan.preconditioner !== 'cholesky' && hasStoredEntries(A) ? "; A's entries are stored within the dense budget: method 'cholesky' factors A + αI instead" : '';
  return `; CG ran on A + αI at α = ${alpha}, ${what}${factor}`;
}

/** The decisions `solveShifted(A, b, alpha, options)` would make, with the factor or preconditioner built (and cached). */
export async function solvePlan(A: LinearOperator, b: VectorLike | BlockLike, alpha = 0, options?: SolveOptions): Promise<SolvePlan> {
  const o = parseSolveOptions(options);
  const rhs = rightHandSide(A, b, alpha, 'solvePlan');
  const u = unshifted(A, alpha);
  return planFor(u.A, rhs, u.alpha, o);
}

/**
 * A = B + s·I and α as B and α + s: the same matrix, planned on B — its cached factor and preconditioner, its twin, its
 * cost model — so that `K.shift(s).solve(b)` is `K.solve(b, s)`. Before, a shift was another operator to the planner:
 * from AUTO_MIN_N points no landmark preconditioner (n = 8,000, s = 10⁻³: a 7.3 s dense factor where `K.solve(b, s)`
 * took 1.35 s by preconditioned CG), and below it a CG bound of n iterations (n = 3,000, s = 1: a factor where CG
 * takes 55 iterations).
 */
function unshifted(A: LinearOperator, alpha: number): { A: LinearOperator; alpha: number } {
  let base = A;
  let shift = alpha;
  while (base instanceof ShiftedOperator) {
    shift += base.alpha;
    base = base.base;
  }
  return { A: base, alpha: shift };
}

/** b checked and copied: a vector, or a block (kept a Block inside: CG gets a Matrix, the factor's path none until x). */
function rightHandSide(A: LinearOperator, b: VectorLike | BlockLike, alpha: number, fn = 'solve'): Float64Array | Block {
  if (!(A instanceof LinearOperator)) throw new TypeError(`${fn}: expected a LinearOperator A, got ${String(A)}`);
  if (A.shape[0] !== A.shape[1]) throw new RangeError(`${fn}: needs a square operator, got shape ${formatShape(A.shape)} (${A})`);
  assertFiniteScalar(alpha, `${fn} (alpha)`);
  const isBlock = (typeof b === 'object' && b !== null && 'columns' in b && 'rows' in b) || (Array.isArray(b) && b.length > 0 && Array.isArray(b[0]));
  if (!isBlock) return toVector(b as VectorLike, A.shape[0], fn);
  return atLeastOneColumn(toBlock(b as BlockLike, A.shape[0], fn), fn);
}

async function planFor(A: LinearOperator, rhs: Float64Array | Block, alpha: number, o: ParsedSolveOptions, holds?: PreconditionerHolds): Promise<SolvePlan> {
  const columns = rhs instanceof Float64Array ? 1 : rhs.cols;
  // the factor's programs are asked for when it is built (dense-factor.ts), not here before K is stored: asked for
  // first, their text and compilation took the cores from storing K (2 vCPUs; fresh fit + predict, medians of 21
  // alternating, n = 1,000–2,000, 1 and 10 columns: 2–9% faster without)
  await assertSolvable(A, alpha);
  if (o.preconditionerOptions !== undefined) checkPreconditionerOptions(o.preconditionerOptions); // also where CG is not chosen
  // before any build: the products that follow are many (a KernelOperator stores K at its next product)
  A.expectRepeatedProducts();
  // where A's entries are stored, once for the whole plan (CG asked for needs none: a GPU kernel's twin is not made)
  const stored = o.method === 'cg' ? undefined : storedEntries(A);
  // the regularisation the cost model and the factor's precision see, once for the plan
  const regular = regularisation(A, alpha);
  const rtol = o.rtol ?? 1e-5; // cg's default (scipy's)
  const choosing = chooseMethod(A, alpha, regular, rtol, columns, o, stored);
  await null; // the store of K (chooseMethod's first product) asks for its memory first: prefaults run in the order asked
  prefaultLikelyFactor(A, alpha, regular, columns, o, stored);
  const choice = await choosing;
  const factorFor = async (chosen: MethodChoice): Promise<SolvePlan> => {
    try {
      const factorDtype = await factorDtypeFor(A, alpha, regular, columns, o, chosen.estimate, stored);
      // a block's solves take SOLVE_COLUMNS columns a pass: that program compiles while the factor is built
      if (columns > 1) CholeskySolver.compile(factorDtype, SOLVE_COLUMNS).catch(() => undefined);
      const factor = await preconditionerFor(A, alpha, 'cholesky', factorDtype === 'float32' ? { factorDtype } : {}, holds);
      const operator = stored?.entries ?? A;
      return { ...chosen, method: 'cholesky', operator, twin: operator !== A, preconditioner: 'cholesky', M: factor!, trusted: false };
    } catch (e) {
      if (!(e instanceof NotPositiveDefinite) || o.method === 'cholesky') throw e;
      return cgPlan(A, rhs, alpha, rtol, o, `${e.message}: CG instead`, chosen.estimate, holds);
    }
  };
  if (choice.method === 'cholesky') return factorFor(choice);
  const alternative = factorAlternative(A, alpha, columns, o, choice);
  const plan = await cgPlan(A, rhs, alpha, rtol, o, choice.reason, choice.estimate, holds, alternative);
  const outpriced = alternative === undefined ? undefined : factorOutprices(plan, alpha, columns);
  return outpriced ? factorFor({ ...choice, ...outpriced }) : plan;
}

type MethodChoice = Awaited<ReturnType<typeof chooseMethod>>;

/** The last stage of the adaptive landmark build behind M (c·K + D's is (1/c)·P: a scaling of it), if any. */
function lastLandmarkStage(M: LinearOperator | undefined): LandmarkStage | undefined {
  const inner = M instanceof ScaledPreconditioner ? M.inner : M instanceof ScaledOperator ? M.base : M;
  return inner instanceof LandmarkPreconditioner ? landmarkStages(inner).at(-1) : undefined;
}

/**
 * The dense factor's cost per right-hand side, in products, for the 'auto' landmark build to weigh at each stage
 * (`alternativeProducts`): where 'auto' chose CG by the cost model with A's entries stored and the landmarks 'auto'
 * builds. The model prices preconditioned CG at PRECONDITIONED_CG_* products whatever α is, while its iterations grow
 * as 1/√α once α is below what the landmarks resolve: at n = 6,000 (Gaussian σ = 0.2, rtol 10⁻⁶) α = 10⁻⁸ took
 * 1,875 iterations and 38 s, α = 10⁻¹⁰ 12,425 and 234 s (neither converged), where the factor takes about 5 s.
 * The build's first stage measures that growth (its κ̂ and product time) before the larger stages cost much.
 */
function factorAlternative(A: LinearOperator, alpha: number, columns: number, o: ParsedSolveOptions, choice: MethodChoice): number | undefined {
  const rank = o.preconditionerOptions?.rank;
  const auto = (o.preconditioner ?? 'auto') === 'auto' && (rank === undefined || rank === 'auto');
  if (o.method !== 'auto' || choice.estimate === undefined || !auto || defaultPreconditionerChoice(A, alpha) !== 'landmarks') return undefined;
  return choice.estimate.choleskyProducts / columns;
}

/**
 * The reason and estimate of a factor plan where the landmark build found the factor cheaper than CG with any of its
 * stages (its last stage's action 'alternative'), else undefined.
 */
function factorOutprices(plan: SolvePlan, alpha: number, columns: number): Pick<MethodChoice, 'reason' | 'estimate'> | undefined {
  const stage = lastLandmarkStage(plan.M);
  if (stage?.action !== 'alternative' || plan.estimate === undefined) return undefined;
  const products = (ms: number) => (ms / Math.max(stage.productMs, 1e-9)) * columns;
  const cgMs = Math.min(stage.nowMs!, stage.nextMs ?? Infinity);
  const reason = `factorisation cheaper at α = ${alpha}: the landmark preconditioner (m = ${stage.rank}) leaves κ̂ = ` +
    `${stage.kappa.toExponential(2)} of P⁻¹(A + αI), ≈ ${Math.round(stage.predictedIterations)} CG iterations: ≈ ${(cgMs / 1000).toFixed(1)} s ` +
    `with it or the next stage, against ≈ ${plan.estimate.choleskyProducts.toFixed(0)} products' worth for the factor ` +
    `(≈ ${(stage.alternativeMs! / 1000).toFixed(1)} s at ${stage.productMs.toFixed(1)} ms a product; before the build: ${plan.reason})`;
  return { reason, estimate: { ...plan.estimate, cgProducts: products(cgMs) } };
}

type Estimate = NonNullable<SolvePlan['estimate']>;

/**
 * The stored entries a dense factor of A would read: those of the operator under A's shifts and scalings (A = c·B + s·I,
 * `affineParts`), so that `K.shift(s).solve(b)` plans as `K.solve(b, s)` does (it ran CG: 2,809 iterations where the
 * factor took 0.11 s, n = 1,000, s = 10⁻⁴), and the operator whose products apply them exactly (`entries`): A itself,
 * or c·T + s·I for a twin T holding B's entries (a GPU kernel's CPU twin). The factor's refinement measures residuals
 * with it: on a GPU kernel's float32 products the floor ε₃₂·‖K‖‖x‖ left the refinement, then CG, short of rtol
 * (α = 10⁻³, n = 500: 1.6e-3·‖b‖). Undefined where nothing under A stores its entries.
 */
interface StoredEntries {
  readonly entries: LinearOperator;
  readonly twin: boolean;
}

function storedEntries(A: LinearOperator): StoredEntries | undefined {
  const { core, scale, shift } = affineParts(A);
  const source = core.denseSource();
  if (source === undefined) return undefined;
  if (source.operator === core) return { entries: A, twin: false };
  const scaled = scale === 1 ? source.operator : source.operator.scale(scale);
  return { entries: shift === 0 ? scaled : scaled.shift(shift), twin: true };
}

/**
 * Prepares the memory of the float64 factor 'auto' will most likely build (a stored dense form below AUTO_MIN_N, none
 * cached) on another thread while K is stored and the cost estimated (`CholeskySolver.prefault`), rather than when
 * the factorisation starts and waits for it. Fresh fit + predict, medians of 15 alternating runs (2-vCPU VM):
 * 10 columns (float64 factors) at n = 1,000–2,000 3–7% faster; one column (float32 factors, half the memory) at
 * n = 1,000 and 1,257 2–7% slower prepared early, where the store's own faults compete with it — left to the
 * factorisation. Where CG is chosen after all, the memory goes to the recycled ones.
 */
function prefaultLikelyFactor(
  A: LinearOperator, alpha: number, regular: number, columns: number, o: ParsedSolveOptions, stored: StoredEntries | undefined,
): void {
  const n = A.shape[0];
  if (o.method === 'cg' || cgOnlyKey(o, true) !== undefined) return;
  if (n >= AUTO_MIN_N || stored === undefined || factorCached(A, alpha)) return;
  const likely = o.factorDtype === 'float32' || (o.factorDtype !== 'float64' && regular > 0 && n >= float32FactorMinN(columns)) ? 'float32' : 'float64';
  if (likely === 'float64') CholeskySolver.prefault(n, likely);
}

/**
 * The regularisation the cost model and the factor's precision see in A + αI: α plus what A's structure adds to every
 * eigenvalue (`structuralFloor`: the diagonal parts of a sum, K + D with per-point noise: min D) — taking its other
 * parts as positive semidefinite (kernels), as the rule for α alone does. Before, K + D planned as if unregularised: a
 * CG bound of n iterations and a float64 factor (n = 3,000, D = I: a 0.47 s factor where CG takes 55 iterations, 0.21 s).
 */
function regularisation(A: LinearOperator, alpha: number): number {
  return alpha + (structuralFloor(A) ?? 0);
}

/** The dense factor's precision: the option's, else that of a factor cached on A, else the κ̂ rule (see `factorDtype`). */
async function factorDtypeFor(
  A: LinearOperator, alpha: number, regular: number, columns: number, o: ParsedSolveOptions, estimate: Estimate | undefined,
  stored: StoredEntries | undefined,
): Promise<'float32' | 'float64'> {
  if (o.factorDtype === 'float32' || o.factorDtype === 'float64') return o.factorDtype;
  if (isCached(A, alpha, 'cholesky')) return 'float64';
  if (isCached(A, alpha, 'cholesky', { factorDtype: 'float32' })) return 'float32';
  if (!(regular > 0) || A.shape[0] < float32FactorMinN(columns)) return 'float64';
  return autoFactorDtype(A.shape[0], regular, estimate?.lambda ?? (await onesRayleighEstimate(stored?.entries ?? A)), columns);
}

/** The order from which 'auto' may factor in float32 for `columns` right-hand sides. */
function float32FactorMinN(columns: number): number {
  return Math.max(FLOAT32_FACTOR_MIN_N, FLOAT32_FACTOR_N_PER_COLUMN * columns);
}

/**
 * 'auto''s precision for a factor of A + αI (n×n, λ̂ = ‖A1‖/‖1‖) solving `columns` right-hand sides: float32 where it
 * pays and refines fast (see `factorDtype`).
 */
export function autoFactorDtype(n: number, alpha: number, lambda: number, columns = 1): 'float32' | 'float64' {
  const fast = (lambda / alpha + 1) * dtypeEps('float32') <= FLOAT32_FACTOR_MAX_KAPPA_EPS;
  return alpha > 0 && lambda > 0 && n >= float32FactorMinN(columns) && fast ? 'float32' : 'float64';
}

/** 'cholesky' or 'cg', and why: the option that fixes it, a factor already cached, or the cost comparison. */
async function chooseMethod(
  A: LinearOperator, alpha: number, regular: number, rtol: number, columns: number, o: ParsedSolveOptions, stored: StoredEntries | undefined,
): Promise<{ method: 'cholesky' | 'cg'; reason: string; estimate?: Estimate }> {
  const cgOnly = cgOnlyKey(o);
  if (o.method === 'cg' && o.factorDtype !== undefined && o.factorDtype !== 'auto') {
    throw new RangeError("solve: option 'factorDtype' is for the dense factor; method 'cg' does not use it");
  }
  if (o.method === 'cholesky') {
    if (cgOnly) throw new RangeError(`solve: option '${cgOnly}' is for CG; method 'cholesky' does not use it`);
    return { method: 'cholesky', reason: "method: 'cholesky'" };
  }
  if (o.method === 'cg') return { method: 'cg', reason: "method: 'cg'" };
  const choosing = cgOnlyKey(o, true);
  // a factor's precision asked for chooses the factor, as CG's options choose CG (it was ignored where CG was cheaper)
  const factorOnly = o.factorDtype !== undefined && o.factorDtype !== 'auto';
  if (choosing && factorOnly) {
    throw new RangeError(`solve: option 'factorDtype' is for the dense factor and '${choosing}' for CG; give method 'cholesky' or 'cg'`);
  }
  if (choosing) return { method: 'cg', reason: `option '${choosing}' is for CG` };
  if (factorOnly) return { method: 'cholesky', reason: "option 'factorDtype' is for the dense factor" };
  if (factorCached(A, alpha)) {
    return { method: 'cholesky', reason: 'a factor of A + αI is cached on A' };
  }
  if (stored === undefined) return opaqueMethod(A, regular, rtol, columns);
  const n = A.shape[0];
  // entries held by a twin on another device (a GPU kernel's CPU twin) are factored only where 'auto' would run CG
  // unpreconditioned: from AUTO_MIN_N points a GPU's preconditioned CG (device landmarks) keeps its products on the
  // device, while the factor's n³/3 multiply-adds grow on the CPU
  if (stored.twin && n >= AUTO_MIN_N) {
    return { method: 'cg', reason: `A's entries are stored only by its CPU twin: from ${AUTO_MIN_N} points preconditioned CG on A's own products` };
  }
  // on the operator holding the entries: it stores them at this first product (a GPU operator's CPU twin: no GPU)
  const lambda = await onesRayleighEstimate(stored.entries);
  const iterations = cgBound(n, lambda, regular, rtol);
  // from AUTO_MIN_N points 'auto' preconditions CG (where the bound is long): its measured cost, if lower
  const preconditioned = defaultPreconditionerChoice(A, alpha) !== 'none'
    ? PRECONDITIONED_CG_BUILD_PRODUCTS + columns * PRECONDITIONED_CG_PRODUCTS_PER_COLUMN : Infinity;
  // the float64 factor's cost, also where a float32 one is used (about half): the crossover stays where it was measured
  const estimate: Estimate = {
    lambda, iterations,
    cgProducts: Math.min(iterations * columns, preconditioned),
    choleskyProducts: (n / 3) * CHOLESKY_MADD_COST + columns * (FACTOR_SOLVE_PRODUCTS + 1),
  };
  const pays = estimate.choleskyProducts < estimate.cgProducts;
  const reason = `${pays ? 'factorisation' : 'CG'} cheaper: ≈ ${estimate.choleskyProducts.toFixed(0)} products' worth against ` +
    `${estimate.cgProducts.toFixed(0)} for CG (bound ${iterations.toFixed(0)} iterations × ${columns} columns${preconditioned < Infinity ? `, preconditioned ${preconditioned}` : ''})`;
  return { method: pays ? 'cholesky' : 'cg', reason, estimate };
}

/** CG's iteration bound for A + αI of n rows, λ̂ the estimate of λ_max and `regular` its least eigenvalue's floor: n without one. */
function cgBound(n: number, lambda: number, regular: number, rtol: number): number {
  return regular > 0 ? Math.min(n, cgIterationBound(lambda / regular + 1, Math.max(rtol, 1e-16))) : n;
}

/**
 * 'auto' for an A with no stored or structural dense form (a FunctionOperator, KᵀK, an operator from
 * `aslinearoperator({ matvec })`): up to MATERIALISE_BY_PRODUCTS_MAX_N rows, A is read by n products and factored
 * wherever CG's own bound needs at least as many products — always without α (no bound: n iterations) — as GPyTorch
 * evaluates an operator below `max_cholesky_size` and lineax's auto solver materialises one. Before, such an A went to
 * CG whatever its size: a 40×40 SPD operator of κ = 10⁹ stopped at 400 iterations with residual 0.33·‖b‖
 * (CgNoConvergence) where its factor solves to 1e-8. A kernel that refuses to store K (`denseCache: 'never'`, or K
 * over its budget) keeps CG: reading its entries by products would store them after all.
 */
async function opaqueMethod(A: LinearOperator, regular: number, rtol: number, columns: number): Promise<{ method: 'cholesky' | 'cg'; reason: string; estimate?: Estimate }> {
  const n = A.shape[0];
  const none = { method: 'cg' as const, reason: 'no stored dense form of A within its memory budget' };
  if (n > MATERIALISE_BY_PRODUCTS_MAX_N || kernelEntries(A)) return none;
  const lambda = regular > 0 ? await onesRayleighEstimate(A) : undefined;
  const iterations = lambda === undefined ? n : Math.ceil(cgBound(n, lambda, regular, rtol));
  if (iterations * columns < n) {
    return { method: 'cg', reason: `no stored dense form of A: CG's bound (${iterations} iterations × ${columns} columns) is below the ${n} products that would read A` };
  }
  return {
    method: 'cholesky',
    reason: `no stored dense form of A: read by ${n} products and factored (CG's bound: ${iterations} iterations × ${columns} columns${lambda === undefined ? ', no α to bound it' : ''})`,
  };
}

/**
 * Whether A is a kernel's shifts and scales, or one kernel plus diagonals: its entries are the kernel's, whose own policy
 * declined to store them (a composite such as KᵀK has entries of its own, read by its products).
 */
function kernelEntries(A: LinearOperator): boolean {
  const { core } = affineParts(A);
  return core instanceof KernelOperator || kernelPlusDiagonal(core) !== undefined;
}

/** CG's plan: the twin and its traits (made ready while the preconditioner builds), the preconditioner, its warm start. */
async function cgPlan(
  A: LinearOperator, rhs: Float64Array | Block, alpha: number, rtol: number, o: ParsedSolveOptions, reason: string, estimate?: Estimate,
  holds?: PreconditionerHolds, alternativeProducts?: number,
): Promise<SolvePlan> {
  const capabilities = A.solveCapabilities(alpha, rtol);
  capabilities.catch(() => undefined); // awaited below
  const single = rhs instanceof Float64Array;
  let M: LinearOperator | undefined;
  let preconditioner: SolvePlan['preconditioner'];
  refuseConflictingPreconditioners(o);
  if (o.M !== undefined || o.preconditioner instanceof LinearOperator) {
    M = (o.M ?? o.preconditioner) as LinearOperator;
    preconditioner = 'given';
  } else {
    const choice = o.preconditioner ?? 'auto';
    // a vector b goes to the build: adaptive landmarks run their κ-estimate steps on it (warm start below)
    const options = { ...o.preconditionerOptions, ...(single ? { rhs } : {}), ...(alternativeProducts ? { alternativeProducts } : {}) };
    M = await A.preconditioner(alpha, choice, options, holds);
    preconditioner = M === undefined ? 'none' : choice === 'auto' ? defaultPreconditionerChoice(A, alpha) : choice;
  }
  const warm = M && single && o.M === undefined && o.x0 === undefined ? warmStartFor(M, rhs) : undefined;
  const caps = await capabilities;
  const twin = caps.operator !== A;
  const refining = twin && alpha > 0 && single && o.refine !== false && o.resume === undefined && warm?.state === undefined
    && (o.refine === true || caps.refine);
  const relaxed = !refining && o.relaxed === undefined && alpha > 0 ? caps.relaxed : undefined;
  if (!refining) {
    // the refinement's own settings, given where no refinement runs, would be ignored (onOuter, an observer of its
    // steps, is not one: it is called for each step there is — here only those on the exact entries of a float32
    // solve, `checkFloat32Entries` — as onProgress is)
    const unused = (['innerRtol', 'maxOuter'] as const).find((k) => o[k] !== undefined) ?? (o.refine === true ? 'refine' : undefined);
    if (unused) {
      throw new RangeError(`solve: option '${unused}' is for the refinement on a more accurate operator, and none runs here ` +
        `(${!twin ? `${A} has no more accurate twin: refinement is for float32 or GPU kernels` : 'it needs α > 0, one right-hand side and no resume or warm start'})`);
    }
  }
  return {
    method: refining ? 'refined-cg' : 'cg', reason, operator: caps.operator, twin, preconditioner,
    ...(M ? { M } : {}), ...(warm ? { warmStart: warm } : {}), ...(relaxed ? { relaxed } : {}),
    trusted: caps.exact && o.verify === undefined, ...(estimate ? { estimate } : {}),
  };
}

/**
 * Refuses preconditioner options that name two preconditioners, or options for one solve would build beside one given
 * or none at all: each was accepted and one side ignored (M over a named preconditioner, the options of a build that
 * never happens).
 */
function refuseConflictingPreconditioners(o: ParsedSolveOptions): void {
  const given = o.M !== undefined ? "'M'" : o.preconditioner instanceof LinearOperator ? "preconditioner (a LinearOperator)" : undefined;
  if (o.M !== undefined && o.preconditioner !== undefined && o.preconditioner !== 'auto') {
    throw new RangeError(`solve: options 'M' and 'preconditioner' both name the preconditioner; give one`);
  }
  if (o.preconditionerOptions !== undefined && given) {
    throw new RangeError(`solve: option 'preconditionerOptions' is for a preconditioner solve builds, and ${given} is given`);
  }
  if (o.preconditionerOptions !== undefined && o.preconditioner === 'none') {
    throw new RangeError("solve: option 'preconditionerOptions' takes no part with preconditioner 'none'");
  }
}

type AnyCgResult = CgResult<Float64Array | Matrix, number[] | number[][]>;

/** cg (or refinedCg) as planned; a preconditioner whose definiteness rests on a measured margin is stiffened and CG goes on. */
async function solveByCg(A: LinearOperator, rhs: Float64Array | Block, alpha: number, plan: SolvePlan, o: ParsedSolveOptions): Promise<AnyCgResult> {
  const b = rhs instanceof Block ? rhs.toMatrix() : rhs;
  const krylov = await loadKrylovModule();
  const given = definedEntries(o, NOT_CG_KEYS);
  const options: Record<string, unknown> = { ...given, ...(plan.M ? { M: plan.M } : {}) };
  if (plan.warmStart) {
    options['x0'] = plan.warmStart.x;
    if (plan.warmStart.state) options['resume'] = plan.warmStart.state;
  }
  const op = plan.operator;
  const run = async (opts: Record<string, unknown>): Promise<AnyCgResult> => {
    if (plan.method === 'refined-cg' && krylov.refinedCg) {
      const { relaxed: _r, resume: _s, ...rest } = opts;
      const refineKeys = definedEntries({ innerRtol: o.innerRtol, maxOuter: o.maxOuter, onOuter: o.onOuter }, []);
      return (await krylov.refinedCg(op.shift(alpha), b as Float64Array, { ...rest, ...refineKeys, inner: A.shift(alpha) })) as AnyCgResult;
    }
    const extra = plan.relaxed ? { relaxed: { A: plan.relaxed.operator.shift(alpha), below: plan.relaxed.below } } : plan.trusted ? { verify: false } : {};
    return (await krylov.cg(alpha ? op.shift(alpha) : op, b, { ...extra, ...opts })) as AnyCgResult;
  };
  let result = await run(options);
  const M = plan.M as { stiffen?: () => Promise<void> } | undefined;
  for (let retry = 0; retry < 2 && result.breakdown === 'preconditioner' && typeof M?.stiffen === 'function'; retry++) {
    await M.stiffen();
    const { resume: _resume, ...rest } = options;
    result = await run({ ...rest, x0: result.x });
  }
  return result;
}

/**
 * x = F⁻¹ b by the factor, then iterative refinement (x += F⁻¹(b − (A + αI)x)) on the products of the plan's operator
 * — A, or the twin holding the factored entries (`storedEntries`) — until every column meets max(rtol·‖b‖, atol) —
 * the factor's rounding (κ·ε) can leave it short; past FACTOR_REFINEMENT_STEPS,
 * CG preconditioned by the factor finishes from there. A float32 factor refines further, to what a float64 factor
 * gives (until the residual stops shrinking fast, or reaches n·ε₆₄·‖b‖); one that stalls short of the tolerance is
 * replaced by a float64 factor. The residuals reported are true ones.
 */
async function solveByFactor(
  A: LinearOperator, rhs: Float64Array | Block, alpha: number, plan: SolvePlan, o: ParsedSolveOptions, holds?: PreconditionerHolds,
): Promise<AnyCgResult> {
  const F = plan.M!;
  const mixed = F instanceof CholeskyFactorPreconditioner && F.factorDtype === 'float32';
  const B = rhs instanceof Float64Array ? [rhs] : rhs.columns();
  const n = A.shape[0];
  const shifted = alpha ? plan.operator.shift(alpha) : plan.operator;
  const bNorms = B.map(norm);
  const tol = bNorms.map((nb) => Math.max((o.rtol ?? 1e-5) * nb, o.atol ?? 0));
  const floor = bNorms.map((nb) => n * Number.EPSILON * nb);
  const history: number[][] = bNorms.map((nb) => [nb]);
  const started = now();
  const X = await applyColumns(F, B);
  const maxSteps = mixed ? FLOAT32_REFINEMENT_STEPS : FACTOR_REFINEMENT_STEPS;
  let matvecs = 0;
  let steps = 0;
  let open: number[] = B.map((_, j) => j);
  // a float32 factor's refinement pays while each step still shrinks the residual fourfold
  const shrinkingFast = (h: readonly number[]) => h.length <= 2 || h.at(-1)! < h.at(-2)! / 4;
  for (;;) {
    const AX = await applyColumns(shifted, open.map((j) => X[j]!));
    matvecs += open.length;
    // plain loops: a fresh process runs these once or twice, in V8's interpreter, where a callback per entry costs
    const R = new Map(open.map((j, i) => [j, difference(B[j]!, AX[i]!)]));
    for (const [j, r] of R) history[j]!.push(norm(r));
    const onProgress = o.onProgress as ((p: IterationProgress) => void) | undefined;
    if (onProgress) {
      // each refinement step as an iteration: the true residuals of every column (its latest, for those already met)
      const latest = history.map((h) => h.at(-1)!);
      await settleCallback(onProgress({ iteration: steps, residualNorm: Math.max(...latest), ...(B.length > 1 ? { residualNorms: latest } : {}), elapsedMs: now() - started }));
    }
    open = open.filter((j) => {
      const h = history[j]!;
      const r = h.at(-1)!;
      if (!(r <= tol[j]!)) return true;
      // a float32 factor's x is refined on while the residual still shrinks fast (it lags a float64 factor's till then)
      return mixed && r > floor[j]! && shrinkingFast(h);
    });
    const short = open.filter((j) => !(history[j]!.at(-1)! <= tol[j]!));
    if (short.length === 0 && (open.length === 0 || steps === maxSteps)) return factorResult(X, history, steps, matvecs, rhs, n);
    if (steps === maxSteps || (mixed && short.some((j) => !shrinkingFast(history[j]!)))) break;
    const D = await applyColumns(F, open.map((j) => R.get(j)!));
    open.forEach((j, i) => axpy(1, D[i]!, X[j]!));
    steps++;
  }
  if (mixed) {
    // the float32 factor's refinement stalled short of rtol: the float64 factor, as 'auto' would have taken
    const exact = (await preconditionerFor(A, alpha, 'cholesky', {}, holds)) as LinearOperator;
    const reason = `${plan.reason}; the float32 factor's refinement stalled at ${Math.max(...history.map((h) => h.at(-1)! / h[0]!)).toExponential(1)}: float64 factor`;
    const replanned: SolvePlan = { ...plan, M: exact, reason };
    return Object.assign(await solveByFactor(A, rhs, alpha, replanned, o, holds), { plan: replanned });
  }
  // the factor's accuracy does not reach rtol on A's products: CG preconditioned by it, from the refined x
  const x0 = rhs instanceof Float64Array ? X[0]! : Block.fromColumns(X, n).toMatrix();
  const cgPlanned: SolvePlan = { ...plan, method: 'cg', reason: `${plan.reason}; refinement stalled, CG preconditioned by the factor` };
  return solveByCg(A, rhs, alpha, cgPlanned, { ...o, x0 });
}

function difference(a: Float64Array, b: Float64Array): Float64Array {
  const d = new Float64Array(a.length);
  for (let t = 0; t < a.length; t++) d[t] = a[t]! - b[t]!;
  return d;
}

function factorResult(X: Float64Array[], history: number[][], steps: number, matvecs: number, rhs: Float64Array | Block, n: number): AnyCgResult {
  const block = !(rhs instanceof Float64Array);
  return {
    x: block ? Block.fromColumns(X, n).toMatrix() : X[0]!, info: 0, iterations: steps,
    residualNorms: block ? history : history[0]!, matvecs,
    ...(block ? { columnInfo: X.map(() => 0), columnIterations: X.map(() => steps) } : {}),
  };
}

function definedEntries(o: Record<string, unknown>, drop: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && !drop.includes(k)));
}

// ---------------------------------------------------------------- (A + shift·I)⁻¹ for eigsh's shift-invert mode

/** How (A − σI)⁻¹ is applied: 'auto' (a dense factor where it fits, else minres), 'dense', or inner 'cg' / 'minres'. */
export type ShiftedInverseMethod = 'auto' | 'dense' | 'cg' | 'minres';

/** Operators with no stored or structural dense form are read by products (n of them) only up to this order under 'auto'. */
export const MATERIALISE_BY_PRODUCTS_MAX_N = 1024;

/** A dense form and its factor not stored by the operator itself keep about this many n×n float64 arrays alive at the peak. */
const DENSE_FACTOR_COPIES = 3;

/** What `planShiftedInverse` decided: a dense factor (built), or the inner iterative solver to use. */
export type ShiftedInversePlan =
  | { readonly method: 'cholesky' | 'lu'; readonly reason: string; readonly factor: DenseShiftedFactor }
  | { readonly method: 'cg' | 'minres'; readonly reason: string }
  | { readonly method: 'singular'; readonly reason: string };

/**
 * How eigsh applies (A + shift·I)⁻¹ (shift = −σ) at every Lanczos step: a dense factor — Cholesky where A + shift·I is
 * positive definite, else LU — where A's entries are stored (`denseSource`, within its budget) or its dense form and
 * factor fit `defaultDenseCacheBytes()`, as scipy factors a dense A; else inner iterative solves ('minres': A + shift·I
 * may be indefinite). The factor pays at once: the Lanczos run applies the inverse tens to hundreds of times, each an
 * inner solve to the outer tolerance. 'singular': an LU pivot is exactly zero (σ an eigenvalue).
 */
export async function planShiftedInverse(A: LinearOperator, shift: number, method: ShiftedInverseMethod): Promise<ShiftedInversePlan> {
  const n = A.shape[0];
  if (method === 'cg' || method === 'minres') return { method, reason: `sigmaSolver: '${method}'` };
  const stored = hasStoredEntries(A);
  const fits = stored || n * n * 8 * DENSE_FACTOR_COPIES <= defaultDenseCacheBytes();
  if (method === 'auto' && !fits) {
    return { method: 'minres', reason: `a dense ${n}x${n} factor does not fit the dense budget (${defaultDenseCacheBytes()} bytes)` };
  }
  A.expectRepeatedProducts(); // a KernelOperator stores K now: its rows are the factor's entries
  const factor = await factorShifted(A, shift, { allowProducts: method === 'dense' || n <= MATERIALISE_BY_PRODUCTS_MAX_N, fn: 'eigsh' });
  if (factor === undefined) {
    if (method === 'dense') throw new RangeError(`eigsh: sigmaSolver 'dense' could not materialise ${A}`);
    return { method: 'minres', reason: `${A} has no dense form to read below ${MATERIALISE_BY_PRODUCTS_MAX_N + 1} rows` };
  }
  if ('singular' in factor) return { method: 'singular', reason: factor.singular };
  const why = factor.kind === 'lu' ? 'indefinite: LU with partial pivoting' : factor.negated ? 'negative definite: Cholesky of its negation' : 'positive definite';
  return { method: factor.kind, reason: `dense factor of A + ${shift}·I from ${factor.source} entries (${why})`, factor };
}

// ---------------------------------------------------------------- what CG cannot do

/**
 * Refuses what CG cannot solve: a non-symmetric operator (by its structure, else probed once: see symmetry.ts), and an α for which a
 * diagonal entry of A + αI is ≤ 0 (then it is not positive definite) where the diagonal is known.
 */
export async function assertSolvable(A: LinearOperator, alpha: number): Promise<void> {
  await requireSymmetric(A, 'solve', 'CG and Cholesky solve symmetric positive definite systems only — a kernel with y ≠ x is rectangular in meaning (use least squares on it)');
  if (alpha >= 0) return;
  const d = await A.diagonal().catch(() => undefined);
  if (!d) return;
  let i = 0;
  for (let t = 1; t < d.length; t++) if (d[t]! < d[i]!) i = t;
  if (d.length > 0 && !(d[i]! + alpha > 0)) {
    throw new RangeError(
      `solve: A + αI is not positive definite for α = ${alpha}: its diagonal entry ${i} is ${d[i]} + (${alpha}) ≤ 0; ` +
        'CG and Cholesky need a symmetric positive definite A + αI',
    );
  }
}
