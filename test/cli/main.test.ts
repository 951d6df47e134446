import { readFileSync } from 'node:fs';
import { EigenvalueDecomposition, Matrix, solve as denseSolve } from 'ml-matrix';
import { afterEach, describe, expect, it } from 'vitest';
import { readTable } from '../../src/cli/io/files.js';
import { run, scratch } from './helpers.js';

let cleanup: (() => void)[] = [];
afterEach(() => { cleanup.forEach((f) => f()); cleanup = []; });
function dir(files: Record<string, string | Uint8Array> = {}) {
  const s = scratch(files);
  cleanup.push(s.remove);
  return s;
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** 40 points on a noisy spiral (seeded) and the dense Gaussian kernel matrix at σ. */
function spiral(n = 40): number[][] {
  return Array.from({ length: n }, (_, i) => [Math.cos(i * 0.4) * (1 + i / n), Math.sin(i * 0.4) * (1 + i / n), ((i * 7) % 5) / 10]);
}
function denseGaussian(x: number[][], sigma: number): Matrix {
  return new Matrix(x.map((a) => x.map((b) => Math.exp(-a.reduce((s, v, k) => s + (v - b[k]!) ** 2, 0) / (2 * sigma * sigma)))));
}

describe('command line: help, version, errors', () => {
  it('--version prints package.json\'s version; no command or --help lists every command', async () => {
    expect(await run('--version')).toEqual({ code: 0, out: VERSION, err: '' });
    const help = await run('--help');
    expect(help.code).toBe(0);
    for (const c of ['demo', 'cluster', 'interpolate', 'eigsh', 'solve', 'info', 'bench']) expect(help.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect((await run()).out).toBe(help.out);
  });

  it('every command has --help with its flags and examples', async () => {
    for (const c of ['demo', 'cluster', 'interpolate', 'eigsh', 'solve', 'info', 'bench']) {
      const r = await run(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: lazylinalg ${c}`);
      expect(r.out).toMatch(/Examples:\n {2}lazylinalg /);
    }
    expect((await run('eigsh', '--help')).out).toMatch(/--sigma S +kernel length scale σ/);
  });

  it('unknown commands and flags are errors naming them, with a did-you-mean; exit 2', async () => {
    expect(await run('eigs')).toEqual({ code: 2, out: '', err: "lazylinalg: unknown command 'eigs' (did you mean 'eigsh'?); commands: demo, cluster, interpolate, eigsh, solve, info, bench" });
    expect((await run('frobnicate')).err).toBe("lazylinalg: unknown command 'frobnicate'; commands: demo, cluster, interpolate, eigsh, solve, info, bench");
    expect((await run('eigsh', 'p.csv', '--sigam', '1')).err).toBe("lazylinalg: eigsh: unknown flag '--sigam' (did you mean '--sigma'?); see lazylinalg eigsh --help");
    expect((await run('info', '--verbose')).err).toBe("lazylinalg: info: unknown flag '--verbose'; see lazylinalg info --help");
    expect((await run('--input', 'p.csv')).err).toBe("lazylinalg: unknown option '--input' (a command comes first); commands: demo, cluster, interpolate, eigsh, solve, info, bench");
    for (const r of [await run('eigs'), await run('eigsh', 'p.csv', '--sigam', '1')]) expect(r.code).toBe(2);
  });

  it('bad flag values, a missing or extra argument, a repeated flag, an unknown output format: exit 2 before any work', async () => {
    const cases: [string[], string][] = [
      [['eigsh', 'p.csv', '--k', 'abc'], "eigsh: --k must be an integer ≥ 1, got 'abc'"],
      [['eigsh', 'p.csv', '--sigma', '-1'], "eigsh: --sigma must be a positive number, got '-1'"],
      [['eigsh', 'p.csv', '--backend', 'gpuu'], "eigsh: --backend must be one of auto, cpu, gpu (did you mean 'gpu'?), got 'gpuu'"],
      [['eigsh', 'p.csv', '--sigma'], 'eigsh: --sigma needs a value (S)'],
      [['eigsh'], 'eigsh: missing POINTS (n×d points (CSV or .npy); with --matrix, an n×n symmetric matrix); see lazylinalg eigsh --help'],
      [['eigsh', 'a.csv', 'b.csv'], "eigsh: unexpected argument 'b.csv'; see lazylinalg eigsh --help"],
      [['eigsh', 'p.csv', '--k', '2', '--k', '3'], 'eigsh: --k given twice'],
      [['eigsh', 'p.csv', '--sigma', '1', '--output', 'x.txt'], '--output x.txt: the extension must be one of .csv, .json, .npy (the format follows it)'],
      [['eigsh', 'p.csv', '--sigma', '1', '--plot', 'x.pdf'], '--plot: plot file x.pdf: the extension must be .svg or .png'],
      // a missing directory is found before the run, not at its end (it was, naming a temporary file)
      [['eigsh', 'p.csv', '--sigma', '1', '--plot', 'no-such-dir/x.svg'], '--plot no-such-dir/x.svg: cannot be written: its directory no-such-dir does not exist'],
      [['eigsh', 'p.csv', '--sigma', '1', '--output', 'no-such-dir/x.csv'], '--output no-such-dir/x.csv: cannot be written: its directory no-such-dir does not exist'],
      [['solve', 'p.csv', '--sigma', '1'], 'solve: --rhs is required (see lazylinalg solve --help)'],
      [['info', '--json=yes'], "info: --json takes no value, got 'yes'"],
      // Number() read hexadecimal, binary and octal forms: --sigma 0x10 ran with σ = 16
      [['eigsh', 'p.csv', '--sigma', '0x10'], "eigsh: --sigma must be a positive number, got '0x10'"],
      [['eigsh', 'p.csv', '--k', '0b11'], "eigsh: --k must be an integer ≥ 1, got '0b11'"],
      // the eigenvectors were computed and dropped without a file to write them to
      [['eigsh', 'p.csv', '--sigma', '1', '--vectors'], 'eigsh: --vectors writes the eigenvectors to --output FILE; give --output'],
      [['demo', '--no-plots', '--out', 'plots'], 'demo: --out does not apply with --no-plots (no plot is written)'],
      // it failed later, exit 1, naming gaussianKernel or spectralClustering
      [['cluster', 'p.csv', '--clusters', '2', '--backend', 'gpu', '--dtype', 'float64'], 'cluster: --dtype float64 does not apply with --backend gpu (GPU products run in float32); use --backend cpu for float64'],
      [['solve', 'p.csv', '--rhs', 'b.csv', '--sigma', '1', '--method', 'cholesky', '--preconditioner', 'jacobi'],
        "solve: --preconditioner does not apply with --method cholesky (a dense factor; CG's preconditioner is not used)"],
    ];
    for (const [argv, message] of cases) expect(await run(...argv)).toEqual({ code: 2, out: '', err: `lazylinalg: ${message}` });
  });
});

describe('command line: info, eigsh, solve', () => {
  it('info reports the backend setting, threads and (as JSON) the same fields', async () => {
    const r = await run('info', '--backend', 'cpu');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^lazylinalg ${VERSION.replace(/\./g, '\\.')} \\(Node `));
    expect(r.out).toMatch(/^backend: +cpu \(setting 'cpu'\)/m);
    expect(r.out).toMatch(/^cpu: +\d+ worker threads of \d+ cores/m);
    const j = JSON.parse((await run('info', '--backend', 'cpu', '--json')).out) as Record<string, unknown>;
    expect(j).toMatchObject({ version: VERSION, backend: 'cpu', setting: 'cpu', adapter: null });
    expect((j['cpu'] as { threads: number }).threads).toBeGreaterThan(0);
  });

  it('eigsh: the top eigenvalues of the kernel matrix match the dense decomposition; JSON, .npy and a PNG written', async () => {
    const x = spiral();
    const s = dir({ 'p.csv': x.map((r) => r.join(' ')).join('\n') });
    const r = await run('eigsh', s.path('p.csv'), '--sigma', '0.7', '--k', '4', '--backend', 'cpu', '--output', s.path('e.json'), '--plot', s.path('e.png'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const reference = new EigenvalueDecomposition(denseGaussian(x, 0.7)).realEigenvalues.sort((a, b) => a - b).slice(-4);
    const got = (JSON.parse(readFileSync(s.path('e.json'), 'utf8')) as { eigenvalues: number[] }).eigenvalues;
    got.forEach((v, i) => expect(v).toBeCloseTo(reference[i]!, 9));
    expect(Array.from(readFileSync(s.path('e.png')).subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(r.out).toContain(`wrote ${s.path('e.json')}`);

    const v = await run('eigsh', s.path('p.csv'), '--sigma', '0.7', '--k', '2', '--vectors', '--backend', 'cpu', '--output', s.path('v.npy'));
    expect(v.code).toBe(0);
    const vecs = readTable(s.path('v.npy'));
    expect([vecs.rows, vecs.cols]).toEqual([40, 2]);
  });

  it('eigsh --shift S: the eigenvalues nearest S by shift-invert (--which LM by default); --method dense; the library\'s advice in flags', async () => {
    const x = spiral(120);
    const s = dir({ 'p.csv': x.map((r) => r.join(',')).join('\n') });
    const all = new EigenvalueDecomposition(denseGaussian(x, 0.3)).realEigenvalues;
    const nearest = [...all].sort((a, b) => Math.abs(a - 2) - Math.abs(b - 2)).slice(0, 3).sort((a, b) => a - b);
    const r = await run('eigsh', s.path('p.csv'), '--sigma', '0.3', '--k', '3', '--shift', '2', '--backend', 'cpu', '--quiet', '--output', s.path('e.json'), '--plot', s.path('e.svg'));
    expect({ err: r.err, code: r.code }).toEqual({ err: '', code: 0 });
    expect(readFileSync(s.path('e.svg'), 'utf8')).toContain('Eigenvalues nearest 2'); // not "Top of the spectrum"
    expect(r.out).toMatch(/which = LM, nearest 2 \(shift-invert\)/);
    const got = (JSON.parse(readFileSync(s.path('e.json'), 'utf8')) as { eigenvalues: number[] }).eigenvalues;
    got.forEach((v, i) => expect(v).toBeCloseTo(nearest[i]!, 9));
    // the smallest end, densely
    const d = await run('eigsh', s.path('p.csv'), '--sigma', '0.3', '--k', '2', '--which', 'LA', '--method', 'dense', '--backend', 'cpu', '--quiet', '--output', s.path('d.json'));
    expect(d.code).toBe(0);
    const top = [...all].sort((a, b) => a - b).slice(-2);
    (JSON.parse(readFileSync(s.path('d.json'), 'utf8')) as { eigenvalues: number[] }).eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(top[i]!, 9));
    // eigsh's sigma is --shift here (--sigma is the kernel's σ): its errors say so — before, "sigma = 0", which no flag gave
    const e = await run('eigsh', s.path('p.csv'), '--sigma', '0.3', '--k', '2', '--shift', '1e300', '--backend', 'cpu', '--quiet');
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/--shift 1e\+300 is .* times ‖A‖/);
    expect(e.err).not.toMatch(/\bsigma\b/);
  });

  it('eigsh --matrix decomposes the given symmetric matrix; kernel flags are refused with it', async () => {
    const A = [[4, 1, 0], [1, 3, 1], [0, 1, 2]];
    const s = dir({ 'a.csv': A.map((r) => r.join(',')).join('\n') });
    const r = await run('eigsh', s.path('a.csv'), '--matrix', '--k', '1', '--which', 'SA', '--output', s.path('e.csv'));
    expect(r.code).toBe(0);
    const reference = Math.min(...new EigenvalueDecomposition(new Matrix(A)).realEigenvalues);
    const t = readTable(s.path('e.csv'));
    expect(t.columns).toEqual(['eigenvalue']);
    expect(t.data[0]).toBeCloseTo(reference, 10);
    expect((await run('eigsh', s.path('a.csv'), '--matrix', '--sigma', '1')).err).toBe('lazylinalg: eigsh: --sigma does not apply with --matrix (the matrix is used as given)');
    // a matrix that is not symmetric: the file and the pair named (the library's hint { symmetric: true } has no flag)
    const u = dir({ 'b.csv': '2,1,0\n0,2,0\n0,0,1', 'rhs.csv': '1\n1\n1' });
    const e = await run('eigsh', u.path('b.csv'), '--matrix', '--k', '1');
    expect(e.code).not.toBe(0);
    expect(e.err).toMatch(/b\.csv: the matrix is not symmetric: row 0, column 1 is 1 but row 1, column 0 is 0 \(counted from 0\); eigsh needs a symmetric matrix$/);
    expect((await run('solve', u.path('b.csv'), '--matrix', '--rhs', u.path('rhs.csv'))).err).toMatch(/b\.csv: the matrix is not symmetric: .*; solve needs a symmetric matrix$/);
  });

  it('solve: x matches a dense solve of (K + αI) x = b; the residual plot is an SVG; a wrong-length b is refused', async () => {
    const x = spiral();
    const b = x.map((p) => Math.sin(p[0]!) + p[2]!);
    const s = dir({ 'p.csv': x.map((r) => r.join(';')).join('\n'), 'b.csv': `b\n${b.join('\n')}\n`, 'short.csv': '1\n2\n' });
    const pts = s.path('p.csv');
    const r = await run('solve', pts, '--rhs', s.path('b.csv'), '--sigma', '0.5', '--alpha', '0.01', '--method', 'cg', '--rtol', '1e-10', '--backend', 'cpu', '--output', s.path('x.csv'), '--plot', s.path('r.svg'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const reference = denseSolve(denseGaussian(x, 0.5).add(Matrix.eye(40).mul(0.01)), Matrix.columnVector(b)).getColumn(0);
    const got = readTable(s.path('x.csv'));
    const err = Math.hypot(...reference.map((v, i) => v - got.data[i]!)) / Math.hypot(...reference);
    expect(err).toBeLessThan(1e-7);
    expect(readFileSync(s.path('r.svg'), 'utf8')).toContain('CG residual history (cg');
    const bad = await run('solve', pts, '--rhs', s.path('short.csv'), '--sigma', '0.5', '--backend', 'cpu');
    expect(bad).toEqual({ code: 1, out: '', err: `lazylinalg: ${s.path('short.csv')}: 2 rows, but the operator is 40×40 (one row per point)` });
  });

  it('solve: every --method and --preconditioner choice runs (--method cholesky and the unseeded preconditioners failed on options the CLI passed)', async () => {
    const x = spiral();
    const b = x.map((p) => Math.sin(p[0]!) + p[2]!);
    const s = dir({ 'p.csv': x.map((r) => r.join(',')).join('\n'), 'b.csv': `${b.join('\n')}\n` });
    const reference = denseSolve(denseGaussian(x, 0.5).add(Matrix.eye(40).mul(0.01)), Matrix.columnVector(b)).getColumn(0);
    const runs: string[][] = [
      ['--method', 'cholesky'], // was: "solve: option 'onProgress' is for CG; method 'cholesky' does not use it"
      ...['none', 'nystrom', 'landmarks', 'jacobi', 'pivoted-cholesky', 'cholesky'].map((p) => ['--method', 'cg', '--preconditioner', p]), // jacobi, cholesky: "takes no options … got 'seed'"
    ];
    for (const extra of runs) {
      const r = await run('solve', s.path('p.csv'), '--rhs', s.path('b.csv'), '--sigma', '0.5', '--alpha', '0.01', '--rtol', '1e-10', '--backend', 'cpu', '--quiet', '--output', s.path('x.csv'), ...extra);
      expect({ extra, err: r.err, code: r.code }).toEqual({ extra, err: '', code: 0 });
      expect(r.out).toContain(`method ${extra[1]}`);
      const got = readTable(s.path('x.csv'));
      expect(Math.hypot(...reference.map((v, i) => v - got.data[i]!)) / Math.hypot(...reference)).toBeLessThan(1e-7);
    }
  });

  it('solve and eigsh refuse --seed (and eigsh --tol) where nothing uses them: it was dropped without a word', async () => {
    const x = spiral();
    const s = dir({ 'p.csv': x.map((r) => r.join(',')).join('\n'), 'b.csv': `${x.map((p) => p[0]).join('\n')}\n` });
    const solve = (...extra: string[]) => run('solve', s.path('p.csv'), '--rhs', s.path('b.csv'), '--sigma', '0.5', '--alpha', '0.01', '--backend', 'cpu', '--quiet', ...extra);
    expect(await solve('--method', 'cholesky', '--seed', '3')).toEqual({ code: 2, out: '', err: 'lazylinalg: solve: --seed does not apply with --method cholesky (a dense factor makes no random choice)' });
    for (const p of ['none', 'jacobi', 'cholesky', 'pivoted-cholesky']) {
      expect(await solve('--preconditioner', p, '--seed', '3')).toEqual({ code: 2, out: '', err: `lazylinalg: solve: --seed does not apply with --preconditioner ${p} (it makes no random choice; only auto, nystrom, landmarks and device-landmarks do)` });
    }
    // where a seed is used it is still taken, and so is the default seed with any preconditioner
    for (const extra of [['--preconditioner', 'nystrom', '--seed', '3'], ['--preconditioner', 'jacobi'], ['--method', 'cholesky']]) expect((await solve(...extra)).code).toBe(0);
    const eig = (...extra: string[]) => run('eigsh', s.path('p.csv'), '--sigma', '0.5', '--k', '2', '--backend', 'cpu', '--quiet', ...extra);
    expect(await eig('--method', 'dense', '--seed', '7')).toEqual({ code: 2, out: '', err: 'lazylinalg: eigsh: --seed does not apply with --method dense (a dense eigensolver: no start vector, no tolerance)' });
    expect(await eig('--method', 'dense', '--tol', '1e-3')).toEqual({ code: 2, out: '', err: 'lazylinalg: eigsh: --tol does not apply with --method dense (a dense eigensolver: no start vector, no tolerance)' });
    for (const extra of [['--method', 'dense'], ['--method', 'lanczos', '--seed', '7', '--tol', '1e-3']]) expect((await eig(...extra)).code).toBe(0);
  });

  it("solve: the default --method auto factors where the library's 'auto' does (it passed CG-only options and always ran CG)", async () => {
    // 40 points, α = 10⁻⁸: κ ≈ 10⁹, which CG does not solve in 10·n iterations — before, "no convergence … after 400
    // iterations" and exit 1, where K.solve factors
    const x = spiral();
    const b = x.map((p) => Math.sin(p[0]!) + p[2]!);
    const s = dir({ 'p.csv': x.map((r) => r.join(',')).join('\n'), 'b.csv': `${b.join('\n')}\n` });
    const r = await run('solve', s.path('p.csv'), '--rhs', s.path('b.csv'), '--sigma', '0.5', '--alpha', '1e-8', '--rtol', '1e-10', '--backend', 'cpu', '--quiet', '--output', s.path('x.csv'));
    expect({ err: r.err, code: r.code }).toEqual({ err: '', code: 0 });
    expect(r.out).toMatch(/^method cholesky, /m);
    const reference = denseSolve(denseGaussian(x, 0.5).add(Matrix.eye(40).mul(1e-8)), Matrix.columnVector(b)).getColumn(0);
    const got = readTable(s.path('x.csv'));
    expect(Math.hypot(...reference.map((v, i) => v - got.data[i]!)) / Math.hypot(...reference)).toBeLessThan(1e-5);
  });
});
