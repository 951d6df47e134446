/**
 * Landmark (Falkon-style) Nyström preconditioner for kernel operators: with m landmark points
 * (indices S into the rows of K),
 *   P = K_nm K_mm⁻¹ K_mn + μI,     K_nm = K[:, S],  K_mm = K[S, S],
 * inverted by Woodbury without ever inverting K_mm (which is numerically singular for smooth
 * kernels):
 *   P⁻¹ = (1/μ) (I − K_nm S⁻¹ K_mn),   S = μ K_mm + K_mn K_nm = Rᵀ R (Cholesky, m×m).
 * K_nm is a kernel operator on the rebound formula (x against the landmarks); it is stored only
 * while n·m doubles fit `maxStoredBytes`, otherwise each application runs two symbolic products
 * of n·m pairs (K_mn r, then K_nm z) and K_mn K_nm is accumulated from streamed row blocks.
 * On the CPU backend a stored K_mn is evaluated by the generated WASM code straight into a
 * WebAssembly memory (`DenseKernelMatrix`, landmarks as rows), where the Gram K_mn K_nm (n·m²
 * multiply-adds: 2.3 s at n = 8000, m = 2048 on 2 cores, ≈ 7·10⁹/s, where the JS loop managed
 * ≈ 10⁹/s), both products of an application and the Cholesky factor of S (`choleskyUpperWasm`,
 * `CholeskySolver`) run as threaded WASM SIMD; the default budget there is the dense cache's.
 */
import { CholeskySolver, choleskyUpperWasm } from '../cpu/dense-cholesky.js';
import { DenseKernelMatrix } from '../cpu/dense-product.js';
import { collectVariables } from '../formula/analyze.js';
import { compileScalarJs } from '../formula/emit-js.js';
import { defaultDenseCacheBytes, KernelOperator } from '../operators/kernel-operator.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { mulberry32 } from '../krylov/random.js';
import { describeValue, firstNonFinite } from '../operators/validate.js';
import { blockFromColumns, choleskyUpper, columnsOf, gram, gramInto, tall, type Tall } from './dense.js';
import {
  Preconditioner,
  applyWoodbury,
  bytesField,
  describeOperand,
  operatorFactor,
  rankBelow,
  seedField,
  shiftField,
  storedFactor,
  type Factor,
} from './common.js';
import { field, oneOf, optional, parseOptions, union, withDefault, type OptionField } from '../operators/options.js';
import { kernelBlock, restrictRows, subKernel } from './kernel-access.js';
import { farthestPointLandmarks } from './farthest-point.js';
import { partialPivotedCholesky } from './pivoted-cholesky.js';

export type LandmarkSelection = 'farthest-point' | 'uniform' | 'pivoted-cholesky';

export interface LandmarkOptions {
  /**
   * How landmarks are chosen: 'farthest-point' (default: the greedy farthest-point order of the kernel's points from a
   * seeded first point, see farthest-point.ts), 'uniform' (seeded, without replacement), 'pivoted-cholesky' (greedy by
   * the residual diagonal), or explicit row indices.
   */
  landmarks?: LandmarkSelection | readonly number[] | Int32Array;
  /** 'auto' (default): store K_nm when n·m·8 ≤ maxStoredBytes; 'stored' / 'symbolic' force it. */
  factor?: 'auto' | 'stored' | 'symbolic';
  /** Budget for a stored K_nm (default: the dense cache's `defaultDenseCacheBytes()` on the CPU backend, 64 MiB on the GPU's host side). */
  maxStoredBytes?: number;
}

export const DEFAULT_MAX_STORED_BYTES = 64 * 2 ** 20;

const landmarkIndices = field<readonly number[] | Int32Array>('an array of row indices', (v) => Array.isArray(v) || v instanceof Int32Array);

/** LandmarkOptions, checked by `parseOptions` (shared by the fixed and the adaptive build). */
export const LANDMARK_SPEC = {
  landmarks: withDefault(union(oneOf('farthest-point', 'uniform', 'pivoted-cholesky'), landmarkIndices), 'farthest-point'),
  factor: withDefault(oneOf('auto', 'stored', 'symbolic'), 'auto'),
  maxStoredBytes: optional(bytesField),
} satisfies Record<keyof LandmarkOptions, OptionField<unknown>>;

/** The options of a build with fixed m on an n×n K: LandmarkOptions and rank (m), shift, seed. */
export interface FixedLandmarkOptions extends LandmarkOptions {
  /** m, the number of landmarks (1 ≤ m < n); may be left out with explicit indices, which give it. */
  rank?: number;
  shift: number;
  /** Seed of the first farthest point or of the uniform draw (default 0). */
  seed?: number;
}

function fixedLandmarkSpec(n: number) {
  return { ...LANDMARK_SPEC, rank: optional(rankBelow(n)), shift: shiftField, seed: seedField } satisfies Record<keyof FixedLandmarkOptions, unknown>;
}

/** Where a landmark build spent its time (milliseconds; 0 for a step that did not run). */
export interface LandmarkBuildTimings {
  /** K_nm evaluated into memory (or K_mm alone for a symbolic factor). */
  kernelMs: number;
  /** K_mn K_nm. */
  gramMs: number;
  /** Cholesky of S = μK_mm + K_mn K_nm. */
  choleskyMs: number;
}

export class LandmarkPreconditioner extends Preconditioner {
  readonly method = 'landmarks' as const;
  /** m, the number of landmarks. */
  readonly rank: number;
  /** Landmark row indices (in farthest-point order, ascending for 'uniform', in pivot order for 'pivoted-cholesky'). */
  readonly landmarks: Int32Array;
  /** Whether K_nm is held in memory or applied symbolically. */
  readonly stored: boolean;
  /** Whether K_mn and the factor of S live in WASM memory (CPU backend, stored). */
  readonly wasm: boolean;
  readonly timings: Readonly<LandmarkBuildTimings>;
  private readonly factor: Factor;
  private R: Float64Array | CholeskySolver;
  /** The jitter j added to S's diagonal (see `factorCore`); raised by `stiffen`. */
  private coreJitter: number;

  constructor(
    n: number, shift: number, landmarks: Int32Array, factor: Factor, core: FactoredCore, stored: boolean,
    wasm = false, timings: LandmarkBuildTimings = { kernelMs: 0, gramMs: 0, choleskyMs: 0 },
    private readonly storedKnm?: DenseKernelMatrix,
    /** The shift asked for: `mu` (ν) is raised above it where the rounding floor requires (LANDMARK_MIN_SHIFT_PER_JITTER). */
    readonly requestedShift = shift,
  ) {
    super(n, shift);
    this.rank = landmarks.length;
    this.landmarks = landmarks;
    this.factor = factor;
    this.R = core.R;
    this.coreJitter = core.jitter;
    this.refactor = core.refactor;
    this.stored = stored;
    this.wasm = wasm;
    this.timings = Object.freeze({ ...timings });
  }

  private readonly refactor: FactoredCore['refactor'];

  /** j, the jitter on S = νK_mm + K_mnK_nm + jI (see `coreJitterBound`). */
  get jitter(): number {
    return this.coreJitter;
  }

  protected override applyBlock(X: Tall): Promise<Tall> {
    return applyWoodbury(this.factor, this.R, this.mu, X);
  }

  /**
   * Refactors S with the jitter raised STIFFEN_FACTOR-fold, for when CG finds P⁻¹ not positive definite (`solve` calls
   * it then and goes on from its iterate, as for device landmarks): j lifts the rounding of S's Gram and factor that
   * made BS⁻¹Bᵀ exceed I somewhere; a larger j only shrinks the low-rank term (P = νI + K_nm(K_mm + (j/ν)I)⁻¹K_mn).
   */
  async stiffen(): Promise<void> {
    const core = await this.refactor(stiffenedJitter(this.coreJitter));
    if (this.R instanceof CholeskySolver) this.R.release();
    this.R = core.R;
    this.coreJitter = core.jitter;
    this.stiffened = true;
  }

  private stiffened = false;

  /** Releases K_mn's WebAssembly memory (recycled, see LinearOperator.dispose); applying P afterwards throws. */
  override async dispose(): Promise<void> {
    await super.dispose();
    await this.storedKnm?.release();
  }

  protected override describe(): string {
    // the rounding guards are named where they changed P: a raised shift, a stiffened core (moderate μ: as before)
    const raised = this.mu > this.requestedShift;
    const shift = `shift=${raised ? raisedShift(this.mu, this.requestedShift) : this.mu}`;
    const jitter = raised || this.stiffened ? `, jitter=${this.coreJitter.toExponential(1)}` : '';
    return `LandmarkPreconditioner(m=${this.rank}, ${shift}, ${this.stored ? (this.wasm ? 'stored (WASM)' : 'stored') : 'symbolic'} K_nm${jitter})`;
  }
}

export function selectUniform(n: number, m: number, seed: number): Int32Array {
  const rng = mulberry32(seed);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng() * (n - i));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm.slice(0, m).sort();
}

export async function landmarkPreconditioner(A: LinearOperator, options: FixedLandmarkOptions): Promise<LandmarkPreconditioner> {
  const fn = "nystromPreconditioner (method 'landmarks')";
  if (!(A instanceof KernelOperator)) {
    throw new TypeError(`${fn}: needs a KernelOperator (landmarks are rows of its point set), got ${describeOperand(A)}; use method 'randomized' for other operators`);
  }
  if (!A.symmetric) {
    throw new TypeError(`${fn}: needs a symmetric KernelOperator (y omitted), got ${A}`);
  }
  const n = A.shape[0];
  const o = parseOptions(fn, options, fixedLandmarkSpec(n));
  const mu = o.shift;
  const t0 = performance.now();
  const selection = o.landmarks;
  let idx: Int32Array;
  if (typeof selection === 'string') {
    if (o.rank === undefined) throw new TypeError(`${fn}: option 'rank' (the number of landmarks m) is required with landmarks '${selection}'`);
    const m = o.rank;
    if (selection === 'farthest-point') idx = farthestPointLandmarks(A, m, o.seed);
    else if (selection === 'uniform') idx = selectUniform(n, m, o.seed);
    else idx = (await partialPivotedCholesky(A, m, 0, fn)).pivots;
  } else {
    idx = explicitLandmarks(selection, n, o.rank, fn);
  }
  const m = idx.length;
  const mode = o.factor;
  const onCpu = A.backend === 'cpu';
  const budget = o.maxStoredBytes ?? (onCpu ? defaultDenseCacheBytes() : DEFAULT_MAX_STORED_BYTES);
  const stored = mode === 'stored' || (mode === 'auto' && n * m * 8 <= budget);

  const timings: LandmarkBuildTimings = { kernelMs: 0, gramMs: 0, choleskyMs: 0 };
  let t = performance.now();
  const lap = () => { const now = performance.now(); const ms = now - t; t = now; return ms; };
  let Kmm: Float64Array;
  let G: Float64Array;
  let factor: Factor;
  let Dmn: DenseKernelMatrix | undefined;
  // K_mn (landmarks as rows) in WASM memory, where its Gram and products run
  const restricted = stored && onCpu ? restrictRows(A.formula.node, { i: idx }) : undefined;
  const slots = restricted ? collectVariables(restricted) : undefined;
  // a float32 operator's K_mn is stored in float32 (its products' precision): half the memory and the
  // bytes each application reads. K_mm stays float64, evaluated apart: with B = K̃_nm (rounded) and C = K_mm
  // ≻ 0, P = B C⁻¹ Bᵀ + μI and S = μC + BᵀB ≻ BᵀB keep Woodbury's P⁻¹ exact and positive definite, where a
  // rounded C could be indefinite in its tiny eigenvalues.
  const storage = A.dtype === 'float32' ? 'float32' : 'float64';
  const wasm = restricted !== undefined && slots !== undefined && DenseKernelMatrix.fits(slots, m, n, storage, { gram: true });
  if (wasm) {
    const D = (Dmn = await DenseKernelMatrix.materialise(restricted!, slots!, m, n, storage, { gram: true }));
    Kmm = storage === 'float64'
      ? D.entries(Int32Array.from({ length: m }, (_, a) => a), idx)
      : kernelBlock(compileScalarJs(A.formula.node), idx, idx);
    timings.kernelMs = lap();
    G = await D.gram();
    timings.gramMs = lap();
    factor = denseKernelFactor(D);
  } else {
    const kernel = compileScalarJs(A.formula.node);
    const all = Int32Array.from({ length: n }, (_, i) => i);
    Kmm = kernelBlock(kernel, idx, idx);
    if (stored) {
      const Knm = tall(n, m, kernelBlock(kernel, all, idx));
      timings.kernelMs = lap();
      G = gram(Knm);
      factor = storedFactor(Knm);
    } else {
      // K_mn K_nm = Σ_i k_i k_iᵀ over rows k_i = K[i, S], streamed in blocks of rows.
      G = new Float64Array(m * m);
      const chunk = Math.max(1, Math.floor(2 ** 18 / m));
      for (let start = 0; start < n; start += chunk) {
        const rows = all.subarray(start, Math.min(n, start + chunk));
        const block = kernelBlock(kernel, rows, idx);
        // gramInto mirrors the upper triangle into the lower each call: harmless, it is re-derived from the upper one.
        gramInto(G, tall(rows.length, m, block));
      }
      const Knm = subKernel(A, { j: idx }, `landmarks K_nm (m=${m})`);
      factor = operatorFactor(Knm, Knm.T);
    }
    timings.gramMs = lap();
  }
  const S = new Float64Array(m * m);
  // P's shift ν: μ, or the floor its rounding allows (see LANDMARK_MIN_SHIFT_PER_JITTER)
  const nu = landmarkShift(mu, coreJitterBound(G, Kmm, m, n, mu));
  for (let q = 0; q < m * m; q++) S[q] = nu * Kmm[q]! + G[q]!;
  // a non-finite entry of K fails the factor below: said as what it is (it read "is K positive semidefinite?")
  const bad = firstNonFinite(S);
  if (bad >= 0) {
    const [a, b] = [idx[(bad / m) | 0], idx[bad % m]];
    throw new RangeError(Number.isFinite(Kmm[bad]!)
      ? `${fn}: K has a non-finite entry in the rows of landmarks ${a} and ${b} (their Gram K_mnK_nm is ${G[bad]}); K's entries must be finite`
      : `${fn}: K has a non-finite entry K(${a}, ${b}) = ${Kmm[bad]} (between landmarks); K's entries must be finite`);
  }
  const core = await factorCore(S, m, coreJitterBound(G, Kmm, m, n, nu), wasm, fn);
  timings.choleskyMs = lap();
  const P = new LandmarkPreconditioner(n, nu, idx, factor, core, stored, wasm, timings, Dmn, mu);
  P.buildMs = performance.now() - t0;
  return P;
}

/**
 * S's jitter, in units of ε·(√n + m)·max_a S_aa: a bound on the rounding of S = μK_mm + K_mnK_nm as computed — its
 * Gram sums n products per entry (≈ √n·ε relative, as rounding errors add), its Cholesky factor m per pivot. P⁻¹ =
 * (1/μ)(I − B S⁻¹ Bᵀ) (B = K_nm as applied) is positive definite iff the S factored exceeds BᵀB, i.e. iff
 * μK_mm + (rounding) + jI ≻ 0: K_mm of a smooth kernel is numerically singular, so without j the rounding decides
 * the sign in its null directions, and 1/μ magnifies it. Measured (Gaussian σ = 0.2, n = 6,000 in [0,1]³, m = 512,
 * 80 Lanczos steps on P⁻¹ from a smooth vector): without j, P⁻¹'s least Ritz value was −5.5·10³ at μ = 10⁻⁸ and
 * −7.5·10⁵ at 10⁻¹⁰, where its least eigenvalue is 1/(λ_max + μ) ≈ 2·10⁻³. The jitter is the Nyström of
 * K_mm + (j/μ)I: negligible at moderate μ (j/μ ≈ 10⁻⁸·‖K_mm‖ at μ = 10⁻³), a coarser but definite P at tiny μ.
 */
export const LANDMARK_CORE_JITTER = 1;

/**
 * P's shift ν is at least this many times the core jitter j (ν = max(μ, this·j)): below it the rounding of the host
 * form — of S, and of each application, which subtracts BS⁻¹Bᵀr ≈ r from r and divides by ν — outweighs P⁻¹'s least
 * eigenvalue 1/(λ_max + ν), and no jitter of S mends it without discarding the landmarks (dense P⁻¹, symmetrised and
 * Cholesky-factored: Gaussian σ = 0.2, n = 2,000 in [0,1]³, m = 512, j = 1.8·10⁻¹¹: indefinite at ν = 10⁻¹⁰, 3·10⁻¹⁰,
 * 10⁻⁹, definite from 3·10⁻⁹ = 170j; raising j a hundredfold left ν = 10⁻⁹ indefinite). A P for A + νI, ν > μ, still
 * preconditions A + μI: P⁻¹(A + μI) has κ ≈ (ν + e)/μ for the landmarks' error e, which at such μ is far above ν
 * (n = 6,000, m = 512: e ≈ 4·10⁻³ against ν = 3.6·10⁻⁸). At moderate μ, ν = μ (10⁻³ against 3.6·10⁻⁸ there).
 */
export const LANDMARK_MIN_SHIFT_PER_JITTER = 1000;

/** How much `stiffen` raises the jitter. */
export const STIFFEN_FACTOR = 100;

/**
 * P's shift ν for the shift μ asked for, where its core needs the jitter j: ν = max(μ, perJitter·j), the rounding floor
 * (see LANDMARK_MIN_SHIFT_PER_JITTER; device landmarks pass their own ratio, DEVICE_MIN_SHIFT_PER_JITTER).
 */
export function landmarkShift(mu: number, jitter: number, perJitter = LANDMARK_MIN_SHIFT_PER_JITTER): number {
  return Math.max(mu, perJitter * jitter);
}

/** A shift ν raised above the μ asked for, as `String(P)` says it: "3.68e-9 (raised from 1e-10: rounding floor)". */
export function raisedShift(nu: number, requested: number): string {
  return `${nu.toPrecision(3)} (raised from ${requested}: rounding floor)`;
}

/** The jitter `stiffen` refactors with: STIFFEN_FACTOR times the current one (at least `least`). */
export function stiffenedJitter(jitter: number, least = 0): number {
  return Math.max(jitter, least) * STIFFEN_FACTOR;
}

/** How much a jitter that did not let the factorisation through is raised before the next try. */
export const JITTER_RAISE_FACTOR = 10;

/**
 * The factor of a matrix with the jitter j on its diagonal (`attempt(j)`: the factor, or undefined/null where it fails),
 * j raised JITTER_RAISE_FACTOR-fold from `start` while it fails, up to `top` (the matrix's largest diagonal entry: a
 * jitter that large swamps it, and a failure there means the matrix is not positive semidefinite beyond rounding) —
 * then `fail(j)` is thrown. One policy for the host landmarks' core and the device landmarks' whitening and core.
 */
export async function factorWithJitter<F>(
  start: number, top: number, attempt: (jitter: number) => Promise<F | undefined | null>, fail: (jitter: number) => Error,
): Promise<{ factor: F; jitter: number }> {
  for (let j = Math.max(start, Number.MIN_VALUE); ; j *= JITTER_RAISE_FACTOR) {
    const factor = await attempt(j);
    if (factor !== undefined && factor !== null) return { factor, jitter: j };
    if (!(j < top)) throw fail(j);
  }
}

/** j = LANDMARK_CORE_JITTER·ε·(√n + m)·max_a S_aa for S = νK_mm + G (m×m each; G = K_mnK_nm over n points). */
export function coreJitterBound(G: Float64Array, Kmm: Float64Array, m: number, n: number, nu: number): number {
  let top = 0;
  for (let a = 0; a < m; a++) top = Math.max(top, G[a * m + a]! + nu * Kmm[a * m + a]!);
  return LANDMARK_CORE_JITTER * Number.EPSILON * (Math.sqrt(n) + m) * top;
}

/** S's factor with its jitter, and how to factor S again with another (the kept S₀ is the only copy). */
interface FactoredCore {
  R: Float64Array | CholeskySolver;
  jitter: number;
  refactor(jitter: number): Promise<{ R: Float64Array | CholeskySolver; jitter: number }>;
}

/**
 * Factors S₀ + jI (S₀ kept, not modified), raising j tenfold while the factorisation fails (duplicate landmark
 * points make S₀ singular beyond rounding), up to max_a S_aa: beyond that K is not positive semidefinite.
 */
async function factorCore(S0: Float64Array, m: number, jitter: number, wasm: boolean, fn: string): Promise<FactoredCore> {
  let top = 0;
  for (let a = 0; a < m; a++) top = Math.max(top, S0[a * m + a]!);
  const refactor = async (j0: number): Promise<{ R: Float64Array | CholeskySolver; jitter: number }> => {
    const { factor: R, jitter } = await factorWithJitter(j0, top, async (j) => {
      const S = Float64Array.from(S0);
      for (let a = 0; a < m; a++) S[a * m + a]! += j;
      return wasm ? choleskyUpperWasm(S, m) : choleskyUpper(S, m);
    }, (j) => new Error(`${fn}: μK_mm + K_mnK_nm is not positive definite even with the jitter ${j.toExponential(2)} (is K positive semidefinite?)`));
    return { R: wasm ? await CholeskySolver.create(R, m) : R, jitter };
  };
  return { ...(await refactor(jitter)), refactor };
}

/** Explicit landmark rows: distinct integers in [0, n), at least 1 and fewer than n, as many as `rank` if given. */
function explicitLandmarks(rows: readonly number[] | Int32Array, n: number, rank: number | undefined, fn: string): Int32Array {
  const count = rankBelow(n).check(rows.length, `${fn}: the number of landmarks`);
  if (rank !== undefined && rank !== count) {
    throw new RangeError(`${fn}: rank = ${rank} but ${count} landmark indices were given`);
  }
  const seen = new Set<number>();
  for (let a = 0; a < rows.length; a++) {
    const i: unknown = rows[a];
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= n || seen.has(i)) {
      throw new RangeError(`${fn}: landmark index ${a} is ${describeValue(i)}: indices must be distinct integers in [0, ${n})`);
    }
    seen.add(i);
  }
  return Int32Array.from(rows);
}

/** The factor K_nm of a landmark preconditioner from K_mn stored in WASM memory (m rows × n columns). */
function denseKernelFactor(D: DenseKernelMatrix): Factor {
  const m = D.n;
  const n = D.m;
  return {
    rank: m,
    apply: async (Z) => blockFromColumns(await D.multiplyTransposed(columnsOf(Z)), n), // K_nm Z = K_mnᵀ Z
    applyT: async (X) => blockFromColumns(await D.multiply(columnsOf(X)), m), //          K_mn X
  };
}
