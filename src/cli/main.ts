#!/usr/bin/env node
/**
 * The `lazylinalg` command. `lazylinalg demo` is the project's main job: on an embedded data set
 * (two interleaved half-moons, generated from a fixed seed) it builds a symbolic Gaussian kernel,
 * checks its products against dense ones, finds the top eigenpairs with Lanczos, and fits a
 * kernel interpolant with CG, printing progress and timings.
 */
import { realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Matrix } from 'ml-matrix';
import { gaussianKernel, shutdownCpuPool } from '../index.js';
import { mulberry32 } from '../krylov/random.js';

const HELP = `lazylinalg — symbolic kernel matrices as LinearOperators

Usage: lazylinalg <command> [options]

Commands:
  demo [--n N] [--sigma S]   kernel products, eigsh and a kernel interpolation on an embedded
                             data set (two half-moons, default n = 4000, σ = 0.15), on the CPU
  help                       this text

Environment: LAZYLINALG_THREADS sets the number of CPU worker threads (default: all cores).`;

/** Two interleaved half-moons with Gaussian noise (the classic clustering toy set), seeded. */
export function twoMoons(n: number, noise = 0.06, seed = 7): { points: number[][]; labels: Int32Array } {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const points: number[][] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const upper = i % 2 === 0;
    const t = Math.PI * rand();
    const [x, y] = upper ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
    points.push([x + noise * gauss(), y + noise * gauss()]);
    labels[i] = upper ? 0 : 1;
  }
  return { points, labels };
}

function parseFlags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}' (see lazylinalg --help)`);
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const value = inline ?? args[++k];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags.set(name, value);
  }
  return flags;
}

function numberFlag(flags: Map<string, string>, name: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!check(v)) throw new Error(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

const ms = (t0: number) => `${(performance.now() - t0).toFixed(0)} ms`;

async function demo(args: string[]): Promise<void> {
  const flags = parseFlags(args);
  const n = numberFlag(flags, 'n', 4000, (v) => Number.isInteger(v) && v >= 50 && v <= 200_000, 'an integer in [50, 200000]');
  const sigma = numberFlag(flags, 'sigma', 0.15, (v) => Number.isFinite(v) && v > 0, 'a positive number');
  const { points } = twoMoons(n);
  console.log(`lazylinalg demo — two half-moons, n = ${n}, Gaussian kernel σ = ${sigma}, CPU (${availableParallelism()} threads, WASM SIMD)`);

  // 1. products: float64 and float32 against the dense matrix of a subset of rows
  const K = gaussianKernel(points, { sigma, denseCache: 'never' });
  const K32 = gaussianKernel(points, { sigma, dtype: 'float32', denseCache: 'never' });
  console.log(`\n[1/3] products  ${K}`);
  const rand = mulberry32(1);
  const v = Float64Array.from({ length: n }, () => rand() - 0.5);
  let t0 = performance.now();
  const y64 = await K.matvec(v);
  console.log(`  matvec float64: ${ms(t0)} (${(n * n / 1e6).toFixed(1)}M pairs)`);
  t0 = performance.now();
  const y32 = await K32.matvec(v);
  console.log(`  matvec float32: ${ms(t0)}`);
  const rows = Math.min(n, 200);
  const sub = gaussianKernel(points.slice(0, rows), { sigma, y: points });
  const dense = (await sub.toDense()).mmul(Matrix.columnVector(Array.from(v))).getColumn(0);
  const err = (y: Float64Array) => Math.hypot(...dense.map((d, i) => d - y[i]!)) / Math.hypot(...dense);
  console.log(`  relative error vs dense (first ${rows} rows): float64 ${err(y64).toExponential(2)}, float32 ${err(y32).toExponential(2)}`);

  // 2. top eigenpairs by Lanczos
  console.log('\n[2/3] eigsh(K, 5), thick-restart Lanczos');
  t0 = performance.now();
  const eig = await K.eigsh(5, {
    seed: 0,
    onProgress: (p: { iteration: number; matvecs: number; nconv: number; elapsedMs: number }) =>
      console.log(`  restart ${p.iteration}: ${p.matvecs} matvecs, ${p.nconv}/5 converged, ${p.elapsedMs.toFixed(0)} ms`),
  }) as { eigenvalues: Float64Array; matvecs: number };
  console.log(`  eigenvalues: ${Array.from(eig.eigenvalues, (e) => e.toPrecision(6)).join(', ')} (${eig.matvecs} matvecs, ${ms(t0)})`);

  // 3. kernel interpolation: (K + αI) a = f, then predict at fresh points
  // a small α makes (K + αI) badly conditioned: plain CG needs thousands of iterations here, the
  // randomized Nyström preconditioner (built once, cached on K) a few hundred
  const alpha = 1e-3;
  const f = (p: number[]) => Math.sin(3 * p[0]!) * Math.cos(2 * p[1]!);
  const b = Float64Array.from(points, f);
  console.log(`\n[3/3] interpolation of sin(3x)·cos(2y): CG on (K + ${alpha}·I) a = f, Nyström-preconditioned`);
  t0 = performance.now();
  const M = await K.preconditioner(alpha, 'nystrom');
  console.log(`  ${String(M)} built in ${ms(t0)}`);
  t0 = performance.now();
  let lastReport = 0;
  let iterations = 0;
  const a = await K.solve(b, alpha, {
    preconditioner: 'nystrom',
    rtol: 1e-6,
    onProgress: (p: { iteration: number; residualNorm: number; elapsedMs: number }) => {
      iterations = p.iteration;
      if (p.elapsedMs - lastReport < 1000) return; // about one line a second
      lastReport = p.elapsedMs;
      console.log(`  iteration ${p.iteration}: residual ${p.residualNorm.toExponential(2)}, ${p.elapsedMs.toFixed(0)} ms`);
    },
  }) as Float64Array;
  console.log(`  solved to rtol 1e-6 in ${iterations} iterations, ${ms(t0)}`);
  const fresh = twoMoons(500, 0.06, 99).points;
  const pred = await gaussianKernel(fresh, { sigma, y: points }).matvec(a);
  const rmse = Math.sqrt(fresh.reduce((s, p, i) => s + (pred[i]! - f(p)) ** 2, 0) / fresh.length);
  console.log(`  RMSE at 500 fresh points: ${rmse.toExponential(2)} (function range ±1)`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'demo':
        await demo(rest);
        return 0;
      case undefined: case 'help': case '--help': case '-h':
        console.log(HELP);
        return 0;
      default:
        console.error(`lazylinalg: unknown command '${command}'\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    console.error(`lazylinalg ${command}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await shutdownCpuPool();
  }
}

// run as a program (also through npm's bin symlink), not when imported by tests
const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
