/**
 * lazylinalg's applications beside scikit-learn (issue 17), one command, both sides on the same data in one run:
 *  - spectral clustering of two moons (noise 0.06) and three concentric circles (noise 0.1), n = 20,000: ours
 *    (`spectralClustering`, σ by its heuristic) against SpectralClustering(affinity='rbf', eigen_solver='arpack') at
 *    the same σ (gamma = 1/(2σ²)) — wall time and adjusted Rand index against the truth;
 *  - kernel ridge regression, n = 20,000 training points in [0,1]³, y = sin(2πx₁)·cos(πx₂) + x₃² + 0.1·noise,
 *    2,000 test points (noise-free truth), Gaussian σ = 0.2, α = 0.05: `KernelRidge` against KernelRidge(kernel='rbf')
 *    — fit + predict wall time and test RMSE.
 * Ours runs first (first call: it includes the worker pool's start-up and compilation), then scikit-learn's script
 * (bench/apps_sklearn.py; `pip install scikit-learn`), then the table with the ratios.
 *
 *   npm run build && node bench/apps-sklearn.mjs [--n 20000] [--only cluster|ridge] [--no-sklearn] [--dtype float32|float64]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KernelRidge, adjustedRandIndex, concentricCircles, mulberry32, shutdownCpuPool, spectralClustering, twoMoons,
} from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? fallback : args[i + 1];
};
const n = Number(flag('n', 20000));
const only = flag('only', 'both');
const ridgeDtype = flag('dtype', 'float64');
const withSklearn = !args.includes('--no-sklearn');
const dir = mkdtempSync(join(tmpdir(), 'apps-sklearn-'));
const save = (name, values) => writeFileSync(join(dir, name), Buffer.from(Float64Array.from(values).buffer));
const seconds = (t0) => (performance.now() - t0) / 1e3;
const log = (o) => console.log(JSON.stringify(o));

async function clusterCase(name, data, k) {
  save(`${name}-points.bin`, data.points.flat());
  save(`${name}-labels.bin`, data.labels);
  const t0 = performance.now();
  const r = await spectralClustering(data.points, { nClusters: k, seed: 0 });
  const ours = { seconds: seconds(t0), ari: adjustedRandIndex(r.labels, data.labels), sigma: r.sigma, matvecs: r.matvecs };
  log({ case: name, ours });
  return { kind: 'cluster', name, k, sigma: r.sigma, points: `${name}-points.bin`, labels: `${name}-labels.bin`, ours };
}

function ridgeData(count, seed) {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const x = Array.from({ length: count }, () => [rand(), rand(), rand()]);
  const f = (p) => Math.sin(2 * Math.PI * p[0]) * Math.cos(Math.PI * p[1]) + p[2] ** 2;
  return { x, clean: x.map(f), noisy: x.map((p) => f(p) + 0.1 * gauss()) };
}

async function ridgeCase() {
  const sigma = 0.2;
  const alpha = 0.05;
  const train = ridgeData(n, 1);
  const test = ridgeData(Math.max(100, Math.round(n / 10)), 2);
  save('x.bin', train.x.flat());
  save('y.bin', train.noisy);
  save('t.bin', test.x.flat());
  save('yt.bin', test.clean);
  const t0 = performance.now();
  const model = await new KernelRidge({ kernel: 'gaussian', sigma, alpha, dtype: ridgeDtype, solveOptions: { rtol: 1e-6 } }).fit(train.x, train.noisy);
  const p = await model.predict(test.x);
  const ours = { seconds: seconds(t0), rmse: Math.sqrt(p.reduce((s, v, i) => s + (v - test.clean[i]) ** 2, 0) / p.length) };
  log({ case: 'kernel ridge', ours });
  return { kind: 'ridge', name: 'kernel ridge', d: 3, sigma, alpha, x: 'x.bin', y: 'y.bin', t: 't.bin', yt: 'yt.bin', ours };
}

const cases = [];
if (only !== 'ridge') {
  cases.push(await clusterCase('two moons', twoMoons(n, { noise: 0.06, seed: 1 }), 2));
  cases.push(await clusterCase('circles', concentricCircles(n, { nCircles: 3, noise: 0.1, seed: 1 }), 3));
}
if (only !== 'cluster') cases.push(await ridgeCase());
await shutdownCpuPool();

if (withSklearn) {
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases.map(({ ours, ...c }) => c)));
  const script = fileURLToPath(new URL('./apps_sklearn.py', import.meta.url));
  const run = spawnSync('python3', [script, dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (run.status !== 0) throw new Error(`${script} failed (status ${run.status}); is scikit-learn installed? (pip install scikit-learn)`);
  const theirs = JSON.parse(readFileSync(join(dir, 'sklearn.json'), 'utf8'));
  console.log(`\nn = ${n}  (ours first, then scikit-learn, one process each, same data)`);
  console.log('| case | σ | lazylinalg s | scikit-learn s | speed-up | lazylinalg | scikit-learn |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [i, c] of cases.entries()) {
    const t = theirs[i];
    const metric = c.kind === 'cluster'
      ? [`ARI ${c.ours.ari.toFixed(4)}`, `ARI ${t.ari.toFixed(4)}`]
      : [`RMSE ${c.ours.rmse.toExponential(4)}`, `RMSE ${t.rmse.toExponential(4)} (ours/theirs ${(c.ours.rmse / t.rmse).toFixed(4)})`];
    console.log(`| ${c.name} | ${c.sigma.toPrecision(4)} | ${c.ours.seconds.toFixed(2)} | ${t.seconds.toFixed(2)} | **${(t.seconds / c.ours.seconds).toFixed(1)}×** | ${metric[0]} | ${metric[1]} |`);
  }
}
