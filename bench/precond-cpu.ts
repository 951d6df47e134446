/**
 * Preconditioned vs unpreconditioned CG on a Gaussian kernel system (K + αI) a = b, side by side
 * in one command (issue 5's must-show).
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node build/bench/precond-cpu.js [options]
 *
 * Options (defaults = the CPU must-show): --n 8000  --sigma 0.1  --alpha 1e-3  --rtol 1e-6
 *   --maxiter 3000 (cap of the unpreconditioned run)  --seed 1  --backend cpu|gpu|auto (cpu)
 *   --dtype float32|float64 (backend default)  --rank auto|<ℓ>  --preconditioner auto|nystrom|landmarks|pivoted-cholesky|jacobi (auto: what solve builds)
 *   --skip-plain (only the preconditioned run)  --dense-cache auto|never (auto: the operator's default)
 * The H100 run: --n 1048576 --backend gpu --dtype float32.
 *
 * Points: n uniform in [0,1]³ (mulberry32(seed)); b: uniform in [-1, 1). Times include the
 * preconditioner build. Residuals are true residuals ‖b − (K + αI) a‖ / ‖b‖ recomputed at the end.
 * Prints progress to stderr, then one JSON object and a table to stdout.
 */
import {
  cg, gaussianKernel, mulberry32, setBackend, shutdownCpuPool, NystromPreconditioner, LandmarkPreconditioner, landmarkStages,
  type CgResult, type KernelOperator, type LinearOperator, type PreconditionerChoice,
} from 'lazylinalg';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const n = Number(arg('n', '8000'));
const sigma = Number(arg('sigma', '0.1'));
const alpha = Number(arg('alpha', '1e-3'));
const rtol = Number(arg('rtol', '1e-6'));
const maxiter = Number(arg('maxiter', '3000'));
const seed = Number(arg('seed', '1'));
const backend = arg('backend', 'cpu') as 'cpu' | 'gpu' | 'auto';
const dtypeArg = arg('dtype', '');
const rankArg = arg('rank', 'auto');
const choice = arg('preconditioner', 'auto') as Exclude<PreconditionerChoice, 'none'>;
const skipPlain = process.argv.includes('--skip-plain');
const denseCache = arg('dense-cache', 'auto') as 'auto' | 'never';
if (denseCache !== 'auto' && denseCache !== 'never') throw new Error(`--dense-cache must be auto or never, got ${String(denseCache)}`);

function log(msg: string): void {
  process.stderr.write(`[precond] ${msg}\n`);
}

async function trueResidual(A: LinearOperator, x: Float64Array, b: Float64Array): Promise<number> {
  const Ax = await A.matvec(x);
  let r = 0;
  let nb = 0;
  for (let i = 0; i < b.length; i++) {
    r += (b[i]! - Ax[i]!) ** 2;
    nb += b[i]! ** 2;
  }
  return Math.sqrt(r / nb);
}

interface RunResult {
  iterations: number;
  info: number;
  converged: boolean;
  buildSeconds: number;
  solveSeconds: number;
  totalSeconds: number;
  relativeResidual: number;
  msPerIteration: number;
}

async function run(K: KernelOperator, b: Float64Array, M: LinearOperator | undefined, buildSeconds: number, cap: number, label: string): Promise<RunResult> {
  const A = K.shift(alpha);
  const t0 = performance.now();
  let last = t0;
  const res: CgResult = await cg(A, b, {
    rtol, maxiter: cap, ...(M ? { M } : {}),
    onProgress: (p) => {
      const now = performance.now();
      if (now - last > 10_000) {
        last = now;
        log(`${label}: iteration ${p.iteration}, residual ${p.residualNorm.toExponential(3)}, ${(p.elapsedMs / 1000).toFixed(1)} s`);
      }
    },
  });
  const solveSeconds = (performance.now() - t0) / 1000;
  const relativeResidual = await trueResidual(A, res.x, b);
  return {
    iterations: res.iterations, info: res.info, converged: res.info === 0,
    buildSeconds, solveSeconds, totalSeconds: buildSeconds + solveSeconds, relativeResidual,
    msPerIteration: (solveSeconds * 1000) / Math.max(1, res.iterations),
  };
}

async function main(): Promise<void> {
  if (backend !== 'cpu') setBackend(backend);
  const rand = mulberry32(seed);
  const flat = new Float64Array(n * 3);
  for (let t = 0; t < flat.length; t++) flat[t] = rand();
  const b = Float64Array.from({ length: n }, () => 2 * rand() - 1);
  const K = gaussianKernel({ data: flat, rows: n, cols: 3 }, {
    sigma, backend, ...(dtypeArg ? { dtype: dtypeArg as 'float32' | 'float64' } : {}), denseCache,
  });
  log(`${K}, alpha ${alpha}, rtol ${rtol}`);

  // The preconditioner solve() would build (cached on K), with the rank rule unless --rank is given.
  const options = rankArg === 'auto' ? {} : { rank: Number(rankArg) };
  const tb = performance.now();
  const P = (await K.preconditioner(alpha, choice, options))!;
  const buildSeconds = (performance.now() - tb) / 1000;
  const info: Record<string, unknown> = { preconditioner: String(P), buildSeconds };
  if (P instanceof NystromPreconditioner) {
    info.rank = P.rank;
    info.stages = P.stages.map((s) => ({
      rank: s.rank, smallestEigenvalue: s.smallestEigenvalue, seconds: s.ms / 1000, sketchSeconds: s.sketchMs / 1000, eigenSeconds: s.eigenMs / 1000,
      ...(s.decision ? { decision: s.decision } : {}),
    }));
    for (const s of P.stages) {
      const d = s.decision;
      log(`stage ℓ=${s.rank}: λ̂_ℓ=${s.smallestEigenvalue.toPrecision(3)}, ${(s.ms / 1000).toFixed(2)} s (sketch ${(s.sketchMs / 1000).toFixed(2)}, eig ${(s.eigenMs / 1000).toFixed(2)})`
        + (d ? ` → ${d.action}${Number.isFinite(d.iterationsNow) ? ` (ρ=${d.underestimate.toFixed(2)}, decay/doubling ${d.decayPerDoubling.toFixed(3)}; now ${d.iterationsNow.toFixed(0)} it ${(d.solveMsNow / 1000).toFixed(1)} s; `
          + d.steps.map((t) => `ℓ'=${t.rank}: λ̂ ${t.predictedEigenvalue.toPrecision(3)}, build ${(t.buildMs / 1000).toFixed(1)} s + ${t.iterations.toFixed(0)} it ${(t.solveMs / 1000).toFixed(1)} s = ${((t.buildMs + t.solveMs) / 1000).toFixed(1)} s`).join('; ') + ')' : ''}` : ''));
    }
    info.sketchColumns = P.sketchColumns;
  }
  if (P instanceof LandmarkPreconditioner) {
    info.rank = P.rank;
    info.timings = P.timings;
    info.stages = landmarkStages(P);
    for (const s of landmarkStages(P)) {
      log(`stage m=${s.rank}: build ${(s.buildMs / 1000).toFixed(2)} s, κ̂ ${s.kappa.toPrecision(3)} → ${s.predictedIterations.toFixed(0)} iterations × ${s.iterationMs.toFixed(1)} ms (product ${s.productMs.toFixed(1)} + P⁻¹ ${s.applyMs.toFixed(1)})`
        + ` → ${s.action}${s.nowMs !== undefined ? ` (now ${(s.nowMs / 1000).toFixed(2)} s, next ${(s.nextMs! / 1000).toFixed(2)} s)` : ''}`);
    }
  }
  log(`built ${P} in ${buildSeconds.toFixed(2)} s`);
  const pre = await run(K, b, P, buildSeconds, 10 * n, 'preconditioned');
  log(`preconditioned: ${pre.iterations} iterations, ${pre.totalSeconds.toFixed(2)} s total`);
  const plain = skipPlain ? undefined : await run(K, b, undefined, 0, maxiter, 'unpreconditioned');
  if (plain) log(`unpreconditioned: ${plain.iterations} iterations, ${plain.totalSeconds.toFixed(2)} s`);

  const result = {
    benchmark: 'precond', n, d: 3, sigma, alpha, rtol, seed, backend: K.backend, dtype: K.dtype, denseCache, maxiterPlain: maxiter,
    preconditioner: info, preconditioned: pre, unpreconditioned: plain ?? null,
    iterationRatio: plain ? plain.iterations / pre.iterations : null,
    // a lower bound when the unpreconditioned run hit the cap
    timeRatio: plain ? plain.totalSeconds / pre.totalSeconds : null,
    plainHitCap: plain ? !plain.converged : null,
  };
  console.log(JSON.stringify(result));
  const row = (name: string, r: RunResult | undefined) =>
    r ? `| ${name.padEnd(16)} | ${String(r.iterations).padStart(6)} | ${r.buildSeconds.toFixed(2).padStart(8)} | ${r.solveSeconds.toFixed(2).padStart(8)} | ${r.totalSeconds.toFixed(2).padStart(8)} | ${r.relativeResidual.toExponential(2).padStart(9)} | ${r.converged ? 'yes' : 'no (cap)'} |` : '';
  console.log(`\nGaussian σ=${sigma}, n=${n}, α=${alpha}, rtol=${rtol}, ${K.backend} ${K.dtype}`);
  console.log('| run              |  iters |  build s |  solve s |  total s |  residual | converged |');
  console.log('|------------------|-------:|---------:|---------:|---------:|----------:|-----------|');
  console.log(row('preconditioned', pre));
  if (plain) {
    console.log(row('unpreconditioned', plain));
    console.log(`\niterations ${result.iterationRatio!.toFixed(1)}× fewer, total time ${result.timeRatio!.toFixed(1)}× less${plain.converged ? '' : ' (unpreconditioned capped: ratios are lower bounds)'}`);
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => shutdownCpuPool());
