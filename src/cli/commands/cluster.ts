/** `lazylinalg cluster`: spectral clustering of a point file. */
import { adjustedRandIndex } from '../../apps/metrics.js';
import { spectralClustering, type SpectralProgress } from '../../apps/spectral-clustering.js';
import { clusterSpec } from '../../plot/specs.js';
import { quoted } from '../errors.js';
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

/**
 * One integer label per point, read as a safe integer (labels are names: any integer float64 holds exactly is one, and
 * Int32Array.from wrapped 2³² to 0). The reader checks shape and values as it goes, so a refusal names line and column.
 */
function readLabels(file: string, n: number): number[] {
  const t = readTable(file, { need: `one column of ${n} labels (one per point) is needed`, rows: n, cols: 1, value: labelProblem });
  return Array.from(t.data);
}

function labelProblem(value: number, text: string): string | undefined {
  if (!Number.isInteger(value)) return `label ${quoted(text)} is not an integer (a number with a fraction)`;
  if (!Number.isSafeInteger(value)) return `label ${quoted(text)} is not a safe integer (beyond ±(2^53 − 1), not exact as float64)`;
  return undefined;
}
