/** `lazylinalg interpolate`: kernel ridge regression / interpolation — fit on a file, predict on another. */
import { Matrix } from 'ml-matrix';
import { KernelRidge, type RidgeKernel } from '../../apps/kernel-ridge.js';
import type { IterationProgress } from '../../krylov/cg.js';
import { curveSpec, surfaceSpec, type PlotSpec } from '../../plot/specs.js';
import type { Args } from '../args.js';
import { InputFileError, UsageError } from '../errors.js';
import { readTable } from '../io/files.js';
import { asPoints, matrixTable, sliceColumns, type Table } from '../io/table.js';
import { formatMs } from '../progress.js';
import {
  applyBackend, probeGpuFor, BACKEND_FLAGS, checkOutputs, fmt, KERNEL_FLAGS, OUTPUT_FLAG, PLOT_FLAG, readPoints, withFlags, writeResults, type Command, type Context,
} from './common.js';

export const interpolateCommand: Command = {
  spec: {
    name: 'interpolate',
    summary: 'kernel ridge regression: fit (K + αI) a = y on a training file, predict K(t, x)·a',
    positionals: [{ name: 'TRAIN', help: 'n×(d + m) training file: d coordinates, then m targets (--targets)' }],
    flags: [
      ...withFlags(KERNEL_FLAGS, { sigma: { help: 'kernel length scale σ (required)' } }),
      { name: 'alpha', kind: 'number', min: 0, value: 'A', help: 'ridge α ≥ 0 (required; small: interpolate, larger: smooth noisy data)' },
      { name: 'targets', kind: 'int', min: 1, default: 1, value: 'M', help: 'number of target columns at the end of each row' },
      { name: 'predict', kind: 'string', value: 'FILE', help: 'points to predict at: d columns, or d + m (then the test RMSE and R² are printed)' },
      { name: 'rtol', kind: 'number', positive: true, default: 1e-6, value: 'R', help: "the solve's relative residual" },
      ...BACKEND_FLAGS, OUTPUT_FLAG, PLOT_FLAG,
    ],
    examples: [
      'lazylinalg interpolate train.csv --sigma 0.1 --alpha 1e-4 --predict test.csv --output pred.csv',
      'lazylinalg interpolate train.npy --sigma 0.2 --alpha 1e-2 --kernel matern32 --plot fit.png',
    ],
    details: 'The output holds the predictions at --predict (or the fitted values at the training points without it), one column per target. --plot draws the curve (d = 1) or a heatmap (d = 2) of the first target with the training data.',
  },
  async run(args, ctx) {
    checkOutputs(args);
    const sigma = args.required('sigma') as number;
    const alpha = args.required('alpha') as number;
    await applyBackend(args);
    const train = readPoints(args.positionals[0]!);
    const m = args.number('targets')!;
    if (train.cols <= m) throw new InputFileError(args.positionals[0]!, `${train.cols} columns; ${m} target column${m > 1 ? 's' : ''} and at least one coordinate are needed`);
    const d = train.cols - m;
    const x = sliceColumns(train, 0, d);
    const y = sliceColumns(train, d, train.cols);
    const test = args.string('predict') === undefined ? undefined : readTest(args.string('predict')!, d, m);
    await probeGpuFor(args, x.rows * Math.max(x.rows, test?.x.rows ?? 0));
    if (args.string('plot') !== undefined && d > 2) throw new UsageError(`interpolate: --plot draws 1-D and 2-D inputs, these have d = ${d}`);

    const model = modelFor(args, sigma, alpha, ctx);
    ctx.out(`interpolate: ${model}, ${x.rows} training points × ${d} dimension${d === 1 ? '' : 's'}, ${m} target${m > 1 ? 's' : ''}`);
    let t0 = performance.now();
    await model.fit(asPoints(x), targetsOf(y));
    ctx.progress.done();
    ctx.out(`fit: ${formatMs(performance.now() - t0)}; training RMSE ${fmt(rmse(y, await model.predict(asPoints(x))), 3)}`);
    t0 = performance.now();
    const where = test ? test.x : x;
    const predicted = await model.predict(asPoints(where));
    ctx.out(`predict at ${where.rows} points: ${formatMs(performance.now() - t0)}`);
    if (test?.y) ctx.out(`test RMSE ${fmt(rmse(test.y, predicted), 4)}, R² ${(await model.score(asPoints(test.x), targetsOf(test.y))).toFixed(4)}`);
    const names = y.columns ?? Array.from({ length: m }, (_, j) => (m === 1 ? 'prediction' : `prediction${j}`));
    await writeResults(args, ctx, {
      table: predicted instanceof Float64Array ? { rows: predicted.length, cols: 1, data: predicted, columns: names } : matrixTable(predicted, names),
      plot: () => interpolationPlot(model, x, y),
    });
    await model.dispose();
  },
};

function modelFor(args: Args, sigma: number, alpha: number, ctx: Context): KernelRidge {
  const name = args.string('kernel')!;
  const matern = /^matern(\d)(\d)$/.exec(name);
  return new KernelRidge({
    kernel: (matern ? 'matern' : name) as RidgeKernel, sigma, alpha,
    ...(matern ? { nu: (Number(matern[1]) / Number(matern[2])) as 0.5 } : {}),
    backend: args.string('backend') as 'auto',
    ...(args.string('dtype') ? { dtype: args.string('dtype') as 'float64' } : {}),
    solveOptions: {
      rtol: args.number('rtol')!,
      onProgress: (p: IterationProgress) => ctx.progress.update(`fit: iteration ${p.iteration}, residual ${fmt(p.residualNorm, 3)}, ${formatMs(p.elapsedMs)}`),
    },
  });
}

function readTest(file: string, d: number, m: number): { x: Table; y?: Table } {
  const t = readTable(file);
  if (t.cols === d) return { x: t };
  if (t.cols === d + m) return { x: sliceColumns(t, 0, d), y: sliceColumns(t, d, d + m) };
  throw new InputFileError(file, `${t.cols} columns; the training points have d = ${d} (give d columns, or d + ${m} with the true targets)`);
}

const targetsOf = (y: Table): Float64Array | Matrix =>
  y.cols === 1 ? asPoints(y).data : new Matrix(Array.from({ length: y.rows }, (_, i) => Array.from(y.data.subarray(i * y.cols, (i + 1) * y.cols))));

function rmse(truth: Table, predicted: Float64Array | Matrix): number {
  let s = 0;
  for (let i = 0; i < truth.rows; i++) {
    for (let j = 0; j < truth.cols; j++) {
      const p = predicted instanceof Float64Array ? predicted[i]! : predicted.get(i, j);
      s += (truth.data[i * truth.cols + j]! - p) ** 2;
    }
  }
  return Math.sqrt(s / (truth.rows * truth.cols));
}

const range = (t: Table, j: number): [number, number] => {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < t.rows; i++) {
    const v = t.data[i * t.cols + j]!;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
};
const grid = ([lo, hi]: [number, number], n: number) => Float64Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));

/** The fitted first target: a curve over 400 points (d = 1) or a 60×60 heatmap (d = 2), with the training data. */
export async function interpolationPlot(model: KernelRidge, x: Table, y: Table): Promise<PlotSpec> {
  const first = (p: Float64Array | Matrix) => (p instanceof Float64Array ? p : Float64Array.from(p.getColumn(0)));
  const y0 = Float64Array.from({ length: y.rows }, (_, i) => y.data[i * y.cols]!);
  if (x.cols === 1) {
    const t = grid(range(x, 0), 400);
    const f = first(await model.predict({ data: t, rows: t.length, cols: 1 }));
    return curveSpec({ x: x.data, y: y0 }, { t, f }, { title: `Kernel ridge regression (${model.kernel}, σ = ${model.sigma}, α = ${model.alpha})` });
  }
  const gx = grid(range(x, 0), 60);
  const gy = grid(range(x, 1), 60);
  const cells = new Float64Array(2 * gx.length * gy.length);
  for (let iy = 0; iy < gy.length; iy++) for (let ix = 0; ix < gx.length; ix++) cells.set([gx[ix]!, gy[iy]!], 2 * (iy * gx.length + ix));
  const values = first(await model.predict({ data: cells, rows: gx.length * gy.length, cols: 2 }));
  return surfaceSpec({ x: gx, y: gy, values }, asPoints(x), { title: `Kernel ridge regression (${model.kernel}, σ = ${model.sigma}, α = ${model.alpha})` });
}
