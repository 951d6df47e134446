/** `lazylinalg eigsh`: extreme eigenpairs of the kernel matrix of a point file (or of a dense symmetric matrix). */
import { Matrix } from 'ml-matrix';
import type { EigshProgress, EigshResult } from '../../krylov/eigsh.js';
import { symmetryTolerance, worstAsymmetricPair } from '../../krylov/symmetry.js';
import { aslinearoperator } from '../../operators/aslinearoperator.js';
import type { LinearOperator } from '../../operators/linear-operator.js';
import { spectrumSpec } from '../../plot/specs.js';
import type { Args } from '../args.js';
import { InputFileError, UsageError } from '../errors.js';
import { columnTable, matrixTable, type Table } from '../io/table.js';
import { formatMs } from '../progress.js';
import {
  applyBackend, probeGpuFor, BACKEND_FLAGS, checkOutputs, fmt, KERNEL_FLAGS, kernelFor, OUTPUT_FLAG, PLOT_FLAG, readPoints, SEED_FLAG, withFlags, writeResults,
  type Command, type Context,
} from './common.js';

export const eigshCommand: Command = {
  spec: {
    name: 'eigsh',
    summary: 'a few extreme eigenpairs of a kernel matrix, by thick-restart Lanczos',
    positionals: [{ name: 'POINTS', help: 'n×d points (CSV or .npy); with --matrix, an n×n symmetric matrix' }],
    flags: [
      { name: 'k', kind: 'int', min: 1, default: 6, value: 'K', help: 'number of eigenpairs' },
      { name: 'which', kind: 'choice', choices: ['LA', 'LM', 'SA', 'SM', 'BE'], default: 'LA', help: "which end of the spectrum (scipy's codes; with --shift, of 1/(λ − S): LM the nearest S)" },
      { name: 'shift', kind: 'number', value: 'S', help: "the eigenvalues nearest S, by shift-invert (eigsh's sigma: a dense factor of K − S·I where K fits, else inner MINRES); --which then defaults to LM" },
      { name: 'method', kind: 'choice', choices: ['auto', 'lanczos', 'dense'], default: 'auto', help: "'dense': a dense eigensolver (small n); 'auto': dense only where n ≤ 2·ncv" },
      { name: 'tol', kind: 'number', min: 0, default: 0, value: 'T', help: 'relative accuracy of the eigenvalues (0: machine precision)' },
      { name: 'matrix', kind: 'bool', help: 'the input is the matrix itself, not points' },
      { name: 'vectors', kind: 'bool', help: 'write the n×k eigenvectors to --output instead of the eigenvalues' },
      ...withFlags(KERNEL_FLAGS, { sigma: { help: 'kernel length scale σ (required with points)' } }), SEED_FLAG, ...BACKEND_FLAGS, OUTPUT_FLAG, PLOT_FLAG,
    ],
    examples: [
      'lazylinalg eigsh points.csv --sigma 0.5 --k 10',
      'lazylinalg eigsh points.npy --sigma 0.5 --k 20 --output eig.json --plot spectrum.png',
      'lazylinalg eigsh K.csv --matrix --k 3 --which SA',
      'lazylinalg eigsh points.csv --sigma 0.3 --k 3 --shift 0   # the smallest of a kernel matrix',
    ],
    details: 'With points, the operator is the n×n kernel matrix K_ij = k(x_i, x_j), never stored. Eigenvalues print in descending order.',
  },
  async run(args, ctx) {
    checkOutputs(args);
    // the eigenvectors are written, never printed: without a file they would be computed for nothing
    if (args.bool('vectors') && args.string('output') === undefined) throw new UsageError('eigsh: --vectors writes the eigenvectors to --output FILE; give --output');
    // the library's dense path reads neither (no start vector to seed, no iteration to stop): given, they would be dropped
    if (args.string('method') === 'dense') args.refuse(['seed', 'tol'], 'with --method dense (a dense eigensolver: no start vector, no tolerance)');
    await applyBackend(args);
    const input = readPoints(args.positionals[0]!);
    if (!args.bool('matrix')) await probeGpuFor(args, input.rows * input.rows);
    const A = operatorFor(args, input);
    const k = args.number('k')!;
    if (k >= A.shape[0]) throw new UsageError(`eigsh: --k ${k} must be below n = ${A.shape[0]}`);
    const shift = args.number('shift');
    const which = (shift !== undefined && !args.given('which') ? 'LM' : args.string('which')) as 'LA';
    ctx.out(`eigsh: ${A}, k = ${k}, which = ${which}${shift === undefined ? '' : `, nearest ${shift} (shift-invert)`}`);
    const t0 = performance.now();
    const result = await A.eigsh(k, {
      which, tol: args.number('tol')!, seed: args.number('seed')!, method: args.string('method') as 'auto',
      ...(shift === undefined ? {} : { sigma: shift }),
      returnEigenvectors: args.bool('vectors'),
      onProgress: (p: EigshProgress) => ctx.progress.update(`eigsh: restart ${p.iteration}, ${p.matvecs} products, ${p.nconv}/${k} converged, ${formatMs(p.elapsedMs)}`),
    }).catch((error: unknown) => { throw inFlags(error); }) as EigshResult;
    ctx.progress.done();
    const values = Array.from(result.eigenvalues).reverse();
    ctx.out(`eigenvalues (descending): ${values.map((v) => fmt(v, 6)).join(', ')}`);
    ctx.out(`${result.iterations} restarts, ${result.matvecs} products, ${formatMs(performance.now() - t0)}`);
    await writeResults(args, ctx, {
      table: args.bool('vectors') ? matrixTable(result.eigenvectors!, Array.from(result.eigenvalues, (_, i) => `v${i}`)) : columnTable(result.eigenvalues, 'eigenvalue'),
      json: { eigenvalues: Array.from(result.eigenvalues), iterations: result.iterations, matvecs: result.matvecs, ...(args.bool('vectors') ? { eigenvectors: result.eigenvectors!.to2DArray() } : {}) },
      plot: () => spectrumSpec(result.eigenvalues, { title: `${spectrumPart(which, shift)}: ${String(A).replace(/^<|>$/g, '')}` }),
    });
  },
};

/** What part of the spectrum the eigenvalues are, for the plot's title. */
function spectrumPart(which: string, shift: number | undefined): string {
  if (shift !== undefined) return which === 'LM' ? `Eigenvalues nearest ${shift}` : `Eigenvalues by shift-invert at ${shift} (which ${which})`;
  return { LA: 'Top of the spectrum', SA: 'Bottom of the spectrum', LM: 'Largest in magnitude', SM: 'Smallest in magnitude', BE: 'Both ends of the spectrum' }[which] ?? 'Eigenvalues';
}

/**
 * The library's advice in the CLI's words: eigsh's `sigma` (shift-invert) is --shift here — --sigma is the kernel's
 * length scale — and its `method` --method.
 */
function inFlags(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  // the library names the shift `sigma` (as scipy) and no kernel parameter so: every word of it is the shift
  error.message = error.message.replace(/\bsigma = /g, '--shift ').replace(/\bsigma\b/g, '--shift').replace(/\bmethod '(\w+)'/g, '--method $1');
  return error;
}

/** The kernel matrix of the points, or the matrix itself with --matrix. */
export function operatorFor(args: Args, input: Table): LinearOperator {
  if (args.bool('matrix')) {
    args.refuse(['kernel', 'sigma', 'dtype'], 'with --matrix (the matrix is used as given)');
    if (input.rows !== input.cols) throw new UsageError(`${args.command}: --matrix needs a square matrix, the file holds ${input.rows}×${input.cols}`);
    // the library's refusal would suggest { symmetric: true }, which no flag gives: the file is named instead
    const n = input.rows;
    const w = worstAsymmetricPair((i, j) => input.data[i * n + j]!, n, symmetryTolerance('float64'));
    if (w) {
      throw new InputFileError(args.positionals[0]!, `the matrix is not symmetric: row ${w.i}, column ${w.j} is ${w.aij} but row ${w.j}, ` +
        `column ${w.i} is ${w.aji} (counted from 0); ${args.command} needs a symmetric matrix`);
    }
    const rows = Array.from({ length: n }, (_, i) => Array.from(input.data.subarray(i * input.cols, (i + 1) * input.cols)));
    return aslinearoperator(new Matrix(rows));
  }
  const sigma = args.number('sigma');
  if (sigma === undefined) throw new UsageError(`${args.command}: --sigma is required with points (the kernel's length scale)`);
  return kernelFor(args, input, sigma);
}
