/**
 * Krylov benchmark beside scipy (issue 3): Gaussian kernel, d = 3, σ = 0.1, n = 16,384 (default).
 *
 *   npm run build:bench && node build/bench/krylov.js [--n 16384] [--dtype float64|float32|both]
 *                                                     [--cache auto|never|both] [--solves default,none]
 *
 * Runs bench/krylov_scipy.py first (dense numpy K, then ARPACK eigsh(K, 5) and cg(K + I, b,
 * rtol 1e-6), timed end to end including building K); it writes the points and b, so both sides
 * solve the same problem. Then lazylinalg, end to end: build the operator, eigsh(K, 5);
 * build it again, K.solve(b, 1.0, { rtol: 1e-6 }) with the default preconditioning rule and with
 * plain CG. Each operator is disposed when its task is done (as scipy's script deletes its K), so the next
 * one's stored K reuses the memory. `--cache auto` is what a user gets (the operator's default dense-cache rule: K stored
 * after two products when it fits the budget); `--cache never` keeps K symbolic throughout.
 * Prints a JSON summary and a table.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gaussianKernel, shutdownCpuPool, type Dtype } from 'lazylinalg';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const k = args.indexOf(`--${name}`);
  return k >= 0 && args[k + 1] !== undefined ? args[k + 1]! : fallback;
};
const n = Number(flag('n', '16384'));
const dtypeFlag = flag('dtype', 'both');
const dtypes: Dtype[] = dtypeFlag === 'both' ? ['float64', 'float32'] : [dtypeFlag as Dtype];
const cacheFlag = flag('cache', 'both');
const caches = (cacheFlag === 'both' ? ['auto', 'never'] : [cacheFlag]) as ('auto' | 'never')[];
const solveKinds = flag('solves', 'default,none').split(',') as ('default' | 'none')[];
const SIGMA = 0.1;
const ALPHA = 1.0;
const RTOL = 1e-6;

interface ScipyResult {
  versions: Record<string, string>;
  eigsh: { eigenvalues: number[]; matvecs: number; build_s: number; solve_s: number; total_s: number };
  cg: { iterations: number; relative_residual: number; build_s: number; solve_s: number; total_s: number };
}

function readF64(path: string): Float64Array {
  const buf = readFileSync(path);
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

async function main(): Promise<void> {
  const here = fileURLToPath(new URL('../../bench/', import.meta.url));
  console.log(`# Krylov benchmark, Gaussian σ = ${SIGMA}, d = 3, n = ${n}; ${availableParallelism()} threads, node ${process.version}`);
  console.log('scipy (dense numpy K + ARPACK / cg) …');
  const py = spawnSync('python3', [`${here}krylov_scipy.py`, '--n', String(n)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (py.status !== 0) throw new Error(`scipy reference failed: ${py.stderr}`);
  const scipy = JSON.parse(py.stdout) as ScipyResult;
  console.log(`  eigsh ${scipy.eigsh.total_s.toFixed(2)} s (${scipy.eigsh.matvecs} matvecs), cg ${scipy.cg.total_s.toFixed(2)} s (${scipy.cg.iterations} iterations)`);

  const points = { data: readF64(`${here}krylov_data/points-${n}.f64`), rows: n, cols: 3 };
  const b = readF64(`${here}krylov_data/b-${n}.f64`);
  const rows: string[] = [];
  const summary: Record<string, unknown> = { n, scipy };
  for (const dtype of dtypes) for (const denseCache of caches) {
    const label = `${dtype}${denseCache === 'auto' ? '' : ', symbolic (denseCache never)'}`;
    let t0 = performance.now();
    const K = gaussianKernel(points, { sigma: SIGMA, dtype, denseCache });
    const eig = await K.eigsh(5, {
      onProgress: (p: { iteration: number; matvecs: number; nconv: number; elapsedMs: number }) =>
        console.log(`  [${label}] eigsh restart ${p.iteration}: ${p.matvecs} matvecs, ${p.nconv}/5 converged, ${(p.elapsedMs / 1e3).toFixed(1)} s`),
    }) as { eigenvalues: Float64Array; matvecs: number };
    const eigsS = (performance.now() - t0) / 1e3;
    // as scipy's script deletes its K before the solve builds its own: the stored K's memory is recycled
    await K.dispose();
    const relDiff = Math.max(...Array.from(eig.eigenvalues, (v, i) => Math.abs(v - scipy.eigsh.eigenvalues[i]!) / Math.abs(scipy.eigsh.eigenvalues[i]!)));

    // K.solve as a user calls it (default preconditioning rule), and with plain CG for reference
    const solves: Record<string, { seconds: number; iterations: number; relativeResidual: number }> = {};
    for (const preconditioner of solveKinds) {
      t0 = performance.now();
      const K2 = gaussianKernel(points, { sigma: SIGMA, dtype, denseCache });
      let iterations = 0;
      const x = await K2.solve(b, ALPHA, {
        rtol: RTOL,
        ...(preconditioner === 'none' ? { preconditioner: 'none' } : {}),
        onProgress: (p: { iteration: number; residualNorm: number; elapsedMs: number }) => {
          iterations = p.iteration;
          if (p.iteration % 10 === 0) console.log(`  [${label}, ${preconditioner}] cg iteration ${p.iteration}: residual ${p.residualNorm.toExponential(2)}, ${(p.elapsedMs / 1e3).toFixed(1)} s`);
        },
      }) as Float64Array;
      const seconds = (performance.now() - t0) / 1e3;
      await K2.dispose();
      // true relative residual ‖b − (K + αI)x‖/‖b‖ by a float64 product
      const Kx = await gaussianKernel(points, { sigma: SIGMA, denseCache: 'never' }).matvec(x);
      let r2 = 0, b2 = 0;
      for (let i = 0; i < n; i++) { r2 += (b[i]! - Kx[i]! - ALPHA * x[i]!) ** 2; b2 += b[i]! ** 2; }
      solves[preconditioner] = { seconds, iterations, relativeResidual: Math.sqrt(r2 / b2) };
      rows.push(`| K.solve(b, 1.0)${preconditioner === 'none' ? ", preconditioner 'none'" : ''} | lazylinalg ${label} | ${seconds.toFixed(2)} | ${iterations} iterations (scipy ${scipy.cg.iterations}); rel. residual ${Math.sqrt(r2 / b2).toExponential(1)} | ${(scipy.cg.total_s / seconds).toFixed(2)} |`);
    }
    summary[`${dtype}|${denseCache}`] = { eigsh: { seconds: eigsS, matvecs: eig.matvecs, maxRelDiffToArpack: relDiff }, solve: solves };
    rows.splice(rows.length - solveKinds.length, 0, `| eigsh(K, 5) | lazylinalg ${label} | ${eigsS.toFixed(2)} | ${eig.matvecs} matvecs (ARPACK ${scipy.eigsh.matvecs}); max rel. diff to ARPACK ${relDiff.toExponential(1)} | ${(scipy.eigsh.total_s / eigsS).toFixed(2)} |`);
  }
  await shutdownCpuPool();
  console.log(JSON.stringify(summary));
  console.log('\n| task | implementation | seconds end to end | work | × scipy |\n| --- | --- | --- | --- | --- |');
  console.log(`| eigsh(K, 5) | scipy ${scipy.versions['scipy']} dense K + ARPACK | ${scipy.eigsh.total_s.toFixed(2)} | K ${scipy.eigsh.build_s.toFixed(2)} s + ${scipy.eigsh.matvecs} matvecs | 1.00 |`);
  console.log(`| K.solve(b, 1.0) | scipy dense K + cg | ${scipy.cg.total_s.toFixed(2)} | K ${scipy.cg.build_s.toFixed(2)} s + ${scipy.cg.iterations} iterations | 1.00 |`);
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
