/**
 * The two host stages of spectralClustering at 10⁶ points (issue 21 run 3), before and after, side by side in one run:
 *  - σ's heuristic: the median over 512 sampled points of the distance to the ⌈n/300⌉-th nearest neighbour among all n
 *    (three Gaussian blobs in 3-D, noise 0.15, as `gpu-runs.mjs spectral --data=blobs`). Before: the former brute force
 *    (an insertion-sorted list of the k best per sampled row; --legacy-rows=R of the 512 rows, timed and scaled to 512,
 *    since it takes minutes); after: `defaultSpectralSigma` (filtered selection). Both k-th distances are compared on
 *    the rows both ran; with --gpu also the GPU path (`spectralSigma(..., { backend: 'gpu' })`).
 *  - k-means (k = 3, 10 restarts) on 10⁶ rows of a 3-column row-normalised embedding (one-hot rows of the blob labels
 *    plus N(0, --emb-noise²) noise, as the spectral embedding of three blobs looks). Before: ml-kmeans, 10 full runs
 *    with k-means++ (the former `bestKmeans`); after: kmeans.ts (restarts on a 20,000-row subsample, one full Lloyd).
 *    Time, inertia and ARI against the truth for both.
 *
 *   npm run build && node bench/spectral-stages.mjs [--n=1000000] [--legacy-rows=32] [--gpu] [--emb-noise=0.25] [--only=sigma|kmeans]
 */
import { kmeans as mlKmeans } from 'ml-kmeans';
import { adjustedRandIndex, defaultNeighbors, defaultSpectralSigma, mulberry32, shutdownCpuPool } from '../dist/index.js';
import { gaussianBlobs } from './blobs.mjs';
import { kmeans } from '../dist/apps/kmeans.js';
import { kthNeighbourSqDistancesCpu } from '../dist/apps/kth-neighbour.js';
import { spectralSigma } from '../dist/apps/spectral-clustering.js';

const arg = (name, fallback) => {
  const a = process.argv.find((s) => s.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : fallback;
};
const n = arg('n', 1_000_000);
const legacyRows = arg('legacy-rows', 32);
const embNoise = arg('emb-noise', 0.25);
const withGpu = process.argv.includes('--gpu');
const only = process.argv.find((a) => a.startsWith('--only='))?.split('=')[1];
const s3 = (x) => Number(x.toPrecision(3));

/** The former σ brute force for the first `rows` sampled points (same sample: mulberry32(seed), with replacement). */
function legacyKth(data, count, d, k, rows, seed) {
  const rand = mulberry32(seed);
  const out = [];
  const best = new Float64Array(k);
  for (let s = 0; s < rows; s++) {
    const i = Math.floor(rand() * count);
    best.fill(Infinity);
    for (let j = 0; j < count; j++) {
      if (j === i) continue;
      let r2 = 0;
      for (let c = 0; c < d; c++) r2 += (data[i * d + c] - data[j * d + c]) ** 2;
      if (r2 >= best[k - 1]) continue;
      let t = k - 1;
      while (t > 0 && best[t - 1] > r2) best[t] = best[--t];
      best[t] = r2;
    }
    out.push(Math.sqrt(best[k - 1]));
  }
  return out;
}

const { data, labels } = gaussianBlobs(n, 0.15);
const k = defaultNeighbors(n);
console.log(`n = ${n}, d = 3, k = ${k} (σ's neighbour rank), 512 sampled rows`);

if (only !== 'kmeans') await sigmaStage();
if (only !== 'sigma') kmeansStage();
await shutdownCpuPool();

async function sigmaStage() {
  // after first; the legacy rows are the first rows of the same sample
  let t = performance.now();
  const sigma = defaultSpectralSigma({ data, rows: n, cols: 3 }, { neighbors: k, seed: 0 });
  const afterSigma = (performance.now() - t) / 1e3;
  t = performance.now();
  const legacy = legacyKth(data, n, 3, k, legacyRows, 0);
  const legacyS = ((performance.now() - t) / 1e3) * (512 / legacyRows);
  const rand = mulberry32(0);
  const rows = Int32Array.from({ length: legacyRows }, () => Math.floor(rand() * n));
  const ours = kthNeighbourSqDistancesCpu({ data, n, d: 3, rows, k });
  const identical = legacy.every((v, s) => v === Math.sqrt(ours[s]));
  console.log(`sigma heuristic  before ${s3(legacyS)} s (${legacyRows} rows timed, ×${512 / legacyRows})  after ${s3(afterSigma)} s  ratio ${s3(legacyS / afterSigma)}×  σ = ${sigma}  k-th distances identical on ${legacyRows} rows: ${identical}`);
  if (withGpu) {
    t = performance.now();
    const g = await spectralSigma({ data, rows: n, cols: 3 }, { neighbors: k, seed: 0, backend: 'gpu' });
    console.log(`sigma heuristic  gpu ${s3((performance.now() - t) / 1e3)} s  σ = ${g}  relative difference ${(Math.abs(g - sigma) / sigma).toExponential(2)}`);
  }
}

/** k-means on 10⁶ embedding-like rows: one-hot of the label plus noise, unit length. */
function kmeansStage() {
  const er = mulberry32(7);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - er())) * Math.cos(2 * Math.PI * er());
  const emb = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < 3; c++) { const v = (labels[i] === c ? 1 : 0) + embNoise * gauss(); emb[3 * i + c] = v; s += v * v; }
    for (let c = 0; c < 3; c++) emb[3 * i + c] /= Math.sqrt(s);
  }
  const arrays = Array.from({ length: n }, (_, i) => Array.from(emb.subarray(3 * i, 3 * i + 3)));
  let t = performance.now();
  let before;
  for (let r = 0; r < 10; r++) {
    const res = mlKmeans(arrays, 3, { initialization: 'kmeans++', seed: r, maxIterations: 300, tolerance: 1e-8 });
    let inertia = 0;
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) inertia += (arrays[i][c] - res.centroids[res.clusters[i]][c]) ** 2;
    if (!before || inertia < before.inertia) before = { inertia, labels: Int32Array.from(res.clusters) };
  }
  const beforeS = (performance.now() - t) / 1e3;
  t = performance.now();
  const after = kmeans({ data: emb, n, d: 3 }, 3, { nInit: 10, seed: 0 });
  const afterS = (performance.now() - t) / 1e3;
  console.log(`k-means (10 restarts)  before ${s3(beforeS)} s  inertia ${before.inertia.toFixed(3)}  ARI ${adjustedRandIndex(before.labels, labels).toFixed(5)}`);
  console.log(`                       after  ${s3(afterS)} s  inertia ${after.inertia.toFixed(3)}  ARI ${adjustedRandIndex(after.labels, labels).toFixed(5)}  (${after.iterations} full Lloyd iterations)  ratio ${s3(beforeS / afterS)}×`);
}
