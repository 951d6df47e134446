/** What the commands share: their context, the common flags, the kernel they build, and result output. */
import type { KernelOperator } from '../../operators/kernel-operator.js';
import { cauchyKernel, gaussianKernel, laplacianKernel, maternKernel } from '../../operators/kernels.js';
import { chooseBackend, getBackendInfo, GPU_AUTO_MIN_PAIRS, setBackend } from '../../gpu/device.js';
import { checkPlotPath, renderPlot } from '../../plot/render.js';
import type { PlotSpec } from '../../plot/specs.js';
import { unwritableReason, writeFileAtomic } from '../../plot/write.js';
import type { Args, CommandSpec, Flag } from '../args.js';
import { UsageError } from '../errors.js';
import { checkOutputPath, encodeTable, readTable } from '../io/files.js';
import { asPoints, type Table } from '../io/table.js';
import type { Progress } from '../progress.js';

/** Where a command prints: `out` for results (stdout), `progress` for the live status line (stderr on a TTY). */
export interface Context {
  out(line: string): void;
  progress: Progress;
}

export interface Command {
  readonly spec: CommandSpec;
  run(args: Args, ctx: Context): Promise<void>;
}

export const KERNELS = ['gaussian', 'laplacian', 'cauchy', 'matern12', 'matern32', 'matern52'] as const;
export type KernelName = (typeof KERNELS)[number];

export const BACKEND_FLAGS: readonly Flag[] = [
  { name: 'backend', kind: 'choice', choices: ['auto', 'cpu', 'gpu'], default: 'auto', help: "where kernel products run ('auto': a hardware GPU when there is one, else the CPU)" },
  { name: 'dtype', kind: 'choice', choices: ['float64', 'float32'], help: 'precision of kernel products (default float64 on the CPU, float32 on the GPU)' },
  { name: 'quiet', kind: 'bool', help: 'no progress line on the terminal' },
];
export const SEED_FLAG: Flag = { name: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, default: 0, value: 'N', help: 'seed of every random choice (start vectors, sketches, k-means)' };
export const KERNEL_FLAGS: readonly Flag[] = [
  { name: 'kernel', kind: 'choice', choices: KERNELS, default: 'gaussian', help: 'kernel k(x, y)' },
  { name: 'sigma', kind: 'number', positive: true, value: 'S', help: 'kernel length scale σ' },
];
export const OUTPUT_FLAG: Flag = { name: 'output', kind: 'string', value: 'FILE', help: 'write the result to FILE (.csv, .json or .npy, by extension)' };
export const PLOT_FLAG: Flag = { name: 'plot', kind: 'string', value: 'FILE', help: 'write a plot to FILE (.svg or .png)' };

/** `flags` with the help (and other fields) of some replaced: a command's own wording of a shared flag. */
export function withFlags(flags: readonly Flag[], changes: Record<string, Partial<Flag>>): Flag[] {
  return flags.map((f) => (changes[f.name] ? { ...f, ...changes[f.name] } : f));
}

/** Checks output paths before any work, so a typo does not cost a long run. */
export function checkOutputs(args: Args): void {
  checkOutputPath(args.string('output'));
  const plot = args.string('plot');
  if (plot !== undefined) {
    try {
      checkPlotPath(plot);
    } catch (e) {
      throw new UsageError(`--plot: ${(e as Error).message}`);
    }
    const why = unwritableReason(plot);
    if (why) throw new UsageError(`--plot ${plot}: cannot be written: ${why}`);
  }
}

/** Applies --backend globally (with 'gpu', fails now when there is no adapter). */
export async function applyBackend(args: Args): Promise<void> {
  // a usage error, before any file is read (the library refuses it too, naming its own function)
  if (args.string('backend') === 'gpu' && args.string('dtype') === 'float64') {
    throw new UsageError(`${args.command}: --dtype float64 does not apply with --backend gpu (GPU products run in float32); use --backend cpu for float64`);
  }
  const choice = args.string('backend') as 'auto' | 'cpu' | 'gpu';
  // 'gpu' fails now when there is no adapter; 'auto' looks for one once the input is known to be large (probeGpuFor)
  if (choice === 'gpu') await setBackend(choice);
  else chooseBackend(choice);
}

/**
 * With --backend auto, looks for a GPU adapter where kernel products of `pairs` pairs could use one (from
 * GPU_AUTO_MIN_PAIRS): 'auto' takes the GPU only once an adapter was found (see `autoPrefersGpu`). Smaller inputs never
 * load Dawn (0.1–0.2 s, and its own warnings on stderr).
 */
export async function probeGpuFor(args: Args, pairs: number): Promise<void> {
  if (args.string('backend') === 'auto' && pairs >= GPU_AUTO_MIN_PAIRS) await getBackendInfo();
}

/** Reads the positional input file (a missing or bad file is an InputFileError). */
export function readPoints(file: string): Table {
  return readTable(file);
}

/** The kernel operator --kernel/--sigma/--dtype/--backend name on x (and y, for a cross kernel). */
export function kernelFor(args: Args, x: Table, sigma: number, y?: Table): KernelOperator {
  const points = asPoints;
  const common = {
    sigma,
    ...(y ? { y: points(y) } : {}),
    ...(args.string('dtype') ? { dtype: args.string('dtype') as 'float32' | 'float64' } : {}),
    backend: args.string('backend') as 'auto' | 'cpu' | 'gpu',
  };
  const name = args.string('kernel') as KernelName;
  switch (name) {
    case 'gaussian': return gaussianKernel(points(x), common);
    case 'laplacian': return laplacianKernel(points(x), common);
    case 'cauchy': return cauchyKernel(points(x), common);
    case 'matern12': return maternKernel(points(x), { ...common, nu: 0.5 });
    case 'matern32': return maternKernel(points(x), { ...common, nu: 1.5 });
    case 'matern52': return maternKernel(points(x), { ...common, nu: 2.5 });
  }
}

/**
 * Renders the plot (if asked) and encodes the output (if asked) in memory first, then writes both:
 * a failure in either leaves no file behind.
 */
export async function writeResults(args: Args, ctx: Context, result: { table?: Table; json?: unknown; plot?: () => PlotSpec | Promise<PlotSpec> }): Promise<void> {
  const output = args.string('output');
  const plotFile = args.string('plot');
  const files: [string, string | Uint8Array][] = [];
  if (output !== undefined && result.table) files.push([output, encodeTable(output, result.table, result.json)]);
  if (plotFile !== undefined && result.plot) files.push([plotFile, await renderPlot(await result.plot(), plotFile)]);
  for (const [file, bytes] of files) {
    writeFileAtomic(file, bytes);
    ctx.out(`wrote ${file}`);
  }
}

/** "1.234e-5"-style number for tables of results. */
export const fmt = (v: number, digits = 4): string => (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(digits - 1) : v.toPrecision(digits));
