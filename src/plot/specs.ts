/**
 * Vega-Lite specs of the library's results: clusters coloured by label, an interpolant (a curve in
 * 1-D, a heatmap in 2-D) with its data, an eigenvalue spectrum, a CG residual history. Each
 * function returns a plain spec object (render it with render.ts, or hand it to any Vega-Lite
 * viewer, e.g. a notebook). Scatter plots of many points are subsampled (seeded, uniform) to
 * `maxPoints`, and the title says so.
 */
import { mulberry32 } from '../krylov/random.js';

/** A Vega-Lite spec (top level). */
export type PlotSpec = Record<string, unknown>;

/** Row-major n×d points, or rows of numbers. */
export type PlotPoints = number[][] | { data: ArrayLike<number>; rows: number; cols: number };

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const BASE = { $schema: SCHEMA, width: 480, height: 360, background: 'white', config: { font: 'sans-serif' } };
/** Default cap on points drawn in a scatter plot (SVG size and render time grow with it). */
export const DEFAULT_MAX_POINTS = 5000;

function pointRows(p: PlotPoints): { rows: number; cols: number; at: (i: number, j: number) => number } {
  if (Array.isArray(p)) return { rows: p.length, cols: p[0]?.length ?? 0, at: (i, j) => p[i]![j]! };
  return { rows: p.rows, cols: p.cols, at: (i, j) => p.data[i * p.cols + j]! };
}

/** Indices of a seeded uniform sample of `max` out of `n` (all of them when n ≤ max), ascending. */
export function sampleIndices(n: number, max: number, seed = 0): Int32Array {
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < max; k++) {
    const r = k + Math.floor(rand() * (n - k));
    const t = idx[k]!;
    idx[k] = idx[r]!;
    idx[r] = t;
  }
  return idx.subarray(0, max).sort();
}

function sampledTitle(title: string, shown: number, total: number): string | string[] {
  return shown < total ? [title, `(${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} points shown, uniform sample)`] : title;
}

export interface ClusterPlotOptions { title?: string; maxPoints?: number; seed?: number }

/** Points (first two coordinates) coloured by cluster label. */
export function clusterSpec(points: PlotPoints, labels: ArrayLike<number>, options: ClusterPlotOptions = {}): PlotSpec {
  const p = pointRows(points);
  if (labels.length !== p.rows) throw new RangeError(`clusterSpec: ${labels.length} labels for ${p.rows} points`);
  if (p.cols < 1) throw new RangeError('clusterSpec: the points have no coordinates');
  const idx = sampleIndices(p.rows, options.maxPoints ?? DEFAULT_MAX_POINTS, options.seed);
  const values = Array.from(idx, (i) => ({ x: p.at(i, 0), y: p.cols > 1 ? p.at(i, 1) : 0, cluster: labels[i]! }));
  const dims = p.cols > 2 ? ` (first 2 of ${p.cols} coordinates)` : '';
  return {
    ...BASE,
    title: sampledTitle(`${options.title ?? 'Spectral clustering'}${dims}`, idx.length, p.rows),
    data: { values },
    mark: { type: 'circle', size: idx.length > 2000 ? 8 : 20, opacity: 0.8 },
    encoding: {
      x: { field: 'x', type: 'quantitative', scale: { zero: false }, title: 'x₁' },
      y: { field: 'y', type: 'quantitative', scale: { zero: false }, title: p.cols > 1 ? 'x₂' : '' },
      color: { field: 'cluster', type: 'nominal', title: 'cluster' },
    },
  };
}

export interface CurvePlotOptions { title?: string; maxPoints?: number; seed?: number }

/**
 * A 1-D interpolant: the curve (t, f(t)) over its grid (sorted here) and the data points (x, y).
 */
export function curveSpec(
  data: { x: ArrayLike<number>; y: ArrayLike<number> },
  curve: { t: ArrayLike<number>; f: ArrayLike<number> },
  options: CurvePlotOptions = {},
): PlotSpec {
  const idx = sampleIndices(data.x.length, options.maxPoints ?? DEFAULT_MAX_POINTS, options.seed);
  const order = Array.from({ length: curve.t.length }, (_, i) => i).sort((a, b) => curve.t[a]! - curve.t[b]!);
  return {
    ...BASE,
    title: sampledTitle(options.title ?? 'Kernel interpolation', idx.length, data.x.length),
    layer: [
      {
        data: { values: Array.from(idx, (i) => ({ x: data.x[i]!, y: data.y[i]!, series: 'data' })) },
        mark: { type: 'circle', size: 14, opacity: 0.6 },
        encoding: { x: { field: 'x', type: 'quantitative', title: 'x' }, y: { field: 'y', type: 'quantitative', title: 'y' }, color: { field: 'series', type: 'nominal', title: null } },
      },
      {
        data: { values: order.map((i) => ({ x: curve.t[i]!, y: curve.f[i]!, series: 'prediction' })) },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, color: { field: 'series', type: 'nominal', title: null } },
      },
    ],
  };
}

export interface SurfacePlotOptions { title?: string; maxPoints?: number; seed?: number }

/**
 * A 2-D interpolant as a heatmap over a regular grid (values[iy·nx + ix] at (gx[ix], gy[iy])), with
 * the data points drawn over it in black.
 */
export function surfaceSpec(
  grid: { x: ArrayLike<number>; y: ArrayLike<number>; values: ArrayLike<number> },
  points: PlotPoints,
  options: SurfacePlotOptions = {},
): PlotSpec {
  const nx = grid.x.length;
  const ny = grid.y.length;
  if (grid.values.length !== nx * ny) throw new RangeError(`surfaceSpec: ${grid.values.length} values for a ${nx}×${ny} grid`);
  const half = (g: ArrayLike<number>, k: number) => (g.length > 1 ? (g[Math.min(k + 1, g.length - 1)]! - g[Math.max(k - 1, 0)]!) / (k === 0 || k === g.length - 1 ? 2 : 4) : 0.5);
  const cells = [];
  for (let iy = 0; iy < ny; iy++) {
    for (let ix = 0; ix < nx; ix++) {
      const hx = half(grid.x, ix);
      const hy = half(grid.y, iy);
      cells.push({ x: grid.x[ix]! - hx, x2: grid.x[ix]! + hx, y: grid.y[iy]! - hy, y2: grid.y[iy]! + hy, f: grid.values[iy * nx + ix]! });
    }
  }
  const p = pointRows(points);
  const idx = sampleIndices(p.rows, options.maxPoints ?? DEFAULT_MAX_POINTS, options.seed);
  return {
    ...BASE,
    title: sampledTitle(options.title ?? 'Kernel interpolation', idx.length, p.rows),
    layer: [
      {
        data: { values: cells },
        mark: { type: 'rect' },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'x₁', scale: { zero: false, nice: false } },
          x2: { field: 'x2' },
          y: { field: 'y', type: 'quantitative', title: 'x₂', scale: { zero: false, nice: false } },
          y2: { field: 'y2' },
          color: { field: 'f', type: 'quantitative', title: 'prediction', scale: { scheme: 'viridis' } },
        },
      },
      {
        data: { values: Array.from(idx, (i) => ({ x: p.at(i, 0), y: p.at(i, 1) })) },
        mark: { type: 'circle', size: 6, color: 'black', opacity: 0.5 },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
    ],
  };
}

/** Eigenvalues against their index, largest first; a log axis when all are positive and they span > 2 decades. */
export function spectrumSpec(eigenvalues: ArrayLike<number>, options: { title?: string } = {}): PlotSpec {
  const sorted = Array.from(eigenvalues).sort((a, b) => b - a);
  const positive = sorted.every((v) => v > 0);
  const log = positive && sorted[0]! / sorted[sorted.length - 1]! > 100;
  return {
    ...BASE,
    title: options.title ?? 'Eigenvalue spectrum',
    data: { values: sorted.map((v, i) => ({ index: i + 1, eigenvalue: v })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'index', type: 'quantitative', title: 'index (largest first)', axis: { tickMinStep: 1 } },
      y: { field: 'eigenvalue', type: 'quantitative', title: 'eigenvalue', scale: log ? { type: 'log' } : { zero: false } },
    },
  };
}

/** Residual norms against the iteration, on a log axis; `target` draws the stopping threshold. */
export function residualSpec(residualNorms: ArrayLike<number>, options: { title?: string; target?: number } = {}): PlotSpec {
  const values = Array.from(residualNorms, (r, i) => ({ iteration: i, residual: r })).filter((v) => v.residual > 0);
  const layer: PlotSpec[] = [{
    data: { values },
    mark: { type: 'line', point: values.length <= 60 },
    encoding: {
      x: { field: 'iteration', type: 'quantitative', title: 'iteration' },
      y: { field: 'residual', type: 'quantitative', title: '‖b − A x‖', scale: { type: 'log' } },
    },
  }];
  if (options.target !== undefined && options.target > 0) {
    layer.push({ data: { values: [{ target: options.target }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'firebrick' }, encoding: { y: { field: 'target', type: 'quantitative' } } });
  }
  return { ...BASE, title: options.title ?? 'CG residual history', layer };
}
