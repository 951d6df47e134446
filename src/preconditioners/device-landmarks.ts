/**
 * Landmark Nyström preconditioner with its n×m factor on the GPU, for kernel solves too large for host
 * algebra (n ≈ 10⁶, m in the thousands). With m landmarks (seeded uniform rows), K̃_nm formed on the device in
 * float32 (`DeviceKernelBlock`) and G = K̃_mn K̃_nm from it (compensated, returned as hi + lo):
 *
 *   P = K̃_nm K_mm⁻¹ K̃_mn + νI,   P⁻¹ = (1/ν) (I − K̃_nm S⁻¹ K̃_mn),   S = ν K_mm + G = RᵀR  (float64, host),
 *
 * with ν = max(μ, τ·λ̂), λ̂ = ‖K1‖/‖1‖ ≤ λ_max(K) from one product. Why ν and not μ (the solve's α): P⁻¹r is
 * r minus a float32 product K̃_nm S⁻¹ K̃_mn r, divided by ν; S⁻¹ amplifies that product's rounding by S's
 * condition, which grows as ν falls (K_mm is numerically singular for smooth kernels). Measured on llvmpipe
 * (Gaussian, n = 1,200 and 4,000, m = 300–800): τ = 10⁻³ kept P⁻¹ positive definite in every case, τ = 10⁻⁴
 * failed in two of four (CG stopped on rᵀP⁻¹r < 0 after 4 and 78 iterations), ν = μ = 10⁻³ failed at once.
 * The price: P⁻¹(K + μI) has eigenvalues in [μ/ν′, 1], ν′ = max(ν, λ_{m+1}) — ν bounds the condition number
 * it leaves, ν/μ. At n = 4,000, σ = 0.1, α = 10⁻², m = 800: 42 CG iterations to rtol 10⁻³ against 290.
 * S is positive definite when νK_mm + (G's rounding) is; a diagonal jitter, raised tenfold until the
 * Cholesky factorisation succeeds, covers that rounding.
 *
 * Each application: one upload of the residual, K̃_mn r on the device (m values back), two triangular solves
 * with R on the host (2m² flops), K̃_nm w on the device (n values back).
 */
import { compileScalarJs } from '../formula/emit-js.js';
import { collectVariables } from '../formula/analyze.js';
import { acquireGpu } from '../gpu/device.js';
import { DeviceKernelBlock } from '../gpu/tall.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { CholeskySolver, choleskyUpperWasm } from '../cpu/dense-cholesky.js';
import { tall, type Tall } from './dense.js';
import { Preconditioner, checkRank, checkSeed, onesRayleighEstimate, positiveShift } from './common.js';
import { kernelBlock, restrictRows } from './kernel-access.js';
import { selectUniform } from './landmarks.js';

export interface DeviceLandmarkOptions {
  /** m, the number of landmarks (default min(n − 1, 2048)). */
  rank?: number;
  /** P approximates A + shift·I (the solve's α). */
  shift: number;
  /** Seed of the uniform landmark choice (default 0). */
  seed?: number;
  /** ν = max(shift, tau·λ̂) (default 1e-3; see the module comment). */
  tau?: number;
  /** Called with the build's stages (ms since the start) — long builds report progress. */
  onProgress?: (stage: { stage: string; elapsedMs: number }) => void;
}

/** Default m: at n = 2²⁰ the host Cholesky of the m×m core took 8.3 s for m = 2048 in JS (≈ 8× that for 4096); it is WASM SIMD since (see `choleskyUpperWasm`). */
export const DEFAULT_DEVICE_LANDMARKS = 2048;
export const DEFAULT_DEVICE_TAU = 1e-3;

export class DeviceLandmarkPreconditioner extends Preconditioner {
  readonly method = 'device-landmarks' as const;
  /** m, the number of landmarks. */
  readonly rank: number;
  /** ν, the shift P is built with (≥ mu). */
  readonly nu: number;
  /** The diagonal jitter the Cholesky factorisation of S needed. */
  readonly jitter: number;
  readonly landmarks: Int32Array;
  /** Build stages: name and milliseconds. */
  readonly stages: readonly { stage: string; ms: number }[];

  constructor(
    n: number, shift: number, nu: number, jitter: number, landmarks: Int32Array,
    private readonly block: DeviceKernelBlock, private readonly R: CholeskySolver, stages: { stage: string; ms: number }[],
  ) {
    super(n, shift);
    this.rank = landmarks.length;
    this.nu = nu;
    this.jitter = jitter;
    this.landmarks = landmarks;
    this.stages = stages;
  }

  protected override async applyBlock(X: Tall): Promise<Tall> {
    const { rows: n, cols: q } = X;
    const out = tall(n, q);
    const col = new Float64Array(n);
    for (let c = 0; c < q; c++) {
      for (let i = 0; i < n; i++) col[i] = X.data[i * q + c]!;
      const y = await this.block.applyT(col);
      this.R.solveInPlace(y, 1);
      const z = await this.block.apply(y);
      for (let i = 0; i < n; i++) out.data[i * q + c] = (col[i]! - z[i]!) / this.nu;
    }
    return out;
  }

  /** Frees the factor's device memory; the preconditioner cannot be applied afterwards. */
  dispose(): void {
    this.block.destroy();
  }

  protected override describe(): string {
    return `DeviceLandmarkPreconditioner(m=${this.rank}, shift=${this.mu}, ν=${this.nu.toPrecision(3)}, jitter=${this.jitter.toPrecision(2)})`;
  }
}

export async function deviceLandmarkPreconditioner(A: LinearOperator, options: DeviceLandmarkOptions): Promise<DeviceLandmarkPreconditioner> {
  const fn = 'deviceLandmarkPreconditioner';
  if (!(A instanceof KernelOperator) || !A.symmetric) {
    throw new TypeError(`${fn}: needs a symmetric KernelOperator (landmarks are rows of its point set), got ${String(A)}`);
  }
  const n = A.shape[0];
  const mu = positiveShift(options.shift, fn);
  if (A.backend !== 'gpu') {
    throw new TypeError(`${fn}: needs a KernelOperator on the GPU backend (its factor lives on the device), got ${String(A)}`);
  }
  const m = checkRank(options.rank ?? Math.min(n - 1, DEFAULT_DEVICE_LANDMARKS), n, fn);
  const seed = checkSeed(options.seed ?? 0, fn);
  const tau = options.tau ?? DEFAULT_DEVICE_TAU;
  if (!(tau >= 0 && Number.isFinite(tau))) throw new RangeError(`${fn}: tau must be a finite number ≥ 0, got ${String(tau)}`);
  const t0 = performance.now();
  const stages: { stage: string; ms: number }[] = [];
  let last = t0;
  const mark = (stage: string) => {
    const now = performance.now();
    stages.push({ stage, ms: now - last });
    last = now;
    options.onProgress?.({ stage, elapsedMs: now - t0 });
  };

  const lambda = await onesRayleighEstimate(A); // λ̂ = ‖K1‖/‖1‖ ≤ λ_max
  const nu = Math.max(mu, tau * lambda);
  mark('λ̂ (one product)');

  const idx = selectUniform(n, m, seed);
  const node = restrictRows(A.formula.node, { j: idx });
  const ctx = await acquireGpu();
  const block = await DeviceKernelBlock.create(ctx, node, collectVariables(node), n, m);
  mark('K_mn on the device');
  try {
    const G = await block.gram();
    mark('G = K_mn K_nm');
    const Kmm = kernelBlock(compileScalarJs(A.formula.node), idx, idx);
    const S = new Float64Array(m * m);
    let maxDiag = 0;
    for (let t = 0; t < m * m; t++) S[t] = nu * Kmm[t]! + G[t]!;
    for (let a = 0; a < m; a++) maxDiag = Math.max(maxDiag, G[a * m + a]!);
    let jitter = 0;
    let R = await choleskyUpperWasm(S, m);
    // G's entries carry ≈ 1e-8 relative rounding: start the jitter there and raise it until S factors
    for (let level = 1e-9; !R && level < 1; level *= 10) {
      jitter = level * maxDiag;
      const Sj = Float64Array.from(S);
      for (let a = 0; a < m; a++) Sj[a * m + a]! += jitter;
      R = await choleskyUpperWasm(Sj, m);
    }
    if (!R) throw new Error(`${fn}: νK_mm + K_mnK_nm did not factor even with a jitter of 0.1·max diag (is K positive semidefinite?)`);
    const solver = await CholeskySolver.create(R, m);
    mark('Cholesky of νK_mm + G (host, WASM)');
    const P = new DeviceLandmarkPreconditioner(n, mu, nu, jitter, idx, block, solver, stages);
    P.buildMs = performance.now() - t0;
    return P;
  } catch (error) {
    block.destroy();
    throw error;
  }
}
