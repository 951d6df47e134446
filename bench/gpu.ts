/**
 * GPU Gaussian matvec benchmark (issue 4): K_ij = exp(−|x_i − x_j|² / (2σ²)), σ = 0.1, d = 3,
 * x uniform in [0,1]³, n = m. Prints one JSON line per measurement.
 *
 *   npm run build:bench && node build/bench/gpu.js [n …] [options]
 *
 * Sizes default to 65,536, 262,144 and 1,048,576. Options (kernel shape, see GpuKernelOptions):
 *   --rows=R --wg=N --tile=T --splits=S --columns=1|4|8 --target=W --no-kahan --direct (no expanded Gaussian)
 *   --compensated (double-float products: GpuKernelOptions.compensated, for every operator of the run)
 *   --profile (after the timed matvecs, 5 more with GPU timestamps: the compute pass's device time)
 *   --reps=K (timed matvecs per size, default 10)   --sample=S (rows checked against float64, default 256)
 *   --e2e / --no-e2e (eigsh(K, 5) and K.solve(b, 1e-2) at the largest size; default on)   --no-solve, --no-eigsh
 *   --precond-solve (issue 5: at the largest size, (K + αI)a = b with α = --alpha (1e-3), rtol --rtol (1e-5),
 *     first with the default preconditioner of K.solve (built and timed apart), then unpreconditioned, each capped
 *     at --maxiter-pre (150) / --maxiter-plain (300) iterations; the verified residual each reached)
 *   --no-refine (K.solve runs CG on compensated products throughout instead of refining float32 inner solves)
 *   --device-landmarks=m (the solves also run with deviceLandmarkPreconditioner, m landmarks, --tau (0))
 *   --solve-rtol=1e-3 --solve-maxiter=2000 --eigsh-tol=1e-6
 * Lines: {"kind":"device"…}, {"kind":"matvec", n, msPerMatvec, pairsPerS, relErr…},
 * (relErrSample: ‖y − y₆₄‖/‖y₆₄‖ over the sampled rows; maxRowErrScaled: max |y_i − y₆₄,i| / Σ_j K_ij|v_j|),
 * {"kind":"matmat4"…}, {"kind":"eigsh-progress"…}, {"kind":"eigsh"…}, {"kind":"solve-progress"…},
 * {"kind":"solve"…}.
 */
import {
  cg, deviceLandmarkPreconditioner, gaussianKernel, getBackendInfo, lastGpuProfile, mulberry32, setBackend, setGpuProfiling, shutdownCpuPool,
  type GpuKernelOptions, type GpuProfile, type KernelOperator,
} from 'lazylinalg';
import { Matrix } from 'ml-matrix';

const SIGMA = 0.1;
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const num = (name: string, dflt: number): number => (flag(name) === undefined ? dflt : Number(flag(name)));
const sizes = args.filter((a) => !a.startsWith('--')).map(Number).filter((n) => Number.isInteger(n) && n > 0);
const SIZES = sizes.length ? sizes : [65_536, 262_144, 1_048_576];
const REPS = num('reps', 10);
const SAMPLE = num('sample', 256);
const E2E = !args.includes('--no-e2e');
const SOLVE = !args.includes('--no-solve');
const EIGSH = !args.includes('--no-eigsh');
const PRECOND_SOLVE = args.includes('--precond-solve');
/** `--device-landmarks=m[:jitter][,m[:jitter]…]`: one device-landmark solve per entry (jitter relative to max G_aa). */
const DEVICE_LANDMARK_RUNS = (flag('device-landmarks') ?? '').split(',').filter((v) => v).map((v) => {
  const [m, jitter] = v.split(':');
  return { m: Number(m), ...(jitter !== undefined ? { jitter: Number(jitter) } : {}) };
});
const DEVICE_LANDMARKS = DEVICE_LANDMARK_RUNS[0]?.m;

const gpuOptions: GpuKernelOptions = {};
if (flag('rows')) gpuOptions.rowsPerThread = num('rows', 1);
if (flag('wg')) gpuOptions.workgroupSize = num('wg', 128);
if (flag('tile')) gpuOptions.tile = num('tile', 128);
if (flag('splits')) gpuOptions.splits = num('splits', 1);
if (flag('columns')) gpuOptions.columnsPerPass = num('columns', 4) as 1 | 4 | 8;
if (flag('target')) gpuOptions.targetWorkgroups = num('target', 1024);
if (args.includes('--no-kahan')) gpuOptions.kahan = false;
if (args.includes('--direct')) gpuOptions.expandedGaussian = false;
if (args.includes('--compensated')) gpuOptions.compensated = true;
const PROFILE = args.includes('--profile');

const log = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

function points(n: number, seed: number): { data: Float64Array; rows: number; cols: number } {
  const rand = mulberry32(seed);
  const data = new Float64Array(n * 3);
  for (let k = 0; k < data.length; k++) data[k] = rand();
  return { data, rows: n, cols: 3 };
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0;
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    d += (got[i]! - want[i]!) ** 2;
    w += want[i]! ** 2;
  }
  return Math.sqrt(d / w);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Float64 reference rows: the CPU product of the sampled rows against all points. */
async function reference(x: { data: Float64Array; rows: number; cols: number }, v: Float64Array, rows: number[]) {
  const xs = { data: new Float64Array(rows.length * 3), rows: rows.length, cols: 3 };
  rows.forEach((i, k) => xs.data.set(x.data.subarray(3 * i, 3 * i + 3), 3 * k));
  const K = gaussianKernel(xs, { y: x, sigma: SIGMA, backend: 'cpu', dtype: 'float64', denseCache: 'never' });
  return { want: await K.matvec(v), scale: await K.matvec(v.map(Math.abs)) }; // scale_i = Σ_j K_ij |v_j|
}

async function matvecBench(n: number): Promise<KernelOperator> {
  const x = points(n, 1);
  const rand = mulberry32(2);
  const v = Float64Array.from({ length: n }, () => rand() - 0.5);
  const K = gaussianKernel(x, { sigma: SIGMA, backend: 'gpu', gpu: gpuOptions });
  let t = performance.now();
  const first = await K.matvec(v); // upload, compile, plan
  const firstMs = performance.now() - t;
  const times: number[] = [];
  let y = first;
  for (let r = 0; r < REPS; r++) {
    t = performance.now();
    y = await K.matvec(v);
    times.push(performance.now() - t);
  }
  const ms = median(times);
  let kernelMs: number | undefined;
  let phases: Record<string, number> | undefined;
  if (PROFILE) {
    setGpuProfiling(true);
    const profiles: GpuProfile[] = [];
    for (let r = 0; r < 5; r++) {
      await K.matvec(v);
      const p = lastGpuProfile();
      if (p) profiles.push(p);
    }
    setGpuProfiling(false);
    if (profiles.length) {
      kernelMs = median(profiles.map((p) => p.passMs));
      phases = Object.fromEntries((['uploadMs', 'submitMs', 'waitMs', 'readbackMs'] as const)
        .map((k) => [k, +median(profiles.map((p) => p[k])).toFixed(3)]));
    }
  }
  const sr = mulberry32(3);
  const rows = Array.from({ length: Math.min(SAMPLE, n) }, () => Math.floor(sr() * n));
  const { want, scale } = await reference(x, v, rows);
  const err = relErr(rows.map((i) => y[i]!), want);
  // per row: |error| / Σ_j K_ij |v_j| (rows with cancellation make |error| / |want| meaningless)
  const maxRow = Math.max(...rows.map((i, k) => Math.abs(y[i]! - want[k]!) / scale[k]!));
  // compensated products: linearity, the property float32 products lack (‖K(v + w) − Kv − Kw‖ / ‖K(|v| + |w|)‖)
  let linearity: number | undefined;
  if (gpuOptions.compensated) {
    const w = Float64Array.from({ length: n }, () => rand() - 0.5);
    const big = v.map((a) => 1e3 * a);
    const [yv, yw, ysum, yabs] = [await K.matvec(big), await K.matvec(w), await K.matvec(big.map((a, i) => a + w[i]!)), await K.matvec(big.map((a, i) => Math.abs(a) + Math.abs(w[i]!)))];
    let e = 0;
    let a = 0;
    for (let i = 0; i < n; i++) {
      e += (ysum[i]! - yv[i]! - yw[i]!) ** 2;
      a += yabs[i]! ** 2;
    }
    linearity = Math.sqrt(e / a);
  }
  log({
    kind: 'matvec', n, d: 3, sigma: SIGMA, reps: REPS, msPerMatvec: +ms.toFixed(3), minMs: +Math.min(...times).toFixed(3),
    ...(linearity === undefined ? {} : { linearity: +linearity.toPrecision(3) }),
    pairsPerS: +(n * n / (ms / 1e3)).toPrecision(4), firstCallMs: +firstMs.toFixed(1),
    ...(kernelMs === undefined ? {} : { kernelMs: +kernelMs.toFixed(3), kernelPairsPerS: +(n * n / (kernelMs / 1e3)).toPrecision(4), phases }),
    relErrSample: +err.toPrecision(3), maxRowErrScaled: +maxRow.toPrecision(3), sampleRows: rows.length, gpu: gpuOptions,
  });

  // four right-hand sides in one pass
  const B = new Matrix(n, 4);
  for (let i = 0; i < n; i++) for (let c = 0; c < 4; c++) B.set(i, c, rand() - 0.5);
  await K.matmat(B);
  const mt: number[] = [];
  for (let r = 0; r < Math.max(3, Math.floor(REPS / 2)); r++) {
    t = performance.now();
    await K.matmat(B);
    mt.push(performance.now() - t);
  }
  const mms = median(mt);
  log({ kind: 'matmat4', n, msPerMatmat: +mms.toFixed(3), pairsPerS: +(n * n / (mms / 1e3)).toPrecision(4), perColumnMs: +(mms / 4).toFixed(3) });
  return K;
}

async function endToEnd(K: KernelOperator): Promise<void> {
  const n = K.shape[0];
  let t = performance.now();
  if (EIGSH) {
    const e = await K.eigsh(5, {
      tol: num('eigsh-tol', 1e-6), seed: 1,
      onProgress: (p: { iteration: number; matvecs: number; nconv: number; elapsedMs: number }) =>
        log({ kind: 'eigsh-progress', n, iteration: p.iteration, matvecs: p.matvecs, nconv: p.nconv, elapsedS: +(p.elapsedMs / 1e3).toFixed(2) }),
    }) as { eigenvalues: Float64Array; matvecs: number; iterations: number };
    log({
      kind: 'eigsh', n, k: 5, seconds: +((performance.now() - t) / 1e3).toFixed(2), matvecs: e.matvecs,
      iterations: e.iterations, eigenvalues: Array.from(e.eigenvalues, (v) => +v.toPrecision(8)),
    });
  }

  if (!SOLVE) return;
  const rand = mulberry32(4);
  const b = Float64Array.from({ length: n }, () => rand() - 0.5);
  t = performance.now();
  const M1 = DEVICE_LANDMARKS ? await deviceLandmarkPreconditioner(K, {
    shift: 1e-2, rank: DEVICE_LANDMARKS, tau: num('tau', 0),
    onProgress: (p) => log({ kind: 'precond-stage', n, stage: p.stage, elapsedS: +(p.elapsedMs / 1e3).toFixed(2) }),
  }) : undefined;
  const x = await K.solve(b, 1e-2, {
    ...(M1 ? { M: M1 } : {}),
    rtol: num('solve-rtol', 1e-3), maxiter: num('solve-maxiter', 2000),
    onProgress: (p: { iteration: number; residualNorm: number; elapsedMs: number }) => {
      if (p.iteration % 10 === 0) log({ kind: 'solve-progress', n, iteration: p.iteration, residualNorm: +p.residualNorm.toPrecision(4), elapsedS: +(p.elapsedMs / 1e3).toFixed(2) });
    },
  }) as Float64Array;
  const seconds = (performance.now() - t) / 1e3;
  const relResidual = await verifiedResidual(K, b, x, 1e-2);
  const M = M1 ?? await K.preconditioner(1e-2); // the one the solve used (the default is cached)
  const pre = M as { buildMs?: number; rank?: number } | undefined;
  log({
    kind: 'solve', n, alpha: 1e-2, seconds: +seconds.toFixed(2), relResidual: +relResidual.toPrecision(3),
    preconditioner: M ? String(M) : 'none', preconditionerBuildS: pre?.buildMs === undefined ? undefined : +(pre.buildMs / 1e3).toFixed(2),
  });
}

/** ‖b − (K + αI)x‖ / ‖b‖ with one more product. */
async function verifiedResidual(K: KernelOperator, b: Float64Array, x: Float64Array, alpha: number): Promise<number> {
  const Kx = await K.matvec(x);
  let r = 0;
  let nb = 0;
  for (let i = 0; i < b.length; i++) {
    r += (b[i]! - Kx[i]! - alpha * x[i]!) ** 2;
    nb += b[i]! ** 2;
  }
  return Math.sqrt(r / nb);
}

/**
 * Issue 5 on the GPU: `K.solve(b, α)` as a user calls it (the default preconditioner, built first and timed apart,
 * then cached on K; CG on the operator `solve` picks, compensated where float32 products cannot reach rtol), against
 * `K.solve(b, α, { preconditioner: 'none' })` in the same run, each capped; plus explicit device-landmark runs.
 * Residuals are verified with compensated products.
 */
async function precondSolve(K: KernelOperator, x: ReturnType<typeof points>): Promise<void> {
  const n = K.shape[0];
  const alpha = num('alpha', 1e-3);
  const rtol = num('rtol', 1e-5);
  const rand = mulberry32(5);
  const b = Float64Array.from({ length: n }, () => rand() - 0.5);
  const bNorm = Math.sqrt(b.reduce((s, v) => s + v * v, 0));
  const check = gaussianKernel(x, { sigma: SIGMA, backend: 'gpu', gpu: { compensated: true } });
  type Variant = { name: string; maxiter: number; m?: number; jitter?: number };
  const variants: Variant[] = [
    ...DEVICE_LANDMARK_RUNS.map((r) => ({ name: 'device-landmarks', maxiter: num('maxiter-pre', 150), ...r })),
    { name: 'default', maxiter: num('maxiter-pre', 150) }, { name: 'none', maxiter: num('maxiter-plain', 300) },
  ].filter((v) => !(args.includes('--skip-default') && v.name === 'default'));
  for (const { name: variant, maxiter, m, jitter } of variants) {
    let t = performance.now();
    const onStage = (p: { stage: string; elapsedMs: number }) => log({ kind: 'precond-stage', n, stage: p.stage, elapsedS: +(p.elapsedMs / 1e3).toFixed(2) });
    const M = variant === 'default' ? await K.preconditioner(alpha, 'auto', { onProgress: onStage })
      : variant === 'device-landmarks' ? await deviceLandmarkPreconditioner(K, {
        shift: alpha, rank: m!, tau: num('tau', 0), ...(jitter !== undefined ? { jitter } : {}), onProgress: onStage,
      }) : undefined;
    const buildS = (performance.now() - t) / 1e3;
    log({ kind: 'precond-build', n, alpha, variant, preconditioner: M ? String(M) : 'none', buildS: +buildS.toFixed(2) });
    // K.solve stiffens a preconditioner that CG finds indefinite: say when, and what it cost
    const stiffenable = M as { stiffen?: () => Promise<void> } | undefined;
    if (stiffenable?.stiffen) {
      const stiffen = stiffenable.stiffen.bind(M);
      stiffenable.stiffen = async () => {
        const s0 = performance.now();
        await stiffen();
        log({ kind: 'precond-stiffened', n, variant, preconditioner: String(M), seconds: +((performance.now() - s0) / 1e3).toFixed(2) });
      };
    }
    t = performance.now();
    let iterations = 0;
    let lastResidual = NaN;
    const progress = {
      rtol, maxiter,
      onProgress: (p: { iteration: number; residualNorm: number; elapsedMs: number }) => {
        iterations = p.iteration;
        lastResidual = p.residualNorm;
        if (p.iteration % 10 === 0) log({ kind: 'precond-progress', variant, m, iteration: p.iteration, relResidual: +(p.residualNorm / bNorm).toPrecision(4), elapsedS: +(p.elapsedMs / 1e3).toFixed(2) });
      },
      // K.solve's mixed-precision refinement (float32 inner products, compensated true residuals): each outer step
      onOuter: (p: { outer: number; residualNorm: number; innerIterations: number; contraction: number; elapsedMs: number }) =>
        log({ kind: 'precond-outer', variant, outer: p.outer, innerIterations: p.innerIterations, relResidual: +(p.residualNorm / bNorm).toPrecision(4), contraction: +p.contraction.toPrecision(3), elapsedS: +(p.elapsedMs / 1e3).toFixed(2) }),
      ...(args.includes('--no-refine') ? { refine: false } : {}),
    };
    let xs: Float64Array;
    let info: number | string = 0;
    try {
      // 'default' and 'none' as a user calls them; explicit preconditioners through cg on the compensated twin
      xs = variant === 'device-landmarks'
        ? (await cg(check.shift(alpha), b, { ...progress, M: M! })).x as Float64Array
        : await K.solve(b, alpha, { ...progress, ...(variant === 'none' ? { preconditioner: 'none' } : {}) });
    } catch (error) {
      // cg's non-convergence error carries the partial result
      const partial = (error as { result?: { x: Float64Array; info: number } }).result;
      if (!partial) throw error;
      xs = partial.x;
      info = partial.info;
    }
    const solveS = (performance.now() - t) / 1e3;
    log({
      kind: 'precond-solve', n, alpha, rtol, variant, maxiter, iterations, info,
      buildS: +buildS.toFixed(2), solveS: +solveS.toFixed(2), totalS: +(buildS + solveS).toFixed(2),
      relResidual: +(await verifiedResidual(check, b, xs, alpha)).toPrecision(3),
      recursiveResidual: +(lastResidual / bNorm).toPrecision(3), // CG's own, at its last iteration
      ...(m !== undefined ? { m } : {}), ...(jitter !== undefined ? { jitter } : {}),
    });
    if (variant === 'device-landmarks') await M!.dispose(); // the next variant needs the memory
  }
}

async function main(): Promise<void> {
  await setBackend('gpu');
  const info = await getBackendInfo();
  log({ kind: 'device', node: process.version, adapter: info.adapter, limits: info.limits, sizes: SIZES });
  let K: KernelOperator | undefined;
  for (const n of SIZES) K = await matvecBench(n);
  if (E2E && K) await endToEnd(K);
  if (PRECOND_SOLVE && K) await precondSolve(K, points(K.shape[0], 1));
  await shutdownCpuPool();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
