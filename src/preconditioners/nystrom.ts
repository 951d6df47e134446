/**
 * Randomized Nyström preconditioner (Frangella, Tropp & Udell, "Randomized Nyström
 * preconditioning", SIMAX 2023, Algorithms 2.1 and 5.1), and the dispatch of
 * `nystromPreconditioner` to it or to the landmark (Falkon-style) variant.
 *
 * Build, for a test matrix Ω (n×ℓ, orthonormal: seeded Gaussian, then CholeskyQR):
 *   Y = AΩ                         one multi-column product (matmat)
 *   ν = √n · eps(‖Y‖_F)             stabilising shift (Frobenius ≥ spectral: a slightly larger, safe ν)
 *   Y_ν = Y + νΩ                   the sketch of A + νI
 *   C = chol(Ωᵀ Y_ν) (upper), B = Y_ν C⁻¹   so that B Bᵀ = Y_ν (ΩᵀY_ν)⁻¹ Y_νᵀ
 *   B = U Σ Vᵀ (thin SVD), λ̂ = max(0, Σ² − ν)  →  Â = U Λ̂ Uᵀ ≈ A
 * and the preconditioner, with μ the shift of the system (A + μI) x = b:
 *   P⁻¹ = (λ̂_ℓ + μ) U (Λ̂ + μI)⁻¹ Uᵀ + (I − U Uᵀ).
 *
 * The SVD of B comes from the eigendecomposition of the small Gram matrix BᵀB = V Σ² Vᵀ. Its
 * condition number is at most ‖A‖/ν ≤ 1/(√n·eps), so even its smallest eigenvalues (≈ ν) keep a
 * relative accuracy ~1/√n; U = B V Σ⁻¹ is never formed: P⁻¹ = I + B H Bᵀ with the ℓ×ℓ
 *   H = V diag((d_i − 1) / σ_i²) Vᵀ,   d_i = (λ̂_ℓ + μ) / (λ̂_i + μ),
 * which costs the same two n×ℓ passes per application and saves an O(nℓ²) product in the build.
 * Where U is least accurate (σ_i² ≈ ν, λ̂_i ≈ 0) the weight d_i − 1 = (λ̂_ℓ − λ̂_i)/(λ̂_i + μ) is
 * at most λ̂_ℓ/μ and the same for all such directions, so the error stays harmless.
 */
import { EVD, Matrix } from 'ml-matrix';
import { mulberry32 } from '../krylov/random.js';
import { matmatBlock, type LinearOperator } from '../operators/linear-operator.js';
import { IdentityOperator } from '../operators/dense.js';
import {
  blockFromTall,
  choleskyUpper,
  columnOf,
  concatColumns,
  cross,
  crossVector,
  fillGaussian,
  frobenius,
  gram,
  mulSmall,
  mulVector,
  orthonormalize,
  rightSolveUpper,
  tall,
  tallFromBlock,
  toMatrix,
  type Tall,
} from './dense.js';
import {
  Preconditioner,
  assertFiniteBlock,
  describeOperand,
  rademacher,
  rankBelow,
  refuseInapplicable,
  rhsField,
  seedField,
  shiftField,
  assertSymmetricOperator,
  squareOperator,
  type OperatorLike,
} from './common.js';
import { LANDMARK_SPEC, landmarkPreconditioner, type LandmarkOptions, type LandmarkPreconditioner } from './landmarks.js';
import {
  nested, nonNegativeNumber, oneOf, optional, parseOptions, positiveNumber, union, withDefault, type ParsedOptions,
} from '../operators/options.js';
import { adaptiveLandmarkPreconditioner } from './landmarks-auto.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import {
  DEFAULT_NYSTROM_TOLERANCE, defaultMaxRank, nystromNextStep, orthonormalizationPasses, spectrumTrend, stageCosts, stopDecision,
  type NystromCostModel, type NystromDecision,
} from './nystrom-cost.js';

export type NystromMethod = 'randomized' | 'landmarks';

export interface NystromOptions extends LandmarkOptions {
  /**
   * Sketch size ℓ (1 ≤ ℓ < n; the number of landmarks m for method 'landmarks'), or 'auto' (default): see
   * `initialRank`, `maxRank`, `tolerance`. With explicit landmark indices, their count.
   */
  rank?: number | 'auto';
  /** μ > 0: the preconditioner approximates (A + μI)⁻¹. */
  shift: number;
  /** Seed of the test matrix Ω, or of the uniform landmark choice (default 0). */
  seed?: number;
  /** 'randomized' (default): Gaussian sketch; 'landmarks': K_nm K_mm⁻¹ K_mn on m points (kernel operators only). */
  method?: NystromMethod;
  /** rank 'auto': first sketch size (default min(64, maxRank)). */
  initialRank?: number;
  /** rank 'auto': largest sketch size (default `defaultMaxRank(n)`). */
  maxRank?: number;
  /**
   * rank 'auto': stop growing once λ̂_ℓ ≤ tolerance · μ (default 10). Given explicitly, it is
   * the only stopping rule (besides maxRank) unless `stopping: 'cost'` is also given.
   */
  tolerance?: number;
  /**
   * rank 'auto': 'cost' (default unless `tolerance` is given) grows ℓ (by 1.5× or 2×, whichever is
   * predicted cheaper) only while the step is expected to pay for itself in CG time (see
   * `randomizedNystrom`), and also stops at the tolerance; 'tolerance' doubles until
   * λ̂_ℓ ≤ tolerance·μ or maxRank.
   */
  stopping?: 'cost' | 'tolerance';
  /** rank 'auto', stopping 'cost': fixed cost estimates instead of measured ones. */
  costModel?: NystromCostModel;
  /** method 'landmarks', rank 'auto': the solve's right-hand side (see AdaptiveLandmarkOptions.rhs); ignored otherwise. */
  rhs?: Float64Array;
  /** method 'landmarks', rank 'auto': the cost of the solve's alternative to CG (see AdaptiveLandmarkOptions.alternativeProducts). */
  alternativeProducts?: number;
}

/** NystromCostModel, checked by `parseOptions` (a nested object: "costModel.productMs must be …"). */
const COST_MODEL_SPEC = {
  sketchMsPerColumn: optional(nonNegativeNumber),
  productMs: optional(nonNegativeNumber),
  hostMsPerMultiplyAdd: optional(nonNegativeNumber),
  eigenMsPerCube: optional(nonNegativeNumber),
  iterationsPerSqrtKappa: optional(positiveNumber),
};

/** NystromOptions, checked by `parseOptions`, for an n×n A. */
function nystromSpec(n: number) {
  return {
    ...LANDMARK_SPEC,
    rank: withDefault(union(oneOf('auto'), rankBelow(n)), 'auto'),
    shift: shiftField,
    seed: seedField,
    method: withDefault(oneOf('randomized', 'landmarks'), 'randomized'),
    initialRank: optional(rankBelow(n)),
    maxRank: optional(rankBelow(n)),
    tolerance: optional(positiveNumber),
    stopping: optional(oneOf('cost', 'tolerance')),
    costModel: optional(nested(COST_MODEL_SPEC)),
    rhs: optional(rhsField(n)),
    alternativeProducts: optional(positiveNumber),
  } satisfies Record<keyof NystromOptions, unknown>;
}

/** Options only some variants read: given to another, they are refused (never ignored). */
const LANDMARK_ONLY = ['landmarks', 'factor', 'maxStoredBytes', 'alternativeProducts'] as const;
const AUTO_ONLY = ['initialRank', 'maxRank', 'tolerance', 'stopping', 'costModel', 'alternativeProducts'] as const;
const RANDOMIZED_AUTO_ONLY = ['tolerance', 'stopping', 'costModel'] as const;

/**
 * The checked options of a Nyström build on an n×n A: types and ranges by the spec, and no option the chosen
 * variant would ignore (landmark choices for 'randomized', rank-'auto' bounds for a fixed rank, the randomized
 * stopping rule for 'landmarks'). Explicit landmark indices without a rank give it.
 */
function parseNystromOptions(fn: string, n: number, options: unknown): ParsedOptions<ReturnType<typeof nystromSpec>> {
  const o = parseOptions(fn, options, nystromSpec(n));
  const given = (options ?? {}) as Record<string, unknown>;
  const explicit = typeof o.landmarks !== 'string';
  if (explicit && given['rank'] === undefined) o.rank = o.landmarks.length;
  if (o.rank !== 'auto') refuseInapplicable(fn, given, AUTO_ONLY, "rank 'auto'");
  if (o.method === 'randomized') refuseInapplicable(fn, given, LANDMARK_ONLY, "method 'landmarks'");
  else refuseInapplicable(fn, given, RANDOMIZED_AUTO_ONLY, "method 'randomized'");
  return o;
}

/** One stage of the sketch (rank 'auto' grows ℓ stage by stage; a fixed rank has one stage). */
export interface NystromStage {
  rank: number;
  /** λ̂_ℓ, the smallest eigenvalue of the approximation at this stage. */
  smallestEigenvalue: number;
  ms: number;
  /** Milliseconds of this stage's matmat (the new sketch columns). */
  sketchMs: number;
  /** Milliseconds of the ℓ×ℓ eigendecomposition (and of H). */
  eigenMs: number;
  /** rank 'auto' with the cost rule: the decision taken after this stage (absent on the last stage of a fixed rank). */
  decision?: NystromDecision;
}

export class NystromPreconditioner extends Preconditioner {
  readonly method = 'randomized' as const;
  /** ℓ, the sketch size. */
  readonly rank: number;
  /** λ̂₁ ≥ … ≥ λ̂_ℓ ≥ 0, the eigenvalues of Â = U Λ̂ Uᵀ ≈ A. */
  readonly eigenvalues: Float64Array;
  /** The stabilising shift ν. */
  readonly nu: number;
  readonly stages: readonly NystromStage[];
  /** Columns of A·Ω computed (the sketch's product count, in vectors). */
  readonly sketchColumns: number;
  private readonly B: Tall;
  private readonly V: Float64Array; // ℓ×ℓ, column t ↔ eigenvalues[t]
  private readonly sigma2: Float64Array; // σ_t², aligned with eigenvalues
  private readonly H: Float64Array;

  constructor(core: Core, shift: number, stages: NystromStage[], sketchColumns: number) {
    super(core.B.rows, shift);
    const l = core.B.cols;
    this.rank = l;
    this.B = core.B;
    this.V = core.V;
    this.sigma2 = core.sigma2;
    this.eigenvalues = core.lambda;
    this.nu = core.nu;
    this.stages = Object.freeze(stages);
    this.sketchColumns = sketchColumns;
    // H = V diag((d_t − 1)/σ_t²) Vᵀ with d_t = (λ̂_ℓ + μ)/(λ̂_t + μ).
    const lmin = core.lambda[l - 1]!;
    const w = new Float64Array(l);
    for (let t = 0; t < l; t++) {
      const s = core.sigma2[t]!;
      w[t] = s > 0 ? ((lmin + shift) / (core.lambda[t]! + shift) - 1) / s : 0;
    }
    const H = new Float64Array(l * l);
    for (let a = 0; a < l; a++) {
      for (let b = a; b < l; b++) {
        let s = 0;
        for (let t = 0; t < l; t++) s += core.V[a * l + t]! * w[t]! * core.V[b * l + t]!;
        H[a * l + b] = s;
        H[b * l + a] = s;
      }
    }
    this.H = H;
  }

  protected override async applyBlock(X: Tall): Promise<Tall> {
    const k = X.cols;
    if (k === 1) {
      // The CG path: P⁻¹x = x + B·(H·(Bᵀx)) as two tight n×ℓ passes (crossVector, then one dot
      // product per row) and an ℓ² product in between.
      const l = this.rank;
      const t = crossVector(this.B, X.data);
      const h = new Float64Array(l);
      const H = this.H;
      for (let a = 0; a < l; a++) {
        let s = 0;
        const ha = a * l;
        for (let b = 0; b < l; b++) s += H[ha + b]! * t[b]!;
        h[a] = s;
      }
      const out = mulVector(this.B, h);
      const x = X.data;
      for (let i = 0; i < out.length; i++) out[i]! += x[i]!;
      return tall(X.rows, 1, out);
    }
    const T = cross(this.B, X); // ℓ×k
    const HT = mulSmall(tall(this.rank, this.rank, this.H), T, k);
    const out = mulSmall(this.B, HT.data, k).data;
    for (let t = 0; t < out.length; t++) out[t]! += X.data[t]!;
    return tall(X.rows, k, out);
  }

  /** log det P = Σ_t log((λ̂_t + μ)/(λ̂_ℓ + μ)): P = I + U diag(1/d_t − 1) Uᵀ has eigenvalues 1/d_t on U and 1 beside it. */
  override logdet(): number {
    const l = this.rank;
    const floor = this.eigenvalues[l - 1]! + this.mu;
    let s = 0;
    for (let t = 0; t < l; t++) if (this.sigma2[t]! > 0) s += Math.log((this.eigenvalues[t]! + this.mu) / floor);
    return s;
  }

  /**
   * tr(P⁻¹D) = tr D + tr(H BᵀD B) (P⁻¹ = I + B H Bᵀ): for D = I from BᵀB's eigenvalues σ_t², Σ_t d_t + (n − ℓ);
   * for another D from one product of D with B (ℓ columns), only when `products`.
   */
  override async traceInverseProduct(D?: LinearOperator, products = false): Promise<number | undefined> {
    const l = this.rank;
    if (D === undefined || D instanceof IdentityOperator) {
      const floor = this.eigenvalues[l - 1]! + this.mu;
      let t = this.shape[0];
      for (let s = 0; s < l; s++) if (this.sigma2[s]! > 0) t += floor / (this.eigenvalues[s]! + this.mu) - 1;
      return t;
    }
    if (!products) return undefined;
    const trD = (await D.diagonal()).reduce((a, v) => a + v, 0);
    const BDB = cross(this.B, tallFromBlock(await matmatBlock(D, blockFromTall(this.B))));
    let t = 0;
    for (let a = 0; a < l; a++) for (let b = 0; b < l; b++) t += this.H[a * l + b]! * BDB[b * l + a]!;
    return trD + t;
  }

  /** z = P^{1/2} ε = ε + U diag(1/√d_t − 1) Uᵀ ε, ε Rademacher, applied as ε + B H' Bᵀ ε like P⁻¹ (U = B V Σ⁻¹). */
  override sampleProbes(k: number, rng: () => number): Tall {
    const l = this.rank;
    const floor = this.eigenvalues[l - 1]! + this.mu;
    const w = new Float64Array(l);
    for (let t = 0; t < l; t++) {
      const s = this.sigma2[t]!;
      w[t] = s > 0 ? (Math.sqrt((this.eigenvalues[t]! + this.mu) / floor) - 1) / s : 0;
    }
    const H = new Float64Array(l * l);
    for (let a = 0; a < l; a++) {
      for (let b = 0; b < l; b++) {
        let s = 0;
        for (let t = 0; t < l; t++) s += this.V[a * l + t]! * w[t]! * this.V[b * l + t]!;
        H[a * l + b] = s;
      }
    }
    const E = rademacher(this.shape[0], k, rng);
    const HT = mulSmall(tall(l, l, H), cross(this.B, E), k);
    const out = mulSmall(this.B, HT.data, k);
    for (let t = 0; t < out.data.length; t++) out.data[t]! += E.data[t]!;
    return out;
  }

  /** U (n×ℓ, orthonormal columns aligned with `eigenvalues`), formed on request: O(nℓ²). */
  basis(): Matrix {
    const l = this.rank;
    const W = new Float64Array(l * l);
    for (let a = 0; a < l; a++) {
      for (let t = 0; t < l; t++) {
        const s = this.sigma2[t]!;
        W[a * l + t] = s > 0 ? this.V[a * l + t]! / Math.sqrt(s) : 0;
      }
    }
    return toMatrix(mulSmall(this.B, W, l));
  }

  protected override describe(): string {
    return `NystromPreconditioner(randomized, rank=${this.rank}, shift=${this.mu}, λ̂_ℓ=${this.eigenvalues[this.rank - 1]!.toPrecision(3)})`;
  }
}

interface Core {
  B: Tall;
  V: Float64Array;
  sigma2: Float64Array;
  lambda: Float64Array;
  nu: number;
}

/** B = Y_ν C⁻¹ with CᵀC = ΩᵀY_ν (C upper), G = BᵀB, and the shift ν they were made with. */
interface Factored {
  B: Tall;
  C: Float64Array;
  G: Float64Array;
  nu: number;
}

/** eps(x): the spacing of doubles at x (MATLAB's eps(x)). */
function epsAt(x: number): number {
  return x > 0 ? 2 ** (Math.floor(Math.log2(x)) - 52) : 2 ** -1074;
}

/** From the sketch (Ω, Y = AΩ, M = ΩᵀY) to B = Y_ν C⁻¹ and G = BᵀB, from scratch. */
function factorFull(Omega: Tall, Y: Tall, M: Float64Array, nuIn: number, fn: string): Factored {
  const l = Omega.cols;
  let nu = nuIn;
  // Ωᵀ Y_ν = ΩᵀY + νI exactly because Ω is orthonormal. A failed Cholesky means ΩᵀAΩ has a
  // negative eigenvalue beyond round-off: retry with a larger ν a few times, then report A indefinite.
  let C: Float64Array | undefined;
  for (let attempt = 0; attempt < 6 && !C; attempt++) {
    if (attempt > 0) nu *= 100;
    const Mn = Float64Array.from(M);
    for (let t = 0; t < l; t++) Mn[t * l + t]! += nu;
    C = choleskyUpper(Mn, l);
  }
  if (!C) {
    throw new Error(`${fn}: Ωᵀ(A + νI)Ω is not positive definite even with ν = ${nu.toExponential(2)}: A must be symmetric positive semidefinite`);
  }
  const Yn = new Float64Array(Y.data.length);
  for (let t = 0; t < Yn.length; t++) Yn[t] = Y.data[t]! + nu * Omega.data[t]!;
  const B = rightSolveUpper(tall(Y.rows, l, Yn), C);
  return { B, C, G: gram(B), nu };
}

/**
 * The same factorisation after k new sketch columns, reusing the previous stage's (same ν): the
 * Cholesky factor of the grown ΩᵀY_ν is block upper triangular with the old C as its leading
 * block, so the old columns of B and the old block of G stay as they are:
 *   C₁₂ = C₁₁⁻ᵀ M₁₂,  C₂₂ᵀC₂₂ = M₂₂ + νI − C₁₂ᵀC₁₂,  B₂ = (Y_ν,new − B₁C₁₂) C₂₂⁻¹,
 *   G₁₂ = B₁ᵀB₂,  G₂₂ = B₂ᵀB₂.
 * Host work 2n·ℓ_old·k + n·k² instead of the n·ℓ² of a fresh B and G (3/4 of it at a doubling).
 * Undefined when the Schur complement is not numerically positive definite (the caller then
 * starts afresh with a larger ν).
 */
function factorExtend(prev: Factored, Ynew: Tall, Gnew: Tall, M: Float64Array): Factored | undefined {
  const { B: B1, C: C11, G: G11, nu } = prev;
  const lOld = B1.cols;
  const k = Ynew.cols;
  const l = lOld + k;
  const n = B1.rows;
  // C₁₂ by forward substitution with C₁₁ᵀ, right-looking over contiguous rows of C₁₂.
  const C12 = new Float64Array(lOld * k);
  for (let a = 0; a < lOld; a++) C12.set(M.subarray(a * l + lOld, (a + 1) * l), a * k);
  for (let i = 0; i < lOld; i++) {
    const d = C11[i * lOld + i]!;
    const ri = i * k;
    for (let c = 0; c < k; c++) C12[ri + c]! /= d;
    for (let j = i + 1; j < lOld; j++) {
      const f = C11[i * lOld + j]!;
      if (f === 0) continue;
      const rj = j * k;
      for (let c = 0; c < k; c++) C12[rj + c]! -= f * C12[ri + c]!;
    }
  }
  const S = gram(tall(lOld, k, C12));
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) S[a * k + b] = M[(lOld + a) * l + lOld + b]! + (a === b ? nu : 0) - S[a * k + b]!;
  }
  const C22 = choleskyUpper(S, k);
  if (!C22) return undefined;
  const W = mulSmall(B1, C12, k);
  const w = W.data;
  for (let t = 0; t < w.length; t++) w[t] = Ynew.data[t]! + nu * Gnew.data[t]! - w[t]!;
  const B2 = rightSolveUpper(W, C22);
  const G12 = cross(B1, B2);
  const G22 = gram(B2);
  const C = new Float64Array(l * l);
  const G = new Float64Array(l * l);
  for (let a = 0; a < lOld; a++) {
    C.set(C11.subarray(a * lOld, (a + 1) * lOld), a * l);
    C.set(C12.subarray(a * k, (a + 1) * k), a * l + lOld);
    G.set(G11.subarray(a * lOld, (a + 1) * lOld), a * l);
    G.set(G12.subarray(a * k, (a + 1) * k), a * l + lOld);
    for (let c = 0; c < k; c++) G[(lOld + c) * l + a] = G12[a * k + c]!;
  }
  for (let a = 0; a < k; a++) {
    C.set(C22.subarray(a * k, (a + 1) * k), (lOld + a) * l + lOld);
    G.set(G22.subarray(a * k, (a + 1) * k), (lOld + a) * l + lOld);
  }
  return { B: concatColumns(B1, B2), C, G, nu };
}

/** The eigenpairs of G = BᵀB (descending) and λ̂ = max(0, σ² − ν). */
function eigenCore(f: Factored): Core {
  const l = f.B.cols;
  const G = f.G;
  // ml-matrix's EVD (tred2/tql2 on transposed storage) measured 5.4 s at ℓ = 1024 against 12.9 s
  // for symmetricEigen (src/krylov/tridiagonal.ts, whose QL rotates row-major columns): kept.
  const evd = new EVD(new Matrix(Array.from({ length: l }, (_, a) => Array.from(G.subarray(a * l, (a + 1) * l)))), { assumeSymmetric: true });
  const s = evd.realEigenvalues;
  const Vm = evd.eigenvectorMatrix;
  const order = Array.from({ length: l }, (_, t) => t).sort((a, b) => s[b]! - s[a]!);
  const V = new Float64Array(l * l);
  const sigma2 = new Float64Array(l);
  const lambda = new Float64Array(l);
  order.forEach((src, t) => {
    sigma2[t] = s[src]!;
    lambda[t] = Math.max(0, s[src]! - f.nu);
    for (let a = 0; a < l; a++) V[a * l + t] = Vm.get(a, src);
  });
  return { B: f.B, V, sigma2, lambda, nu: f.nu };
}

/**
 * Randomized Nyström with a fixed or adaptive sketch size. rank 'auto' starts at `initialRank`
 * and grows ℓ (capped at maxRank) while the stopping rule allows:
 *  - 'cost' (the default): by the step (1.5ℓ or 2ℓ) with the smallest predicted build + CG time,
 *    while that is expected to beat the CG time at the current ℓ (`nystromNextStep`, costing each
 *    step with `nystromDecision`: its build against the iterations it saves, each a product plus
 *    an application of P⁻¹), and λ̂_ℓ > tolerance·μ. Why: a step costs ever more host algebra
 *    (O(nℓ²) + O(ℓ³)) and sketch columns, while it saves c·(√κ_ℓ − √κ_ℓ') iterations — with
 *    cheap products (small n, or a GPU) the last doublings cost more than the whole solve they
 *    shorten (measured at n = 8000 on 2 cores: the 512 → 1024 doubling took 21.5 s of a 46.8 s
 *    total). The costs are measured on the build itself (the latest stage's matmat time per
 *    column, its host multiply-adds per ms, its eigendecomposition per ℓ³, one timed product)
 *    unless `costModel` fixes them.
 *  - 'tolerance': doubles while λ̂_ℓ > tolerance·μ (FTU's adaptive rule, simplified to the
 *    computable certificate λ̂_ℓ: κ ≲ 1 + tolerance).
 * Each step keeps the previous Ω, AΩ, B and BᵀB and only sketches the new columns
 * (orthogonalised against the old Ω), so the product cost is that of one sketch of the final
 * size and the host algebra of a stage is that of its new columns (`factorExtend`).
 */
export async function randomizedNystrom(A: LinearOperator, options: NystromOptions): Promise<NystromPreconditioner> {
  const fn = 'nystromPreconditioner';
  const n = A.shape[0];
  const o = parseNystromOptions(fn, n, options);
  if (o.method !== 'randomized') throw new RangeError(`${fn}: randomizedNystrom builds method 'randomized', got method '${o.method}'`);
  const { shift: mu, seed } = o;
  const t0 = performance.now();
  const plan = sketchPlan(fn, n, o);
  const { maxRank, tolerance, stopping, given } = plan;
  let target = plan.initial;

  // the sketch is ℓ products (and the solve it serves many more): a dense cache, if any, is built
  // now — in the untimed warm-up product of the cost rule, not inside a timed one
  A.expectRepeatedProducts();
  const rng = mulberry32(seed);
  let Omega = tall(n, 0);
  let Y = tall(n, 0);
  let M = new Float64Array(0);
  let nu = NaN;
  const stages: NystromStage[] = [];
  let factored: Factored | undefined;
  let core: Core | undefined;
  let productMs = given.productMs;
  for (let s = 0; ; s++) {
    const l = target;
    const ts = performance.now();
    const kNew = l - Omega.cols;
    const lOld = Omega.cols;
    const passes = orthonormalizationPasses(n, l);
    const Gn = orthonormalize(tall(n, kNew, fillGaussian(new Float64Array(n * kNew), rng)), Omega, passes);
    // Cost rule with measured costs: one untimed product first, so that the backend's warm-up
    // (worker pool start, compilation) is not billed to the first stage's sketch columns.
    if (s === 0 && stopping === 'cost' && (given.productMs === undefined || given.sketchMsPerColumn === undefined)) {
      await A.matvec(columnOf(Gn, 0));
    }
    const tm = performance.now();
    const Ynew = tallFromBlock(await matmatBlock(A, blockFromTall(Gn)));
    const sketchMs = performance.now() - tm;
    assertFiniteBlock(Ynew, fn, 'the sketch A·Ω');
    Omega = concatColumns(Omega, Gn);
    Y = concatColumns(Y, Ynew);
    M = grownGram(M, cross(Omega, Ynew), lOld, l);
    // ν is fixed by the first stage: the leading eigenvalues dominate ‖Y‖ from the start.
    if (Number.isNaN(nu)) nu = Math.sqrt(n) * epsAt(frobenius(Y.data));
    factored = (factored && factorExtend(factored, Ynew, Gn, M)) ?? factorFull(Omega, Y, M, nu, fn);
    nu = factored.nu;
    const te = performance.now();
    core = eigenCore(factored);
    const eigenMs = performance.now() - te;
    const ms = performance.now() - ts;
    const lmin = core.lambda[l - 1]!;
    const stage: NystromStage = { rank: l, smallestEigenvalue: lmin, ms, sketchMs, eigenMs };
    stages.push(stage);
    if (stopping === 'fixed') break;
    if (lmin <= tolerance * mu) {
      if (stopping === 'cost') stage.decision = { ...stopDecision(l, lmin), action: 'tolerance' };
      break;
    }
    if (l >= maxRank) {
      if (stopping === 'cost') stage.decision = { ...stopDecision(l, lmin), action: 'maxRank' };
      break;
    }
    if (stopping === 'tolerance') {
      target = Math.min(maxRank, 2 * l);
      continue;
    }
    // The cost rule. One timed product (the CG iteration's main cost) once the backend is warm.
    if (productMs === undefined) {
      const tp = performance.now();
      await A.matvec(columnOf(Gn, 0));
      productMs = performance.now() - tp;
    }
    const costs = stageCosts(given, { n, lOld, l, passes, ms, sketchMs, eigenMs, productMs });
    const d = nystromNextStep({ n, mu, rank: l, maxRank, lambda: lmin, ...spectrumTrend(stages, core.lambda), costs });
    stage.decision = d;
    if (d.action !== 'grow') break;
    target = d.nextRank;
  }
  const P = new NystromPreconditioner(core!, mu, stages, Omega.cols);
  P.buildMs = performance.now() - t0;
  return P;
}

/**
 * The sketch sizes and stopping rule of a randomized build: rank 'auto' from `initialRank` (default min(64, maxRank))
 * up to `maxRank` by the cost rule (default) or the tolerance rule, the cost model's given fields; a fixed rank once.
 */
function sketchPlan(fn: string, n: number, o: ParsedOptions<ReturnType<typeof nystromSpec>>): {
  initial: number; maxRank: number; tolerance: number; stopping: 'cost' | 'tolerance' | 'fixed'; given: NystromCostModel;
} {
  if (o.rank !== 'auto') return { initial: o.rank, maxRank: o.rank, tolerance: Infinity, stopping: 'fixed', given: {} };
  if (n < 2) throw new RangeError(`${fn}: rank 'auto' needs n ≥ 2, got n = ${n}`);
  const maxRank = o.maxRank ?? defaultMaxRank(n);
  const initial = o.initialRank ?? Math.min(64, maxRank);
  if (initial > maxRank) throw new RangeError(`${fn}: initialRank = ${initial} exceeds maxRank = ${maxRank}`);
  const given: NystromCostModel = {};
  for (const [key, v] of Object.entries(o.costModel ?? {})) if (v !== undefined) given[key as keyof NystromCostModel] = v;
  return {
    initial, maxRank, tolerance: o.tolerance ?? DEFAULT_NYSTROM_TOLERANCE, stopping: o.stopping ?? (o.tolerance !== undefined ? 'tolerance' : 'cost'), given,
  };
}

/**
 * M = ΩᵀY (lOld × lOld, row-major) grown to l × l by the columns Mcol = ΩᵀY_new (l × (l − lOld)): the new rows mirror
 * them (ΩᵀAΩ is symmetric) and the new diagonal block is symmetrised.
 */
function grownGram(M: Float64Array, Mcol: Float64Array, lOld: number, l: number): Float64Array<ArrayBuffer> {
  const kNew = l - lOld;
  const Mn = new Float64Array(l * l);
  for (let a = 0; a < lOld; a++) Mn.set(M.subarray(a * lOld, (a + 1) * lOld), a * l);
  for (let a = 0; a < l; a++) {
    for (let c = 0; c < kNew; c++) {
      const b = lOld + c;
      if (a < lOld) {
        Mn[a * l + b] = Mcol[a * kNew + c]!;
        Mn[b * l + a] = Mcol[a * kNew + c]!;
      } else if (a <= b) {
        const v = 0.5 * (Mcol[a * kNew + c]! + Mcol[b * kNew + (a - lOld)]!);
        Mn[a * l + b] = v;
        Mn[b * l + a] = v;
      }
    }
  }
  return Mn;
}

/**
 * P⁻¹ ≈ (A + shift·I)⁻¹ from a Nyström approximation of A (symmetric positive semidefinite).
 * method 'randomized' (default) works for any operator; 'landmarks' needs a KernelOperator. rank defaults to
 * 'auto' (adaptive sketch size, or adaptive number of landmarks). Every option is checked (`parseNystromOptions`):
 * an unknown one, or one the chosen variant would not read, is an error naming it.
 */
export async function nystromPreconditioner(A: OperatorLike, options: NystromOptions): Promise<NystromPreconditioner | LandmarkPreconditioner> {
  const fn = 'nystromPreconditioner';
  const op = squareOperator(A, fn);
  const o = parseNystromOptions(fn, op.shape[0], options);
  await assertSymmetricOperator(op, fn);
  if (o.method === 'randomized') return randomizedNystrom(op, options);
  if (!(op instanceof KernelOperator)) {
    throw new TypeError(`${fn}: method 'landmarks' needs a KernelOperator (landmarks are rows of its point set), got ${describeOperand(op)}; use method 'randomized' for other operators`);
  }
  const common = { shift: o.shift, seed: o.seed, landmarks: o.landmarks, factor: o.factor, maxStoredBytes: o.maxStoredBytes };
  if (o.rank === 'auto') {
    return adaptiveLandmarkPreconditioner(op, {
      ...common, initialRank: o.initialRank, maxRank: o.maxRank, rhs: o.rhs, alternativeProducts: o.alternativeProducts,
    });
  }
  return landmarkPreconditioner(op, { ...common, rank: o.rank });
}
