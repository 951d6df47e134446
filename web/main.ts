/**
 * The demo page: a sample or a dropped CSV, spectral clustering (colours) or kernel interpolation (a surface),
 * on WebGPU or on the CPU, drawn on a canvas with timings, iterations and the backend used. The last run's
 * result is kept on `window.lazylinalgDemo` for the browser test.
 */
import * as lazylinalg from 'lazylinalg';
import {
  adjustedRandIndex, cauchyKernel, concentricCircles, gaussianKernel, getBackendInfo, laplacianKernel, maternKernel,
  setBackend, spectralClustering, twoMoons, type KernelOperator,
} from 'lazylinalg';
import { parseCsv } from './csv.js';
import { drawClusters, drawSurface } from './draw.js';

type Task = 'cluster' | 'interpolate';
type Backend = 'gpu' | 'cpu';

interface Dataset { name: string; points: number[][]; values?: Float64Array; truth?: Int32Array; fn?: (x: number, y: number) => number }

export interface DemoResult {
  task: Task;
  backend: Backend;
  /** Interpolation of the 2-D signal sample: RMS error of the surface against the signal, on the grid. */
  rmse?: number;
  /** GPU adapter or CPU threads, as shown in the page. */
  backendLabel: string;
  adapter?: { vendor: string; architecture: string; description: string; software: boolean };
  labels?: number[];
  ari?: number;
  sigma: number;
  iterations: number | string;
  ms: number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLDivElement>('status');
const info = $<HTMLDivElement>('info');
const errorBox = $<HTMLDivElement>('error');
const canvas = $<HTMLCanvasElement>('plot');
let dropped: Dataset | undefined;

const state = { lastResult: undefined as DemoResult | undefined, lastError: undefined as string | undefined };
(window as unknown as { lazylinalgDemo: typeof state }).lazylinalgDemo = state;
// the library itself, for the browser console (and the browser test)
(window as unknown as { lazylinalg: typeof lazylinalg }).lazylinalg = lazylinalg;

function setStatus(s: 'idle' | 'running' | 'done' | 'error', text: string): void {
  status.dataset['state'] = s;
  status.textContent = text;
}

function num(id: string): number | undefined {
  const v = $<HTMLInputElement>(id).value.trim();
  return v === '' ? undefined : Number(v);
}

/** The 2-D signal sampled at n seeded points of [-1, 1]² (the interpolation sample). */
function signal(n: number, seed: number): Dataset {
  let s = (seed >>> 0) + 0x9e3779b9;
  const rand = () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const fn = (x: number, y: number) => Math.sin(3 * x) * Math.cos(2 * y) + 0.5 * Math.exp(-8 * ((x - 0.4) ** 2 + (y + 0.3) ** 2));
  const points: number[][] = [];
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = 2 * rand() - 1;
    const y = 2 * rand() - 1;
    points.push([x, y]);
    values[i] = fn(x, y);
  }
  return { name: '2-D signal', points, values, fn };
}

function dataset(): Dataset {
  if (dropped) return dropped;
  const n = num('n') ?? 600;
  const seed = num('seed') ?? 0;
  const sample = $<HTMLSelectElement>('sample').value;
  if (sample === 'circles') { const d = concentricCircles(n, { seed, nCircles: 2 }); return { name: 'circles', points: d.points, truth: d.labels }; }
  if (sample === 'moons') { const d = twoMoons(n, { seed }); return { name: 'moons', points: d.points, truth: d.labels }; }
  return signal(n, seed);
}

function kernelFor(name: string, x: number[][], sigma: number, backend: Backend, y?: number[][]): KernelOperator {
  const o = { sigma, backend, ...(y ? { y } : {}) };
  if (name === 'laplacian') return laplacianKernel(x, o);
  if (name === 'matern') return maternKernel(x, { ...o, nu: 1.5 });
  if (name === 'cauchy') return cauchyKernel(x, o);
  return gaussianKernel(x, o);
}

async function backendLabel(backend: Backend): Promise<Pick<DemoResult, 'backendLabel' | 'adapter'>> {
  if (backend === 'gpu') {
    const a = (await getBackendInfo()).adapter;
    if (!a) return { backendLabel: 'GPU (adapter unknown)' };
    const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ');
    return { backendLabel: `GPU: ${name}${a.software ? ' (software)' : ''}`, adapter: a };
  }
  const threads = self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
  return { backendLabel: `CPU: WebAssembly, ${threads} thread${threads > 1 ? 's' : ''}${self.crossOriginIsolated ? ' (cross-origin isolated)' : ' (not cross-origin isolated)'}` };
}

async function cluster(d: Dataset, backend: Backend): Promise<DemoResult> {
  if ($<HTMLSelectElement>('kernel').value !== 'gaussian') throw new Error('spectral clustering uses the Gaussian affinity: choose the gaussian kernel');
  const nClusters = num('clusters') ?? 2;
  const seed = num('seed') ?? 0;
  let iterations = 0;
  const t0 = performance.now();
  const r = await spectralClustering(d.points, {
    nClusters, seed, backend, ...(num('sigma') !== undefined ? { sigma: num('sigma')! } : {}),
    onProgress: (p) => { if (p.lobpcg) iterations = p.lobpcg.iteration; },
  });
  const ms = performance.now() - t0;
  drawClusters(canvas, d.points, r.labels);
  return {
    task: 'cluster', backend, ...(await backendLabel(backend)), labels: Array.from(r.labels), sigma: r.sigma, iterations, ms,
    ...(d.truth ? { ari: adjustedRandIndex(d.truth, r.labels) } : {}),
  };
}

async function interpolate(d: Dataset, backend: Backend): Promise<DemoResult> {
  if (!d.values) throw new Error('interpolation needs a value per point: a CSV of x, y, value');
  const sigma = num('sigma') ?? 0.3;
  const t0 = performance.now();
  const K = kernelFor($<HTMLSelectElement>('kernel').value, d.points, sigma, backend);
  const fit = await K.solve(d.values, 1e-3, { returnInfo: true });
  const coef = fit.x as Float64Array;
  const [lo, hi] = bounds(d.points);
  const G = 80;
  const grid: number[][] = [];
  for (let a = 0; a < G; a++) for (let b = 0; b < G; b++) grid.push([lo[0]! + ((hi[0]! - lo[0]!) * b) / (G - 1), lo[1]! + ((hi[1]! - lo[1]!) * a) / (G - 1)]);
  const surface = await kernelFor($<HTMLSelectElement>('kernel').value, grid, sigma, backend, d.points).matvec(coef);
  const ms = performance.now() - t0;
  drawSurface(canvas, d.points, surface, G, lo, hi);
  // the solve's plan: a dense Cholesky factor where it pays (no iterations), else preconditioned CG
  const plan = (fit as { plan?: { method?: string; preconditioner?: string } }).plan;
  const cgIts = (fit as { iterations?: number }).iterations;
  const its = plan?.method === 'cholesky' ? 'none (dense Cholesky factor)' : `${cgIts} (${plan?.method ?? 'cg'}${plan?.preconditioner ? `, preconditioner ${plan.preconditioner}` : ''})`;
  let rmse: number | undefined;
  if (d.fn) {
    let s = 0;
    grid.forEach((p, k) => { s += (surface[k]! - d.fn!(p[0]!, p[1]!)) ** 2; });
    rmse = Math.sqrt(s / grid.length);
  }
  return {
    task: 'interpolate', backend, ...(await backendLabel(backend)), sigma, iterations: its, ms,
    ...(rmse !== undefined ? { rmse } : {}),
  };
}

export function bounds(points: number[][]): [number[], number[]] {
  const lo = [Infinity, Infinity];
  const hi = [-Infinity, -Infinity];
  for (const p of points) for (let k = 0; k < 2; k++) { lo[k] = Math.min(lo[k]!, p[k]!); hi[k] = Math.max(hi[k]!, p[k]!); }
  return [lo, hi];
}

async function run(): Promise<void> {
  errorBox.textContent = '';
  setStatus('running', 'running…');
  try {
    const d = dataset();
    if (d.points[0]!.length < 2) throw new Error('the data need at least two columns (x, y)');
    const backend = $<HTMLSelectElement>('backend').value as Backend;
    await setBackend(backend);
    const task = $<HTMLSelectElement>('task').value as Task;
    const r = task === 'cluster' ? await cluster(d, backend) : await interpolate(d, backend);
    state.lastResult = r;
    state.lastError = undefined;
    info.textContent = [
      `data: ${d.name}, ${d.points.length} points`,
      `backend: ${r.backendLabel}`,
      `time: ${r.ms.toFixed(0)} ms`,
      `iterations: ${r.iterations}`,
      `σ = ${r.sigma.toPrecision(3)}`,
      ...(r.ari !== undefined ? [`ARI vs truth: ${r.ari.toFixed(3)}`] : []),
      ...(r.rmse !== undefined ? [`RMS error vs the signal: ${r.rmse.toExponential(2)}`] : []),
    ].join('\n');
    setStatus('done', 'done');
  } catch (error) {
    state.lastError = (error as Error).message;
    errorBox.textContent = (error as Error).message;
    setStatus('error', 'error');
  }
}

function useFile(file: File): void {
  void file.text().then((text) => {
    try {
      const t = parseCsv(text);
      const width = t.rows[0]!.length;
      const interpolation = width >= 3;
      dropped = {
        name: file.name,
        points: t.rows.map((r) => (interpolation ? r.slice(0, width - 1) : r)),
        ...(interpolation ? { values: Float64Array.from(t.rows, (r) => r[width - 1]!) } : {}),
      };
      $<HTMLSelectElement>('task').value = interpolation ? 'interpolate' : 'cluster';
      errorBox.textContent = '';
      info.textContent = `${file.name}: ${t.rows.length} rows × ${width} columns${interpolation ? ' (last column: values)' : ''}`;
    } catch (error) {
      dropped = undefined;
      errorBox.textContent = `${file.name}: ${(error as Error).message}`;
    }
  });
}

$<HTMLSelectElement>('sample').addEventListener('change', (e) => {
  dropped = undefined;
  const v = (e.target as HTMLSelectElement).value;
  $<HTMLSelectElement>('task').value = v === 'signal' ? 'interpolate' : 'cluster';
});
$<HTMLInputElement>('file').addEventListener('change', (e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) useFile(f); });
const drop = $<HTMLDivElement>('drop');
document.body.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
document.body.addEventListener('dragleave', () => drop.classList.remove('over'));
document.body.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); const f = e.dataTransfer?.files[0]; if (f) useFile(f); });
$<HTMLButtonElement>('run').addEventListener('click', () => void run());
if (!navigator.gpu) {
  $<HTMLSelectElement>('backend').value = 'cpu';
  info.textContent = 'WebGPU is not available in this browser: the CPU backend is selected.';
}
