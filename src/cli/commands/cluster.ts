/** `lazylinalg cluster`: spectral clustering of a point file. */
import { adjustedRandIndex } from '../../apps/metrics.js';
import { spectralClustering, type SpectralProgress } from '../../apps/spectral-clustering.js';
import { clusterSpec } from '../../plot/specs.js';
import { InputFileError } from '../errors.js';
import { readTable } from '../io/files.js';
import { asPoints, columnTable } from '../io/table.js';
import { formatMs } from '../progress.js';
import {
  applyBackend, probeGpuFor, BACKEND_FLAGS, checkOutputs, fmt, OUTPUT_FLAG, PLOT_FLAG, readPoints, SEED_FLAG, withFlags, writeResults, type Command, type Context,
} from './common.js';

export const clusterCommand: Command = {
  spec: {
    name: 'cluster',
    summary: 'spectral clustering (Gaussian affinity, normalised, top eigenvectors, k-means++)',
    positionals: [{ name: 'POINTS', help: 'n×d points (CSV or .npy)' }],
    flags: [
      { name: 'clusters', kind: 'int', min: 1, max: 1000, value: 'K', help: 'number of clusters (required)' },
      { name: 'sigma', kind: 'number', positive: true, value: 'S', help: 'affinity bandwidth σ (default: a nearest-neighbour heuristic, printed)' },
      { name: 'affinity', kind: 'choice', choices: ['rbf'], default: 'rbf', help: 'affinity: the Gaussian exp(−|x − y|²/(2σ²))' },
      { name: 'n-init', kind: 'int', min: 1, max: 1000, default: 10, value: 'N', help: 'k-means++ restarts (the least inertia wins)' },
      { name: 'truth', kind: 'string', value: 'FILE', help: 'true labels (one column, n rows): print the adjusted Rand index' },
      SEED_FLAG, ...withFlags(BACKEND_FLAGS, { dtype: { help: 'precision of the affinity products (default float32: clustering needs no more)' } }), OUTPUT_FLAG, PLOT_FLAG,
    ],
    examples: [
      'lazylinalg cluster points.csv --clusters 3 --plot clusters.png',
      'lazylinalg cluster points.npy --clusters 2 --sigma 0.1 --output labels.csv',
      'lazylinalg cluster moons.csv --clusters 2 --truth labels.csv --backend gpu',
    ],
    details: 'The output holds one label (0 … K−1) per point; as JSON, also σ and the eigenvalues.',
  },
  async run(args, ctx) {
    checkOutputs(args);
    const k = args.required('clusters') as number;
    await applyBackend(args);
    let t0 = performance.now();
    const points = readPoints(args.positionals[0]!);
    await probeGpuFor(args, points.rows * points.rows);
    const truth = args.string('truth') === undefined ? undefined : readLabels(args.string('truth')!, points.rows);
    ctx.out(`cluster: ${points.rows} points × ${points.cols} dimension${points.cols === 1 ? '' : 's'} (read in ${formatMs(performance.now() - t0)}), ${k} cluster${k === 1 ? '' : 's'}`);
    t0 = performance.now();
    const result = await spectralClustering(asPoints(points), {
      nClusters: k, affinity: 'rbf', seed: args.number('seed')!, nInit: args.number('n-init')!,
      backend: args.string('backend') as 'auto',
      ...(args.number('sigma') !== undefined ? { sigma: args.number('sigma')! } : {}),
      ...(args.string('dtype') ? { dtype: args.string('dtype') as 'float32' } : {}),
      onProgress: (p) => ctx.progress.update(progressLine(p)),
    });
    ctx.progress.done();
    ctx.out(`σ = ${fmt(result.sigma)}${args.number('sigma') === undefined ? ' (heuristic)' : ''}; eigenvalues ${Array.from(result.eigenvalues, (v) => fmt(v, 6)).join(', ')}`);
    ctx.out(`cluster sizes: ${clusterSizes(result.labels, k).join(', ')}; ${formatMs(performance.now() - t0)}`);
    if (truth) ctx.out(`adjusted Rand index against ${args.string('truth')}: ${adjustedRandIndex(truth, result.labels).toFixed(4)}`);
    await writeResults(args, ctx, {
      table: columnTable(result.labels, 'label'),
      json: { labels: Array.from(result.labels), sigma: result.sigma, eigenvalues: Array.from(result.eigenvalues) },
      plot: () => clusterSpec(asPoints(points), result.labels, { title: `Spectral clustering, k = ${k}, σ = ${fmt(result.sigma, 3)}` }),
    });
  },
};

function progressLine(p: SpectralProgress): string {
  const detail = p.eigsh ? `restart ${p.eigsh.iteration}, ${p.eigsh.nconv} converged`
    : p.lobpcg ? `iteration ${p.lobpcg.iteration}` : p.restart !== undefined ? `restart ${p.restart}` : '';
  return `cluster: ${p.stage}${detail ? ` (${detail})` : ''}, ${formatMs(p.elapsedMs)}`;
}

function clusterSizes(labels: Int32Array, k: number): number[] {
  const sizes = new Array<number>(k).fill(0);
  for (const l of labels) sizes[l]!++;
  return sizes;
}

/** One integer label per point. */
function readLabels(file: string, n: number): Int32Array {
  const t = readTable(file);
  if (t.cols !== 1 || t.rows !== n) throw new InputFileError(file, `${t.rows}×${t.cols} values; one column of ${n} labels (one per point) is needed`);
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(t.data[i])) throw new InputFileError(file, `label ${t.data[i]} of point ${i} is not an integer`);
  }
  return Int32Array.from(t.data);
}
