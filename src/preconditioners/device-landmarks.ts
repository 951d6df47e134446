/**
 * Landmark Nyström preconditioner with its n×m factor on the GPU, for kernel solves too large for host
 * algebra (n ≈ 10⁶, m in the thousands). With m landmarks (farthest-point rows by default), K̃_nm formed on the device in
 * float32 (`DeviceKernelBlock`), K̃_mm = RᵀR + … factored there too, and the factor whitened on the device:
 *
 *   B = K̃_nm R⁻¹,  RᵀR = K̃_mm + δI  (float32 Cholesky on the device; B by float32 substitution on the device),
 *   P = BBᵀ + νI,   P⁻¹ = (1/ν) (I − B S⁻¹ Bᵀ),   S = νI + BᵀB + jI = UᵀU  (BᵀB compensated, U double-float: device),
 *
 * with ν = max(μ, τ·λ̂) (τ = 0 by default: ν = μ, the solve's α) — raised to the rounding floor where the jitter j
 * would exceed ν/DEVICE_MIN_SHIFT_PER_JITTER (`deviceCoreShift`; `String(P)` says so) —, δ the whitening shift
 * (`defaultWhiteningJitter`) and j a jitter.
 *
 * Why whiten on the device, and not S = νK_mm + K̃_mnK̃_nm (the host's form, and this one's before): that core
 * squares K's conditioning. G = K̃_mnK̃_nm reaches ≈ 6·10³ at n = 2²⁰, m = 8192, and its float32 Gram's rounding
 * (−3·10⁻³ at the bottom) is what the core's small directions are made of: the jitter that kept S positive
 * definite, j/ν ≈ 0.06 on K_mm, dropped every direction of K below ≈ 8 (= 8000ν), and CG took 47 iterations. In
 * B's coordinates the core is νI + BᵀB, whose Gram rounding is far below ν (bottom of νI + E: 0.87ν there), and δ
 * drops only K's directions below ≈ δ·n/m (`WHITENING_FLOAT32_JITTER`): 12 iterations to 10⁻⁶ (H100; measured on
 * emulated float32 first, bench/whitening-emulation.mjs: 106 → 15 iterations at n = 8192, m = 512).
 *
 * Where rounding enters, and what keeps P⁻¹ positive definite at ν = μ:
 *  - P⁻¹r subtracts BS⁻¹Bᵀr from r and divides by ν: both products run in double-float arithmetic on B's float32
 *    entries (see `DeviceKernelBlock`), so P is the formula's operator for the fixed matrix B.
 *  - P⁻¹ is positive definite iff S ≻ BᵀB exactly, i.e. νI + E + jI ≻ 0 for the Gram's rounding E (compensated
 *    sums of 32-term float32 partials). That bottom is measured, not modelled (`coreBottom`: Lanczos on
 *    w ↦ S₀w − Bᵀ(Bw)); j lifts it with a margin, at least MIN_RELATIVE_JITTER · max (BᵀB)_aa, and is raised tenfold
 *    while S does not factor, a hundredfold by `stiffen` if CG still finds P⁻¹ indefinite.
 *  - That jitter does not shrink with μ: where μ is below a few j (α ≈ 10⁻⁸ on a Gaussian K), c = ν/(ν + j) drops
 *    P's landmarks and CG stalls, so ν is raised to DEVICE_MIN_SHIFT_PER_JITTER·j as the host landmarks raise theirs
 *    (`landmarkShift`). P then preconditions A + μI as one of A + νI: CG's κ grows as ν/μ, and a solve that stops short
 *    names P with its raised ν.
 *  - B's float32 substitution errs by ≈ u·cond(R) relative, in the directions R⁻¹ amplifies — those δ is there to
 *    tame (see WHITENING_FLOAT32_JITTER). B is still a fixed matrix, and P = BBᵀ + νI is positive definite whatever
 *    that error: it costs iterations, never definiteness.
 *  - Measured on llvmpipe (bench/device-jitter.ts: Gaussian, σ = 0.1, μ = 10⁻³, CG to 10⁻⁸ with float64 CPU
 *    products), iterations against the float64 host landmark preconditioner on the same landmarks:
 *
 *      n, m          farthest-point: device / host    uniform: device / host
 *      4,000, 800    178 / 177                        256 / 257
 *      12,000, 1000  217 / 216                        328 / 332
 *
 * Build, all on the device (n = 2²⁰, m = 8192, H100, 11.4 s): farthest-point order 0.7 s (`deviceFarthestPointOrder`),
 * K̃_mm factored in float32 (`deviceCholesky`) while K̃_nm is formed 1.2 s, whitening and BᵀB 8.1 s (the Gram kept on
 * the device), Lanczos floor 0.6 s, the core factored in double-float 0.5 s (`deviceCholeskyDouble`). The host's
 * order, factorisations and m² products had taken 16 s of a 28 s build there (bench/RESULTS.md, ninth session);
 * `landmarkOrder`, `whiteningFactor` and `coreFactor` still choose the host.
 * Each application, one submission: the residual up as pairs, Bᵀr, the core's two triangular solves
 * (`DeviceCoreSolver`), Bw, and n pairs back (`DeviceKernelBlock.woodbury`): 0.13–0.2 s at n = 2²⁰, m = 8192.
 */
import type { Node } from '../formula/ast.js';
import { collectVariables } from '../formula/analyze.js';
import { acquireGpu, GpuOutOfMemoryError, type GpuContext } from '../gpu/device.js';
import { DeviceKernelBlock, warmBlockPipelines } from '../gpu/dense/tall.js';
import { deviceCholesky, deviceCholeskyDouble, deviceDiagonal, DeviceCoreSolver, warmCholeskyPipelines, type DeviceCholeskyFactor } from '../gpu/dense/cholesky.js';
import { mulberry32 } from '../krylov/random.js';
import { tridiagonalEigen } from '../krylov/tridiagonal.js';
import { norm } from '../krylov/util.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { CholeskySolver, choleskyUpperWasm } from '../cpu/dense-cholesky.js';
import { fillGaussian, tall, type Tall } from './dense.js';
import { Preconditioner, describeOperand, onesRayleighEstimate, rademacher, rankBelow, seedField, shiftField } from './common.js';
import { finiteNumber, func, nonNegativeNumber, oneOf, optional, parseOptions, withDefault } from '../operators/options.js';
import { restrictRows } from './kernel-access.js';
import { farthestPointLandmarks, farthestPointStart, kernelPointRows } from './farthest-point.js';
import { deviceFarthestPointOrder } from '../gpu/dense/farthest-point.js';
import { factorWithJitter, landmarkShift, raisedShift, selectUniform, STIFFEN_FACTOR, stiffenedJitter } from './landmarks.js';
import { settleCallback } from '../operators/validate.js';

export interface DeviceLandmarkOptions {
  /** m, the number of landmarks (default `defaultDeviceLandmarks(n)`, halved while the device runs out of memory). */
  rank?: number;
  /** P approximates A + shift·I (the solve's α). */
  shift: number;
  /** How landmarks are chosen: 'farthest-point' (default) or 'uniform' (see LandmarkOptions.landmarks). */
  landmarks?: 'farthest-point' | 'uniform';
  /** Seed of the landmark choice (default 0). */
  seed?: number;
  /** ν = max(shift, tau·λ̂) (default 0: ν = shift), raised to the rounding floor where needed (see the module comment). */
  tau?: number;
  /**
   * The starting jitter j as a multiple of max (BᵀB)_aa (default: what lifts the bottom of νI + E measured by Lanczos,
   * `coreBottom`, at least MIN_RELATIVE_JITTER); it is still raised tenfold while S does not factor.
   */
  jitter?: number;
  /**
   * δ of the whitening factor L = chol(K_mm + δ·max K_aa·I) (default `defaultWhiteningJitter`: see WHITENING_FLOAT32_JITTER); it is still raised
   * tenfold while K_mm + δI does not factor.
   */
  whiteningJitter?: number;
  /**
   * Where the farthest-point order is computed: 'device' (`deviceFarthestPointOrder`, float32 distances) or 'host'
   * (`FarthestPointOrder`, float64). Default: the device on hardware adapters (the host order of 8192 of 2²⁰ points
   * took 3.6 s on the H100 machine's host), the host on software ones (llvmpipe ran the device order slower than the
   * host's grid-pruned one: n = 2²⁰, m = 256 in 3.9 s against 0.86 s).
   */
  landmarkOrder?: 'device' | 'host';
  /**
   * Where the whitening factor R is computed: 'device' (float32 `deviceCholesky`, the default where K̃_mm fits one
   * storage binding) or 'host' (float64 WASM, the fallback). See `deviceWhiteningFactor`.
   */
  whiteningFactor?: 'device' | 'host';
  /**
   * Where the core νI + BᵀB + jI is factored: 'device' (double-float `deviceCholeskyDouble` on the Gram kept there,
   * the default where it fits one storage binding) or 'host' (float64 WASM from the Gram read back).
   */
  coreFactor?: 'device' | 'host';
  /** Called with the build's stages (ms since the start) — long builds report progress. */
  onProgress?: (stage: { stage: string; elapsedMs: number }) => void;
}

/** DeviceLandmarkOptions, checked by `parseOptions`, for an n×n K. */
function deviceLandmarkSpec(n: number) {
  return {
    rank: optional(rankBelow(n)),
    shift: shiftField,
    landmarks: withDefault(oneOf('farthest-point', 'uniform'), 'farthest-point'),
    seed: seedField,
    tau: withDefault(nonNegativeNumber, DEFAULT_DEVICE_TAU),
    jitter: optional(nonNegativeNumber),
    whiteningJitter: optional(finiteNumber({ above: 0, below: 1 })),
    landmarkOrder: optional(oneOf('device', 'host')),
    whiteningFactor: withDefault(oneOf('device', 'host'), 'device'),
    coreFactor: optional(oneOf('device', 'host')),
    onProgress: optional(func),
  } satisfies Record<keyof DeviceLandmarkOptions, unknown>;
}

/** The largest default m (K̃_nm takes 4·n·m bytes of device memory: 32 GiB at n = 2²⁰). */
export const DEFAULT_DEVICE_LANDMARKS = 8192;
/** The smallest m the default halves down to when the device runs out of memory. */
export const MIN_DEVICE_LANDMARKS = 512;

/**
 * The default m: the power of two nearest √(64n), at most `DEFAULT_DEVICE_LANDMARKS` and n − 1. Why √n: the
 * whitening and the Gram cost n·m² each and a product n², so m ∝ √n keeps the build at a fixed number of products
 * (≈ 15 compensated products at n = 2²⁰, m = 8192 on the H100). There, at α = 10⁻³, m = 8192 took CG 12 iterations
 * (24 s build, 44 s in all), m = 6144 17 (18 s build, 43 s), m = 4096 65 (bench/RESULTS.md).
 */
export function defaultDeviceLandmarks(n: number): number {
  return Math.min(n - 1, DEFAULT_DEVICE_LANDMARKS, 2 ** Math.round(Math.log2(Math.sqrt(64 * n))));
}
export const DEFAULT_DEVICE_TAU = 0;
/** Lanczos steps of `coreBottom`. */
export const GRAM_FLOOR_STEPS = 6;
/** The jitter's margin over the measured bottom of νI + E. */
export const GRAM_FLOOR_SAFETY = 2;
/**
 * The least jitter, as a multiple of max (BᵀB)_aa: a floor under the Lanczos estimate, whose Ritz value can sit above
 * the bottom of a dense cluster. At n = 2²⁰, m = 8192, α = ν = 10⁻³ (H100) it is 5.9·10⁻⁵ = 0.06ν, and the measured
 * bottom (0.87ν) needs none. Uniform landmarks, which needed 10⁻⁷ with the unwhitened core (their close pairs leave
 * K_mm nearly singular), do with this floor too now that δ regularises K_mm: llvmpipe, bench/device-jitter.ts
 * 12000 1000 uniform, 328 iterations (332 for float64 host landmarks).
 */
export const MIN_RELATIVE_JITTER = 1e-8;

/**
 * P's shift ν is at least this many times the core jitter j (the host landmarks' rule, `landmarkShift`, with the
 * device's ratio). Why: S = νI + BᵀB + jI makes P⁻¹ the inverse of νI + c·BBᵀ, c = ν/(ν + j), and j lifts the
 * bottom of the float32 Gram's rounding E (`coreBottom`), ≈ 2·10⁻⁸·max (BᵀB)_aa whatever μ: at a tiny μ (the
 * solve's α) c fell to 10⁻³ and below (σ = 1, n = 600, m = 100: P⁻¹ overshot K + μI 376-fold on K's top direction at 10⁻⁸), P's landmarks
 * were all but dropped, silently. Measured on llvmpipe (Gaussian σ = 0.4, n = 800 in [0,1]³, m = 200, CG on float64
 * products): α = 10⁻⁸, rtol 10⁻⁴: 592 iterations with ν = μ (j = 6.3·10⁻⁶), 478 with the floor (ν = 1.3·10⁻⁵);
 * α = 10⁻⁷, rtol 10⁻⁵: 231 and 191; α = 10⁻⁸, rtol 10⁻⁵ (2.4 times float64's ε·‖A‖·‖x‖) both stagnate near that
 * floor, ν = μ after 750 iterations blaming "the products' accuracy". Fixed ν there: 3·10⁻⁶ (c = 0.7) stagnated,
 * 10⁻⁵ (c = 0.88) converged in 534, 3·10⁻⁵ in 651, 10⁻⁴ in 772 (the host's P in 336). Not the host's
 * LANDMARK_MIN_SHIFT_PER_JITTER = 1000: its j bounds float64 rounding (≈ 10⁻¹³·max S_aa), this one is measured on a
 * float32 Gram and floored at MIN_RELATIVE_JITTER, so 1000·j would raise ν at moderate μ (n = 2²⁰, μ = 10⁻³ on the
 * H100: j = 0.06ν, where 10 leaves ν = μ).
 */
export const DEVICE_MIN_SHIFT_PER_JITTER = 10;

/**
 * The shift ν the core is built with, from the ν asked for (μ, or τ·λ̂), `bottom` (the least eigenvalue of νI + E
 * there, `coreBottom`) and the least jitter: ν itself where it is at least DEVICE_MIN_SHIFT_PER_JITTER times the
 * jitter it needs (max(GRAM_FLOOR_SAFETY·max(0, −bottom), least)), else the rounding floor — the least ν' with
 * ν'I + E lifted by a margin (ν' ≥ GRAM_FLOOR_SAFETY·(−λ_min E)), where the jitter is `least`, and ν' at least
 * DEVICE_MIN_SHIFT_PER_JITTER times that.
 */
export function deviceCoreShift(nu: number, bottom: number, least: number): number {
  const jitter = Math.max(GRAM_FLOOR_SAFETY * Math.max(0, -bottom), least);
  if (!(nu < DEVICE_MIN_SHIFT_PER_JITTER * jitter)) return nu; // (a NaN bottom fails the factor, as before)
  return Math.max(landmarkShift(nu, least, DEVICE_MIN_SHIFT_PER_JITTER), GRAM_FLOOR_SAFETY * (nu - bottom));
}

/**
 * The smallest eigenvalue of S₀ − BᵀB = νI + E (S₀ = νI + G, G = BᵀB as the device computed it, E its rounding),
 * estimated by `steps` Lanczos steps (full reorthogonalisation, seeded start) on w ↦ νw + Gw − Bᵀ(Bw): all three
 * products on the device in double-float arithmetic (G the Gram `whiten` kept there, B's float32 entries), ≈ 10⁻¹⁴
 * relative, far below E. P⁻¹ is positive definite iff νI + E + jI ≻ 0: this is what the jitter j has to lift. Why
 * measure and not bound E: the rounding bound (≈ 33u·trace BᵀB ≈ 2 at n = 2²⁰) is 2000 times ν, the measured bottom
 * of E −1.3·10⁻⁴. Why G on the device: the host's m² product per step took most of the 2.9 s six steps took on the
 * H100 machine, and it kept the main thread from the core's factorisation, which now runs alongside.
 */
export async function coreBottom(block: DeviceKernelBlock, nu: number, steps = GRAM_FLOOR_STEPS, seed = 0): Promise<number> {
  const { m } = block;
  const k = Math.min(steps, m);
  const rng = mulberry32(seed ^ 0x2545f491);
  const V: Float64Array[] = [];
  let v = Float64Array.from({ length: m }, () => rng() - 0.5);
  let nv = norm(v);
  for (let a = 0; a < m; a++) v[a]! /= nv;
  const diag: number[] = [];
  const off: number[] = [];
  for (let j = 0; j < k; j++) {
    V.push(v);
    const w = await block.gramRounding(v);
    for (let a = 0; a < m; a++) w[a] = nu * v[a]! + w[a]!;
    let alpha = 0;
    for (let a = 0; a < m; a++) alpha += w[a]! * v[a]!;
    diag.push(alpha);
    // full reorthogonalisation, twice (the basis is short)
    for (let pass = 0; pass < 2; pass++) {
      for (const u of V) {
        let c = 0;
        for (let a = 0; a < m; a++) c += w[a]! * u[a]!;
        for (let a = 0; a < m; a++) w[a]! -= c * u[a]!;
      }
    }
    nv = norm(w);
    if (j === k - 1 || !(nv > 0)) break;
    off.push(nv);
    for (let a = 0; a < m; a++) w[a]! /= nv;
    v = w;
  }
  return tridiagonalEigen(diag, off.slice(0, diag.length - 1)).eigenvalues[0]!;
}

/**
 * The whitening factor's regularisation: RᵀR = K_mm + δ·max K_aa·I (L = Rᵀ) with
 *
 *   δ = max(WHITENING_MIN_RELATIVE_JITTER, min(WHITENING_FLOAT32_JITTER, WHITENING_SHIFT_FACTOR·ν·m / (n·max K_aa))).
 *
 * Why: B = K̃_nm L⁻ᵀ is formed by float32 substitution, whose error grows with L's condition √(max K_aa/δ) and
 * spoils the directions P is meant to catch. On the H100 (n = 2²⁰, m = 8192, α = ν = 10⁻³, Gaussian σ = 0.1, rtol
 * 10⁻⁶) δ = 10⁻⁶ took 30 CG iterations, 10⁻⁵ 14, 3·10⁻⁵ 13, 10⁻⁴ 14 (bench/RESULTS.md): WHITENING_FLOAT32_JITTER is
 * where the substitution stopped costing iterations. More than that only drops directions: δ drops K_mm's below
 * δ·max K_aa, which carry K's eigenvalues up to ≈ δ·max K_aa·n/m. On llvmpipe, for a Laplacian kernel (n = 2000,
 * m = 400, σ = 0.3, α = 10⁻², CG on float64 products to 10⁻⁸) δ = 8·10⁻³ took 70 iterations, 10⁻³ 65, 10⁻⁴ to 10⁻⁶
 * 58 (float64 host landmarks 52); a Gaussian (σ = 0.15, α = 10⁻³) took 93–94 for every δ from 10⁻⁶ to 8·10⁻⁴. Hence
 * never more than the float32 need, nor more than what keeps those eigenvalues within a few ν.
 */
export const WHITENING_FLOAT32_JITTER = 3e-5;
/** δ ≤ WHITENING_SHIFT_FACTOR·ν·m/(n·max K_aa): the K eigenvalues δ drops stay below ≈ 4ν. */
export const WHITENING_SHIFT_FACTOR = 4;
/** The least δ: below it float32's substitution error dominates whatever δ would resolve (≈ 16u). */
export const WHITENING_MIN_RELATIVE_JITTER = 1e-6;

/** The default δ (see WHITENING_FLOAT32_JITTER). */
export function defaultWhiteningJitter(nu: number, m: number, n: number, maxK: number): number {
  const dropped = (WHITENING_SHIFT_FACTOR * nu * m) / (n * maxK);
  return Math.max(WHITENING_MIN_RELATIVE_JITTER, Math.min(WHITENING_FLOAT32_JITTER, dropped));
}

/**
 * K̃_mm on the device: the same float32 entries K̃_nm holds at the landmarks' own rows (the kernel-block program on
 * the landmarks alone; row a: k̃(y_a, y_b)), so that B whitens exactly the entries it is formed from.
 */
async function deviceKmm(ctx: GpuContext, formula: Node, idx: Int32Array): Promise<DeviceKernelBlock> {
  const m = idx.length;
  const node = restrictRows(formula, { i: idx, j: idx });
  return DeviceKernelBlock.create(ctx, node, collectVariables(node), m, m);
}

/** The whitening factor and the δ it was built with. */
interface WhiteningFactor {
  /** R (RᵀR = K̃_mm + δ·max K_aa·I): on the device, or row-major float64 from the host. */
  readonly R: DeviceCholeskyFactor | Float64Array;
  readonly delta: number;
}

/**
 * R = chol(K̃_mm + δ·max K_aa·I) on the device in float32 (`deviceCholesky`), δ from `start` raised tenfold while it
 * does not factor. Why there and in float32: on the H100 machine the host's float64 factorisation of m = 8192 took
 * 4.5 s on the build's critical path (its 16-core pool: 4.0 s with 16 threads, 7.6 s with 4), and float32 is what
 * the substitution that uses R runs in anyway — its backward error (≈ u·|K̃_mm| with the compensated update) sits
 * far below δ·max K_aa, the least eigenvalue it must not disturb (src/gpu/dense/cholesky.ts).
 */
async function deviceWhiteningFactor(
  ctx: GpuContext, Kmm: GPUBuffer, m: number, start: (maxK: number) => number, fn: string,
): Promise<WhiteningFactor> {
  const maxK = (await deviceDiagonal(ctx, Kmm, m)).reduce((a, v) => Math.max(a, v), 0);
  if (!(maxK > 0 && Number.isFinite(maxK))) throw new RangeError(`${fn}: K_mm's largest diagonal entry must be positive and finite, got ${maxK}`);
  // δ relative to max K_aa: up to 1, where the jitter swamps K_mm (`factorWithJitter`, the host landmarks' policy)
  const { factor: R, jitter: delta } = await factorWithJitter(
    start(maxK), 1, (d) => deviceCholesky(ctx, Kmm, m, d * maxK), (d) => notFactored(fn, d, maxK),
  );
  return { R, delta };
}

function notFactored(fn: string, delta: number, maxK: number): Error {
  return new Error(`${fn}: K_mm + δI did not factor even with δ = ${delta.toPrecision(3)}·max K_aa (max K_aa ${maxK.toPrecision(3)}; is K positive semidefinite?)`);
}

/**
 * The same on the host in float64 (WASM), for K̃_mm too large for one storage binding (or `whiteningFactor: 'host'`). K_mm's diagonal is shifted in
 * place (it is not used afterwards).
 */
async function hostWhiteningFactor(
  Kmm: Float64Array, m: number, start: (maxK: number) => number, fn: string,
): Promise<WhiteningFactor> {
  let maxK = 0;
  for (let a = 0; a < m; a++) maxK = Math.max(maxK, Kmm[a * m + a]!);
  if (!(maxK > 0 && Number.isFinite(maxK))) throw new RangeError(`${fn}: K_mm's largest diagonal entry must be positive and finite, got ${maxK}`);
  let shifted = 0;
  const { factor: R, jitter: delta } = await factorWithJitter(start(maxK), 1, (d) => {
    for (let a = 0; a < m; a++) Kmm[a * m + a]! += d * maxK - shifted;
    shifted = d * maxK;
    return choleskyUpperWasm(Kmm, m);
  }, (d) => notFactored(fn, d, maxK));
  return { R, delta };
}

/**
 * Whitens the block on the device (K̃_mn → Bᵀ = R⁻ᵀK̃_mn) and returns its Gram G₀ = BᵀB (m×m, host float64) with
 * max (BᵀB)_aa, the jitter's scale. ν is added when the core is factored (`factorCore`): the floor may raise it.
 */
async function whitenedCore(
  block: DeviceKernelBlock, R: DeviceCholeskyFactor | Float64Array, keepGram: boolean,
): Promise<{ G0: Float64Array; maxDiag: number }> {
  const { m } = block;
  const G0 = await block.whiten(R, { keepGram });
  let maxDiag = 0;
  for (let a = 0; a < m; a++) maxDiag = Math.max(maxDiag, G0[a * m + a]!);
  return { G0, maxDiag };
}

function coreNotFactored(fn: string, jitter: number, maxDiag: number): Error {
  return new Error(`${fn}: νI + BᵀB did not factor even with a jitter of ${jitter.toPrecision(3)} (max diag ${maxDiag.toPrecision(3)})`);
}

/** G₀ + (ν + j)I factored (host, WASM), the jitter raised tenfold while it does not factor (`factorWithJitter`). */
async function factorCore(G0: Float64Array, m: number, nu: number, jitter: number, maxDiag: number, fn: string): Promise<FactoredCore> {
  // G₀ + (ν + j)I in place, G₀'s diagonal restored bit for bit after (G₀ is kept for `stiffen`; a copy would be 8m² bytes)
  const diagonal = Float64Array.from({ length: m }, (_, a) => G0[a * m + a]!);
  const withJitter = async (j: number) => {
    for (let a = 0; a < m; a++) G0[a * m + a] = diagonal[a]! + nu + j;
    try {
      return await choleskyUpperWasm(G0, m);
    } finally {
      for (let a = 0; a < m; a++) G0[a * m + a] = diagonal[a]!;
    }
  };
  const { factor: R, jitter: j } = await factorWithJitter(jitter, maxDiag, withJitter, (last) => coreNotFactored(fn, last, maxDiag));
  let logdet = 0;
  for (let a = 0; a < m; a++) logdet += 2 * Math.log(R[a * m + a]!);
  return { solver: await CholeskySolver.create(R, m), jitter: j, logdet };
}

/**
 * νI + BᵀB + jI factored on the device in double-float (`deviceCholeskyDouble` on the Gram `whitenOnDevice` kept
 * there), the jitter raised tenfold while it does not factor; the factor stays there for the applications' solves
 * (`DeviceCoreSolver`). Why: the host's float64 factorisation of m = 8192 took 3.9–4.6 s on the H100 machine's host,
 * the Gram's m² readback 1.6 s more, and each application's two host triangular solves 86 ms.
 */
async function factorCoreOnDevice(
  ctx: GpuContext, block: DeviceKernelBlock, nu: number, jitter: number, maxDiag: number, fn: string,
): Promise<FactoredCore> {
  const { m } = block;
  const G = block.gramPairs;
  if (!G) throw new Error(`${fn}: internal: the whitened Gram is not kept on the device`);
  const { factor: U, jitter: j } = await factorWithJitter(
    jitter, maxDiag, (jj) => deviceCholeskyDouble(ctx, G.hi, G.lo, m, nu + jj), (last) => coreNotFactored(fn, last, maxDiag),
  );
  try {
    const [hi, lo] = await Promise.all([deviceDiagonal(ctx, U.hi, m), deviceDiagonal(ctx, U.lo, m)]);
    let logdet = 0;
    for (let a = 0; a < m; a++) logdet += 2 * Math.log(hi[a]! + lo[a]!);
    return { solver: await block.coreSolver(U), jitter: j, logdet };
  } catch (error) {
    U.destroy();
    throw error;
  }
}

/** A factored core S = νI + BᵀB + jI: its solver, the jitter j, and log det S (from the factor's diagonal). */
interface FactoredCore {
  readonly solver: CholeskySolver | DeviceCoreSolver;
  readonly jitter: number;
  readonly logdet: number;
}

/** How the core νI + BᵀB + jI is factored (and refactored by `stiffen`): from the Gram kept on the device, or G₀ on the host. */
type CoreRefactor = (nu: number, jitter: number) => Promise<FactoredCore>;

/** Releases a core factor's solver that is not kept (a host factor's WASM memory, a device factor's buffers). */
function releaseCore(solver: FactoredCore['solver']): void {
  if (solver instanceof DeviceCoreSolver) solver.destroy();
  else solver.release();
}

// how much `stiffen` raises the jitter: the host landmarks' factor (one policy for both)
export { STIFFEN_FACTOR };

export class DeviceLandmarkPreconditioner extends Preconditioner {
  readonly method = 'device-landmarks' as const;
  /** m, the number of landmarks. */
  readonly rank: number;
  /** ν, the shift P is built with (≥ mu; above max(mu, tau·λ̂) where the rounding floor raised it: `deviceCoreShift`). */
  readonly nu: number;
  /** The diagonal jitter of the factored core (raised by `stiffen`). */
  get jitter(): number {
    return this.coreJitter;
  }
  readonly landmarks: Int32Array;
  /** Build stages: name and milliseconds. */
  readonly stages: readonly { stage: string; ms: number }[];


  private R: CholeskySolver | DeviceCoreSolver;
  private coreJitter: number;
  /** log det S of the factored core S = νI + BᵀB + jI. */
  private coreLogdet: number;

  constructor(
    n: number, shift: number, nu: number, factored: FactoredCore, landmarks: Int32Array,
    private readonly block: DeviceKernelBlock, stages: { stage: string; ms: number }[],
    /**
     * How the core νI + BᵀB + jI is refactored (`stiffen`), max (BᵀB)_aa, δ, and the ν asked for (μ or τ·λ̂), which
     * `nu` exceeds where the rounding floor raised it (`deviceCoreShift`).
     */
    private readonly core: { refactor: CoreRefactor; maxDiag: number; delta: number; requestedNu: number },
  ) {
    super(n, shift);
    this.R = factored.solver;
    this.coreJitter = factored.jitter;
    this.coreLogdet = factored.logdet;
    this.rank = landmarks.length;
    this.nu = nu;
    this.landmarks = landmarks;
    this.stages = stages;
  }

  /** δ of the whitening factor RᵀR = K_mm + δ·max K_aa·I, relative to max K_aa. */
  get whiteningJitter(): number {
    return this.core.delta;
  }

  protected override async applyBlock(X: Tall): Promise<Tall> {
    const { rows: n, cols: q } = X;
    const out = tall(n, q);
    const col = new Float64Array(n);
    for (let c = 0; c < q; c++) {
      for (let i = 0; i < n; i++) col[i] = X.data[i * q + c]!;
      if (this.R instanceof DeviceCoreSolver) {
        const w = await this.block.woodbury(col, this.R, this.nu);
        for (let i = 0; i < n; i++) out.data[i * q + c] = w[i]!;
        continue;
      }
      const y = await this.block.applyT(col);
      this.R.solveInPlace(y, 1);
      const z = await this.block.apply(y);
      for (let i = 0; i < n; i++) out.data[i * q + c] = (col[i]! - z[i]!) / this.nu;
    }
    return out;
  }

  /**
   * Refactors the core νI + BᵀB + jI with the jitter raised STIFFEN_FACTOR-fold (from the kept Gram, `stiffenedJitter`):
   * for when CG finds P⁻¹ not positive definite (`LinearOperator.solve` calls it then and goes on from its iterate).
   * The preconditioner's one mutation, so that the cached instance serves later solves as it is.
   */
  async stiffen(): Promise<void> {
    const { refactor, maxDiag } = this.core;
    const core = await refactor(this.nu, stiffenedJitter(this.coreJitter, MIN_RELATIVE_JITTER * maxDiag));
    releaseCore(this.R);
    this.R = core.solver;
    this.coreJitter = core.jitter;
    this.coreLogdet = core.logdet;
  }

  /**
   * log det P of the P whose inverse this applies. With S = νI + BᵀB + jI, P⁻¹ = (1/ν)(I − B S⁻¹ Bᵀ) is, by Woodbury,
   * the inverse of P = νI + c·BBᵀ with c = ν/(ν + j) (the jitter shrinks the low-rank term), so by the matrix
   * determinant lemma log det P = n log ν + log det(I + BᵀB/(ν + j)) = n log ν + log det S − m log(ν + j). Taken for
   * BᵀB is the Gram as the device computed it (S's factor is of that Gram), which differs from B's exact Gram by its
   * rounding E: the neglected term, log det(I + E/(ν + j)), is below m·|E|/(ν + j) (`coreBottom` measures E's bottom).
   */
  override logdet(): number {
    const [n] = this.shape;
    return n * Math.log(this.nu) + this.coreLogdet - this.rank * Math.log(this.nu + this.coreJitter);
  }

  /**
   * k probes z = √c·B g + √ν·ε (g Gaussian in R^m, ε Rademacher in R^n, c = ν/(ν + j)): E[z zᵀ] = c·BBᵀ + νI = P. B g
   * is the same double-float product of B's float32 entries that P⁻¹ applies, one submission per probe.
   */
  override async sampleProbes(k: number, rng: () => number): Promise<Tall> {
    const [n] = this.shape;
    const m = this.rank;
    const out = rademacher(n, k, rng);
    const sn = Math.sqrt(this.nu);
    const sc = Math.sqrt(this.nu / (this.nu + this.coreJitter));
    const g = new Float64Array(m);
    for (let c = 0; c < k; c++) {
      const Bg = await this.block.apply(fillGaussian(g, rng));
      for (let i = 0; i < n; i++) out.data[i * k + c] = sn * out.data[i * k + c]! + sc * Bg[i]!;
    }
    return out;
  }

  /** Frees the factor's device memory (at once); the preconditioner cannot be applied afterwards. */
  override async dispose(): Promise<void> {
    if (this.R instanceof DeviceCoreSolver) this.R.destroy();
    this.block.destroy();
    await super.dispose();
  }

  protected override describe(): string {
    const { requestedNu } = this.core;
    const nu = this.nu > requestedNu ? raisedShift(this.nu, requestedNu) : this.nu.toPrecision(3);
    return `DeviceLandmarkPreconditioner(m=${this.rank}, shift=${this.mu}, ν=${nu}, jitter=${this.jitter.toPrecision(2)}, δ=${this.whiteningJitter.toExponential(1)})`;
  }
}

/** The parsed options of a build (`deviceLandmarkSpec`). */
type DeviceLandmarkBuild = ReturnType<typeof parseDeviceLandmarkOptions>;

function parseDeviceLandmarkOptions(fn: string, n: number, options: DeviceLandmarkOptions) {
  return parseOptions(fn, options, deviceLandmarkSpec(n));
}

/**
 * The build's stages as they end: each `mark` records the milliseconds since the one before and reports the stage to
 * `onProgress` (an async one is awaited: its rejection rejects the build).
 */
class BuildStages {
  readonly list: { stage: string; ms: number }[] = [];
  private readonly t0 = performance.now();
  private last = this.t0;

  constructor(private readonly onProgress: DeviceLandmarkOptions['onProgress']) {}

  mark(stage: string): Promise<void> {
    const now = performance.now();
    this.list.push({ stage, ms: now - this.last });
    this.last = now;
    return settleCallback(this.onProgress?.({ stage, elapsedMs: now - this.t0 }));
  }

  get elapsedMs(): number {
    return performance.now() - this.t0;
  }
}

/**
 * The landmarks, K̃_nm on the device and the whitening factor of K_mm: K_mm is factored (on the device, or the host)
 * while K̃_nm's buffers are allocated and it is formed. Where K̃_nm does not fit the device, the default m halves until
 * it does; an m the caller chose is kept (the error says why it failed).
 */
async function landmarksAndWhitening(
  fn: string, ctx: GpuContext, A: KernelOperator, o: DeviceLandmarkBuild, nu: number, stages: BuildStages,
): Promise<{ idx: Int32Array; block: DeviceKernelBlock; whitening: WhiteningFactor }> {
  const n = A.shape[0];
  let m = o.rank ?? defaultDeviceLandmarks(n);
  const orderWhere = o.landmarkOrder ?? (ctx.adapter.software ? 'host' : 'device');
  const startDelta = (mm: number) => (maxK: number) => o.whiteningJitter ?? defaultWhiteningJitter(nu, mm, n, maxK);
  for (;;) {
    const idx = o.landmarks === 'uniform' ? selectUniform(n, m, o.seed)
      : orderWhere === 'device' ? await deviceFarthestPointOrder(ctx, kernelPointRows(A), m, farthestPointStart(n, o.seed))
        : farthestPointLandmarks(A, m, o.seed);
    await stages.mark(`${m} ${o.landmarks} landmarks${o.landmarks === 'farthest-point' ? ` (${orderWhere})` : ''}`);
    const Kmm = await deviceKmm(ctx, A.formula.node, idx);
    const node = restrictRows(A.formula.node, { j: idx });
    const creating = DeviceKernelBlock.create(ctx, node, collectVariables(node), n, m);
    creating.catch(() => undefined); // awaited below
    let factoring: Promise<WhiteningFactor>;
    if (o.whiteningFactor === 'device' && Kmm.buffer) {
      factoring = deviceWhiteningFactor(ctx, Kmm.buffer, m, startDelta(m), fn).finally(() => Kmm.destroy());
    } else {
      factoring = Kmm.rows(Array.from({ length: m }, (_, a) => a)).finally(() => Kmm.destroy())
        .then((rows) => hostWhiteningFactor(Float64Array.from(rows), m, startDelta(m), fn));
    }
    factoring.catch(() => undefined); // awaited below
    let block: DeviceKernelBlock;
    try {
      block = await creating;
    } catch (error) {
      const R = (await factoring.catch(() => undefined))?.R;
      if (R && !(R instanceof Float64Array)) R.destroy();
      if (!(error instanceof GpuOutOfMemoryError) || o.rank !== undefined || m / 2 < MIN_DEVICE_LANDMARKS) throw error;
      m /= 2;
      await stages.mark(`out of device memory: m halved to ${m}`);
      continue;
    }
    await stages.mark('K_mn on the device');
    let whitening: WhiteningFactor;
    try {
      whitening = await factoring;
    } catch (error) {
      block.destroy();
      throw error;
    }
    await stages.mark(`Cholesky of K_mm + ${whitening.delta.toExponential(1)}·max K_aa (${whitening.R instanceof Float64Array ? 'host, WASM' : 'device, float32'})`);
    return { idx, block, whitening };
  }
}

/**
 * B = K̃_nm L⁻ᵀ whitened and its Gram: the core on the device where its Gram fits one binding (else, or when asked, on
 * the host from G₀). Returns how the core νI + BᵀB + jI is factored for a shift and jitter, and max (BᵀB)_aa. The
 * whitening factor is released either way.
 */
async function whitenedCoreFactor(
  fn: string, ctx: GpuContext, block: DeviceKernelBlock, whitening: WhiteningFactor, o: DeviceLandmarkBuild, m: number,
): Promise<{ coreWhere: 'device' | 'host'; maxDiag: number; refactor: CoreRefactor }> {
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const coreWhere = o.coreFactor ?? (4 * m * m <= maxBinding ? 'device' : 'host');
  try {
    if (coreWhere === 'device') {
      await block.whitenOnDevice(whitening.R);
      const G = block.gramPairs!;
      const [dh, dl] = await Promise.all([deviceDiagonal(ctx, G.hi, m), deviceDiagonal(ctx, G.lo, m)]);
      const maxDiag = dh.reduce((acc, v, a) => Math.max(acc, v + dl[a]!), 0);
      return { coreWhere, maxDiag, refactor: (shift, jitter) => factorCoreOnDevice(ctx, block, shift, jitter, maxDiag, fn) };
    }
    const whitened = await whitenedCore(block, whitening.R, o.jitter === undefined);
    const { maxDiag } = whitened;
    return { coreWhere, maxDiag, refactor: (shift, jitter) => factorCore(whitened.G0, m, shift, jitter, maxDiag, fn) };
  } finally {
    if (!(whitening.R instanceof Float64Array)) whitening.R.destroy();
  }
}

/**
 * The factored core at the given jitter, or at what lifts the measured bottom of νI + E, at least the floor — with ν
 * raised to the rounding floor where it is below DEVICE_MIN_SHIFT_PER_JITTER times that (`deviceCoreShift`). With the
 * core on the device the Lanczos runs first (both are device work: alongside, its steps queued behind the
 * factorisation's one submission and took 2.41 s on the H100, where in turn the two take 0.4–0.6 + 0.5 s); with the
 * core on the host it runs while the host factors G₀ + νI at the floor (the jitter a positive bottom asks for), and a
 * negative bottom or a raised ν refactors. Returns the factor and the ν it was built with.
 */
async function settledCore(
  block: DeviceKernelBlock, core: { coreWhere: 'device' | 'host'; maxDiag: number; refactor: CoreRefactor }, requestedNu: number,
  o: DeviceLandmarkBuild, stages: BuildStages,
): Promise<{ factored: FactoredCore; nu: number }> {
  const { coreWhere, maxDiag, refactor } = core;
  // a jitter the caller chose is used as given, ν with it (the floor is for the jitter the build measures)
  if (o.jitter !== undefined) return { factored: await refactor(requestedNu, o.jitter * maxDiag), nu: requestedNu };
  const least = MIN_RELATIVE_JITTER * maxDiag;
  let nu = requestedNu;
  const settle = async (bottom: number): Promise<number> => {
    nu = deviceCoreShift(requestedNu, bottom, least);
    const raised = nu > requestedNu;
    const at = bottom + (nu - requestedNu); // the bottom of νI + E at the raised ν
    const jitter = Math.max(GRAM_FLOOR_SAFETY * Math.max(0, -at), least);
    await stages.mark(`bottom of νI + E measured on the device (${bottom.toPrecision(3)})${raised ? `: ν raised to ${nu.toPrecision(3)} (rounding floor)` : ''}: jitter ${jitter.toPrecision(3)}`);
    return jitter;
  };
  if (coreWhere === 'device') {
    const jitter = await settle(await coreBottom(block, requestedNu, GRAM_FLOOR_STEPS, o.seed));
    return { factored: await refactor(nu, jitter), nu };
  }
  const [bottom, first] = await Promise.all([
    coreBottom(block, requestedNu, GRAM_FLOOR_STEPS, o.seed), refactor(requestedNu, least).catch((error: unknown) => ({ error })),
  ]);
  block.releaseGram();
  const jitter = await settle(bottom);
  if ('error' in first) {
    if (nu === requestedNu) throw first.error;
    return { factored: await refactor(nu, jitter), nu };
  }
  if (nu === requestedNu && first.jitter >= jitter) return { factored: first, nu };
  releaseCore(first.solver);
  return { factored: await refactor(nu, jitter), nu };
}

export async function deviceLandmarkPreconditioner(A: LinearOperator, options: DeviceLandmarkOptions): Promise<DeviceLandmarkPreconditioner> {
  const fn = 'deviceLandmarkPreconditioner';
  if (!(A instanceof KernelOperator) || !A.symmetric) {
    throw new TypeError(`${fn}: needs a symmetric KernelOperator (landmarks are rows of its point set), got ${describeOperand(A)}`);
  }
  const n = A.shape[0];
  const o = parseDeviceLandmarkOptions(fn, n, options);
  if (A.backend !== 'gpu') {
    throw new TypeError(`${fn}: needs a KernelOperator on the GPU backend (its factor lives on the device), got ${A}`);
  }
  const stages = new BuildStages(options.onProgress);
  const mu = o.shift;
  let nu = mu;
  if (o.tau > 0) {
    nu = Math.max(mu, o.tau * (await onesRayleighEstimate(A))); // λ̂ = ‖K1‖/‖1‖ ≤ λ_max
    await stages.mark('λ̂ (one product)');
  }
  const ctx = await acquireGpu();
  // the build's fixed programs compile in the background while the landmarks are chosen
  warmCholeskyPipelines(ctx).catch(() => undefined);
  warmBlockPipelines(ctx);
  const { idx, block, whitening } = await landmarksAndWhitening(fn, ctx, A, o, nu, stages);
  try {
    const core = await whitenedCoreFactor(fn, ctx, block, whitening, o, idx.length);
    await stages.mark('B = K_nm L⁻ᵀ and BᵀB on the device');
    const settled = await settledCore(block, core, nu, o, stages);
    await stages.mark(`Cholesky of νI + BᵀB (${core.coreWhere === 'device' ? 'device, double-float' : 'host, WASM'})`);
    const P = new DeviceLandmarkPreconditioner(n, mu, settled.nu, settled.factored, idx, block, stages.list, {
      refactor: core.refactor, maxDiag: core.maxDiag, delta: whitening.delta, requestedNu: nu,
    });
    P.buildMs = stages.elapsedMs;
    return P;
  } catch (error) {
    block.destroy();
    throw error;
  }
}
