/**
 * `lazylinalg demo`: the three uses end to end on seeded toy data — spectral clustering of two moons,
 * kernel ridge regression of a noisy 1-D signal (KeOps' interpolation tutorial), the top of a kernel
 * matrix's spectrum — with timings and plots written to a folder.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adjustedRandIndex } from '../../apps/metrics.js';
import { twoMoons } from '../../apps/datasets.js';
import { KernelRidge } from '../../apps/kernel-ridge.js';
import { spectralClustering } from '../../apps/spectral-clustering.js';
import { poolThreads } from '../../cpu/pool.js';
import { getBackendInfo } from '../../gpu/device.js';
import type { EigshProgress, EigshResult } from '../../krylov/eigsh.js';
import { mulberry32, normalDraw } from '../../krylov/random.js';
import { gaussianKernel } from '../../operators/kernels.js';
import { writePlot } from '../../plot/render.js';
import { errorWords, fileAbove } from '../../plot/write.js';
import { clusterSpec, curveSpec, residualSpec, spectrumSpec } from '../../plot/specs.js';
import type { Args } from '../args.js';
import { UsageError } from '../errors.js';
import { formatMs } from '../progress.js';
import { applyBackend, fmt, SEED_FLAG, type Command, type Context } from './common.js';

export const demoCommand: Command = {
  spec: {
    name: 'demo',
    summary: 'spectral clustering, kernel interpolation and eigsh on toy data, with plots',
    positionals: [],
    flags: [
      { name: 'n', kind: 'int', min: 200, max: 1_000_000, default: 3000, value: 'N', help: 'points of the two moons' },
      { name: 'n-signal', kind: 'int', min: 100, max: 1_000_000, default: 10_000, value: 'N', help: 'samples of the 1-D signal' },
      { name: 'out', kind: 'string', default: 'out', value: 'DIR', help: 'folder for the plots (created if missing)' },
      { name: 'no-plots', kind: 'bool', help: 'write no plots' },
      { name: 'backend', kind: 'choice', choices: ['auto', 'cpu', 'gpu'], default: 'auto', help: 'where kernel products run' },
      SEED_FLAG,
      { name: 'quiet', kind: 'bool', help: 'no progress line on the terminal' },
    ],
    examples: ['lazylinalg demo', 'npm run demo', 'lazylinalg demo --n 20000 --backend gpu --out /tmp/plots'],
  },
  async run(args, ctx) {
    if (args.bool('no-plots')) args.refuse(['out'], 'with --no-plots (no plot is written)');
    // made (or checked) before any work: a file in the way failed after the warm-up, with mkdir's raw EEXIST
    const outDir = args.bool('no-plots') ? undefined : plotFolder(resolve(args.string('out')!), args.string('out')!);
    await applyBackend(args);
    const info = await getBackendInfo();
    ctx.out(`lazylinalg demo — backend ${info.backend}${info.backend === 'cpu' ? ` (${poolThreads()} threads, WASM SIMD)` : ` (${info.adapter?.description ?? 'GPU'})`}`);
    const t0 = performance.now();
    await gaussianKernel(twoMoons(2000, { seed: 1 }).points, { sigma: 0.2, backend: args.string('backend') as 'auto' }).matvec(new Float64Array(2000).fill(1));
    ctx.out(`warm-up product (worker pool start-up, compilation): ${formatMs(performance.now() - t0)} — not counted below\n`);
    const written: string[] = [];
    const plot = async (name: string, spec: Parameters<typeof writePlot>[0]) => {
      if (!outDir) return;
      await writePlot(spec, join(outDir, name));
      written.push(join(outDir, name));
    };
    await clusterMoons(args, ctx, plot);
    await interpolate(args, ctx, plot);
    await spectrum(args, ctx, plot, 0.2);
    if (outDir) ctx.out(`\nplots written to ${outDir}/: ${written.map((f) => f.slice(outDir.length + 1)).join(', ')}`);
  },
};

/**
 * The plot folder, created if missing; a UsageError naming what is in the way — a file at `dir` or at a folder above
 * it — or the system's reason. `given`: the path as on the command line.
 */
function plotFolder(dir: string, given: string): string {
  const refuse = (why: string) => new UsageError(`demo: --out ${given}: cannot hold the plots: ${why}`);
  // the nearest existing path at or above `dir` must be a folder
  const blocker = fileAbove(dir);
  if (blocker !== undefined) throw refuse(blocker === dir ? `${dir} exists and is not a directory` : `${blocker} is not a directory`);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw refuse(errorWords(error as NodeJS.ErrnoException));
  }
  return dir;
}

type PlotWriter = (name: string, spec: Record<string, unknown>) => Promise<void>;

async function clusterMoons(args: Args, ctx: Context, plot: PlotWriter): Promise<void> {
  const n = args.number('n')!;
  const { points, labels } = twoMoons(n, { noise: 0.06, seed: 7 });
  ctx.out(`[1/3] spectral clustering of two moons, n = ${n}`);
  const t0 = performance.now();
  const result = await spectralClustering(points, {
    nClusters: 2, seed: args.number('seed')!, backend: args.string('backend') as 'auto',
    onProgress: (p) => ctx.progress.update(`clustering: ${p.stage}, ${formatMs(p.elapsedMs)}`),
  });
  ctx.progress.done();
  const ari = adjustedRandIndex(labels, result.labels);
  ctx.out(`  σ = ${fmt(result.sigma, 3)} (nearest-neighbour heuristic), eigenvalues ${Array.from(result.eigenvalues, (v) => fmt(v, 5)).join(', ')}`);
  ctx.out(`  adjusted Rand index vs the true moons: ${ari.toFixed(4)}   (${formatMs(performance.now() - t0)})`);
  await plot('clusters.png', clusterSpec(points, result.labels, { title: `Two moons: spectral clustering, ARI ${ari.toFixed(3)}` }));
}

/** KeOps' 1-D interpolation tutorial: b = x + ½ sin 6x + 0.1 sin 20x + noise, Gaussian σ = 0.1, α = 1. */
async function interpolate(args: Args, ctx: Context, plot: PlotWriter): Promise<void> {
  const n = args.number('n-signal')!;
  const rand = mulberry32(args.number('seed')! + 1);
  const signal = (x: number) => x + 0.5 * Math.sin(6 * x) + 0.1 * Math.sin(20 * x);
  const x = Float64Array.from({ length: n }, () => rand());
  const b = Float64Array.from(x, (v) => signal(v) + 0.05 * normalDraw(rand));
  ctx.out(`\n[2/3] kernel ridge regression of a noisy 1-D signal, n = ${n}, Gaussian σ = 0.1, α = 1`);
  const residuals = [Math.hypot(...b)]; // iteration 0: x = 0, r = b
  const model = new KernelRidge({
    kernel: 'gaussian', sigma: 0.1, alpha: 1, backend: args.string('backend') as 'auto',
    solveOptions: { rtol: 1e-6, onProgress: (p) => { residuals.push(p.residualNorm); ctx.progress.update(`fit: iteration ${p.iteration}, residual ${fmt(p.residualNorm, 3)}`); } },
  });
  let t0 = performance.now();
  await model.fit({ data: x, rows: n, cols: 1 }, b);
  ctx.progress.done();
  const fitMs = performance.now() - t0;
  const t = Float64Array.from({ length: 1001 }, (_, i) => i / 1000);
  t0 = performance.now();
  const f = await model.predict({ data: t, rows: t.length, cols: 1 }) as Float64Array;
  const predictMs = performance.now() - t0;
  const rmse = Math.sqrt(t.reduce((s, v, i) => s + (f[i]! - signal(v)) ** 2, 0) / t.length);
  ctx.out(`  fit ${formatMs(fitMs)} (${residuals.length - 1} CG iterations after the preconditioner), predict at 1001 points ${formatMs(predictMs)}`);
  ctx.out(`  RMSE against the noise-free signal: ${fmt(rmse, 3)} (noise σ = 0.05)`);
  await plot('interpolation.png', curveSpec({ x, y: b }, { t, f }, { title: `Kernel ridge regression, n = ${n}: RMSE ${fmt(rmse, 2)} vs the noise-free signal` }));
  // the automatic preconditioner may leave nothing for CG to do (a 1-D kernel has low numerical rank)
  if (residuals.length > 2) await plot('residuals.png', residualSpec(residuals, { title: 'CG residual history of the fit (rtol 1e-6)', target: 1e-6 * residuals[0]! }));
  await model.dispose();
}

async function spectrum(args: Args, ctx: Context, plot: PlotWriter, sigma: number): Promise<void> {
  const n = args.number('n')!;
  const { points } = twoMoons(n, { noise: 0.06, seed: 7 });
  const K = gaussianKernel(points, { sigma, backend: args.string('backend') as 'auto' });
  ctx.out(`\n[3/3] eigsh: the 10 largest eigenvalues of ${K}`);
  const t0 = performance.now();
  const eig = await K.eigsh(10, { seed: args.number('seed')!, returnEigenvectors: false, onProgress: (p: EigshProgress) => ctx.progress.update(`eigsh: restart ${p.iteration}, ${p.nconv}/10 converged`) }) as EigshResult;
  ctx.progress.done();
  ctx.out(`  ${Array.from(eig.eigenvalues).reverse().map((v) => fmt(v, 5)).join(', ')}`);
  ctx.out(`  ${eig.matvecs} products, ${formatMs(performance.now() - t0)}`);
  await plot('spectrum.png', spectrumSpec(eig.eigenvalues, { title: `Top 10 eigenvalues, Gaussian kernel on the moons (σ = ${sigma})` }));
  await K.dispose();
}
