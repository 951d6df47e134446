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
import type { LinearOperator } from '../operators/linear-operator.js';
import {
  choleskyUpper,
  concatColumns,
  cross,
  fillGaussian,
  fromMatrix,
  frobenius,
  gram,
  mulSmall,
  orthonormalize,
  rightSolveUpper,
  tall,
  toMatrix,
  type Tall,
} from './dense.js';
import {
  Preconditioner,
  assertFiniteBlock,
  checkPositive,
  checkRank,
  checkSeed,
  positiveShift,
  squareOperator,
  type OperatorLike,
} from './common.js';
import { landmarkPreconditioner, type LandmarkOptions, type LandmarkPreconditioner } from './landmarks.js';

export type NystromMethod = 'randomized' | 'landmarks';

export interface NystromOptions extends LandmarkOptions {
  /** Sketch size ℓ (1 ≤ ℓ < n), or 'auto' (randomized only): see `initialRank`, `maxRank`, `tolerance`. */
  rank: number | 'auto';
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
  /** rank 'auto': stop doubling once λ̂_ℓ ≤ tolerance · μ (default 10). */
  tolerance?: number;
}

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

/** One stage of the sketch (rank 'auto' doubles ℓ; a fixed rank has one stage). */
export interface NystromStage {
  rank: number;
  /** λ̂_ℓ, the smallest eigenvalue of the approximation at this stage. */
  smallestEigenvalue: number;
  ms: number;
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
    const T = cross(this.B, X); // ℓ×k
    const HT = mulSmall(tall(this.rank, this.rank, this.H), T, k);
    const out = mulSmall(this.B, HT.data, k).data;
    for (let t = 0; t < out.length; t++) out[t]! += X.data[t]!;
    return tall(X.rows, k, out);
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

/** eps(x): the spacing of doubles at x (MATLAB's eps(x)). */
function epsAt(x: number): number {
  return x > 0 ? 2 ** (Math.floor(Math.log2(x)) - 52) : 2 ** -1074;
}

/** From the sketch (Ω, Y = AΩ, M = ΩᵀY) to B, the eigenpairs of BᵀB and λ̂ (descending). */
function nystromCore(Omega: Tall, Y: Tall, M: Float64Array, nuIn: number, fn: string): Core {
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
  const G = gram(B);
  const evd = new EVD(new Matrix(Array.from({ length: l }, (_, a) => Array.from(G.subarray(a * l, (a + 1) * l)))), { assumeSymmetric: true });
  const s = evd.realEigenvalues;
  const Vm = evd.eigenvectorMatrix;
  const order = Array.from({ length: l }, (_, t) => t).sort((a, b) => s[b]! - s[a]!);
  const V = new Float64Array(l * l);
  const sigma2 = new Float64Array(l);
  const lambda = new Float64Array(l);
  order.forEach((src, t) => {
    sigma2[t] = s[src]!;
    lambda[t] = Math.max(0, s[src]! - nu);
    for (let a = 0; a < l; a++) V[a * l + t] = Vm.get(a, src);
  });
  return { B, V, sigma2, lambda, nu };
}

/**
 * Randomized Nyström with a fixed or adaptive sketch size. rank 'auto' (FTU's adaptive rule,
 * simplified to the computable certificate λ̂_ℓ): start at `initialRank`, and while
 * λ̂_ℓ > tolerance·μ and ℓ < maxRank, double ℓ (capped at maxRank). Each doubling keeps the
 * previous Ω and AΩ and only sketches the new columns (orthogonalised against the old Ω), so the
 * product cost is that of one sketch of the final size; the small O(nℓ²) algebra is redone.
 */
export async function randomizedNystrom(A: LinearOperator, options: NystromOptions): Promise<NystromPreconditioner> {
  const fn = 'nystromPreconditioner';
  const n = A.shape[0];
  const mu = positiveShift(options.shift, fn);
  const seed = checkSeed(options.seed ?? 0, fn);
  const t0 = performance.now();
  let targets: number[];
  let tolerance = Infinity;
  if (options.rank === 'auto') {
    if (n < 2) throw new RangeError(`${fn}: rank 'auto' needs n ≥ 2, got n = ${n}`);
    const maxRank = checkRank(options.maxRank ?? defaultMaxRank(n), n, fn, 'maxRank');
    const initial = checkRank(options.initialRank ?? Math.min(64, maxRank), n, fn, 'initialRank');
    if (initial > maxRank) throw new RangeError(`${fn}: initialRank = ${initial} exceeds maxRank = ${maxRank}`);
    tolerance = checkPositive(options.tolerance ?? DEFAULT_NYSTROM_TOLERANCE, fn, 'tolerance');
    targets = [initial];
    while (targets[targets.length - 1]! < maxRank) targets.push(Math.min(maxRank, 2 * targets[targets.length - 1]!));
  } else {
    targets = [checkRank(options.rank, n, fn)];
  }

  const rng = mulberry32(seed);
  let Omega = tall(n, 0);
  let Y = tall(n, 0);
  let M = new Float64Array(0);
  let nu = NaN;
  const stages: NystromStage[] = [];
  let core: Core | undefined;
  for (const l of targets) {
    const ts = performance.now();
    const kNew = l - Omega.cols;
    // Two Gram–Schmidt/CholeskyQR passes once ℓ is a sizeable part of n (the block gets ill-conditioned).
    const G = orthonormalize(tall(n, kNew, fillGaussian(new Float64Array(n * kNew), rng)), Omega, l > n / 4 ? 2 : 1);
    const Ynew = fromMatrix(await A.matmat(toMatrix(G)));
    assertFiniteBlock(Ynew, fn, 'the sketch A·Ω');
    const lOld = Omega.cols;
    Omega = concatColumns(Omega, G);
    Y = concatColumns(Y, Ynew);
    // M = ΩᵀY grows by the columns ΩᵀY_new; the new rows mirror them (ΩᵀAΩ is symmetric) and
    // the new diagonal block is symmetrised.
    const Mcol = cross(Omega, Ynew); // l×kNew
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
    M = Mn;
    // ν is fixed by the first stage: the leading eigenvalues dominate ‖Y‖ from the start.
    if (Number.isNaN(nu)) nu = Math.sqrt(n) * epsAt(frobenius(Y.data));
    core = nystromCore(Omega, Y, M, nu, fn);
    nu = core.nu;
    const lmin = core.lambda[l - 1]!;
    stages.push({ rank: l, smallestEigenvalue: lmin, ms: performance.now() - ts });
    if (lmin <= tolerance * mu) break;
  }
  const P = new NystromPreconditioner(core!, mu, stages, Omega.cols);
  P.buildMs = performance.now() - t0;
  return P;
}

/**
 * P⁻¹ ≈ (A + shift·I)⁻¹ from a Nyström approximation of A (symmetric positive semidefinite).
 * method 'randomized' (default) works for any operator; 'landmarks' needs a KernelOperator.
 */
export async function nystromPreconditioner(A: OperatorLike, options: NystromOptions): Promise<NystromPreconditioner | LandmarkPreconditioner> {
  const fn = 'nystromPreconditioner';
  const op = squareOperator(A, fn);
  if (!options || typeof options !== 'object') throw new TypeError(`${fn}: expected options { rank, shift, seed?, method? }, got ${String(options)}`);
  const method = options.method ?? 'randomized';
  if (method === 'randomized') return randomizedNystrom(op, options);
  if (method === 'landmarks') {
    if (options.rank === 'auto') {
      throw new RangeError(`${fn}: rank 'auto' is for method 'randomized'; give the number of landmarks m for method 'landmarks'`);
    }
    return landmarkPreconditioner(op, { ...options, rank: options.rank });
  }
  throw new RangeError(`${fn}: method must be 'randomized' or 'landmarks', got ${String(method)}`);
}
