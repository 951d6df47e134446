/** `lazylinalg solve`: (K + αI) x = b for the kernel matrix of a point file (or a dense SPD matrix). */
import type { Matrix } from 'ml-matrix';
import type { IterationProgress } from '../../krylov/cg.js';
import { PRECONDITIONER_CHOICES, type PreconditionerChoice } from '../../preconditioners/auto.js';
import type { SolveResult } from '../../preconditioners/solve.js';
import { residualSpec } from '../../plot/specs.js';
import { InputFileError } from '../errors.js';
import { readTable } from '../io/files.js';
import { columnTable, matrixTable } from '../io/table.js';
import { formatMs } from '../progress.js';
import { operatorFor } from './eigsh.js';
import {
  applyBackend, probeGpuFor, BACKEND_FLAGS, checkOutputs, fmt, KERNEL_FLAGS, OUTPUT_FLAG, PLOT_FLAG, readPoints, SEED_FLAG, withFlags, writeResults, type Command,
} from './common.js';

/** The preconditioners that make a random choice (sketches, landmark samples): the ones --seed reaches. */
const SEEDED_PRECONDITIONERS: readonly PreconditionerChoice[] = ['auto', 'nystrom', 'landmarks', 'device-landmarks'];

export const solveCommand: Command = {
  spec: {
    name: 'solve',
    summary: '(K + αI) x = b by conjugate gradients (preconditioned) or a dense factor where that is cheaper',
    positionals: [{ name: 'POINTS', help: 'n×d points (CSV or .npy); with --matrix, an n×n SPD matrix' }],
    flags: [
      { name: 'rhs', kind: 'string', value: 'FILE', help: 'right-hand side b: n rows, one column per system (CSV or .npy); required' },
      { name: 'alpha', kind: 'number', min: 0, default: 0, value: 'A', help: 'shift α (the ridge/noise term)' },
      { name: 'rtol', kind: 'number', positive: true, default: 1e-6, value: 'R', help: 'stop when ‖b − (K + αI)x‖ ≤ rtol·‖b‖' },
      { name: 'maxiter', kind: 'int', min: 1, value: 'N', help: 'iteration limit (default 10·n)' },
      { name: 'method', kind: 'choice', choices: ['auto', 'cg', 'cholesky'], default: 'auto', help: 'how to solve' },
      { name: 'preconditioner', kind: 'choice', choices: PRECONDITIONER_CHOICES, default: 'auto', help: "CG's preconditioner" },
      { name: 'matrix', kind: 'bool', help: 'the input is the matrix itself, not points' },
      ...withFlags(KERNEL_FLAGS, { sigma: { help: 'kernel length scale σ (required with points)' } }), SEED_FLAG, ...BACKEND_FLAGS, OUTPUT_FLAG, PLOT_FLAG,
    ],
    examples: [
      'lazylinalg solve points.csv --rhs b.csv --sigma 0.2 --alpha 1e-3 --output x.csv',
      'lazylinalg solve points.npy --rhs b.npy --sigma 0.2 --alpha 1e-2 --method cg --plot residuals.svg',
    ],
    details: 'Non-convergence is an error (exit 1) that reports the residual reached; nothing is written then.',
  },
  async run(args, ctx) {
    checkOutputs(args);
    const rhsFile = args.required('rhs') as string;
    const method = args.string('method') as 'auto' | 'cg' | 'cholesky';
    const preconditioner = args.string('preconditioner') as PreconditionerChoice;
    // the dense factor has no preconditioner (nor CG's progress to report)
    if (method === 'cholesky') {
      args.refuse(['preconditioner'], "with --method cholesky (a dense factor; CG's preconditioner is not used)");
      args.refuse(['seed'], 'with --method cholesky (a dense factor makes no random choice)');
    }
    // the seed reaches only the preconditioners that sample; silently dropped elsewhere, it promised a reproducibility knob that did nothing
    if (!SEEDED_PRECONDITIONERS.includes(preconditioner)) {
      args.refuse(['seed'], `with --preconditioner ${preconditioner} (it makes no random choice; only ${SEEDED_PRECONDITIONERS.join(', ').replace(/, ([^,]*)$/, ' and $1')} do)`);
    }
    await applyBackend(args);
    const points = readPoints(args.positionals[0]!);
    if (!args.bool('matrix')) await probeGpuFor(args, points.rows * points.rows);
    const A = operatorFor(args, points);
    const b = readTable(rhsFile);
    if (b.rows !== A.shape[0]) throw new InputFileError(rhsFile, `${b.rows} rows, but the operator is ${A.shape[0]}×${A.shape[1]} (one row per point)`);
    const alpha = args.number('alpha')!;
    ctx.out(`solve: (${A} + ${alpha}·I) x = b, ${b.cols} right-hand side${b.cols > 1 ? 's' : ''}`);
    const t0 = performance.now();
    const rhs = b.cols === 1 ? Float64Array.from(b.data) : Array.from({ length: b.rows }, (_, i) => Array.from(b.data.subarray(i * b.cols, (i + 1) * b.cols)));
    const result = await A.solve(rhs, alpha, {
      returnInfo: true, rtol: args.number('rtol')!, method,
      ...(method === 'cholesky' ? {} : {
        preconditioner,
        // only the preconditioners with a random choice take a seed ('jacobi', 'cholesky', 'pivoted-cholesky' refuse one)
        ...(SEEDED_PRECONDITIONERS.includes(preconditioner) ? { preconditionerOptions: { seed: args.number('seed')! } } : {}),
        onProgress: (p: IterationProgress) => ctx.progress.update(`solve: iteration ${p.iteration}, residual ${fmt(p.residualNorm, 3)}, ${formatMs(p.elapsedMs)}`),
      }),
      ...(args.number('maxiter') !== undefined ? { maxiter: args.number('maxiter')! } : {}),
    }) as SolveResult;
    ctx.progress.done();
    const history = (Array.isArray(result.residualNorms[0]) ? (result.residualNorms as number[][])[0]! : result.residualNorms as number[]);
    if (result.info !== 0) {
      throw new Error(`no convergence (${result.message ?? `info ${result.info}`}) after ${result.iterations} iterations; last residual ${fmt(history[history.length - 1] ?? NaN, 3)}`);
    }
    ctx.out(`method ${result.plan.method}, ${result.iterations} iterations, ${result.matvecs} products, residual ${fmt(history[history.length - 1] ?? 0, 3)}, ${formatMs(performance.now() - t0)}`);
    const x = result.x;
    await writeResults(args, ctx, {
      table: x instanceof Float64Array ? columnTable(x, 'x') : matrixTable(x as Matrix),
      plot: () => residualSpec(history, { target: args.number('rtol')! * (history[0] ?? 1), title: `CG residual history (${result.plan.method}, α = ${alpha})` }),
    });
  },
};
