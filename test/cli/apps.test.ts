import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelRidge } from '../../src/apps/kernel-ridge.js';
import { adjustedRandIndex } from '../../src/apps/metrics.js';
import { readTable } from '../../src/cli/io/files.js';
import { moonsCsv, run, scratch } from './helpers.js';

let cleanup: (() => void)[] = [];
afterEach(() => { cleanup.forEach((f) => f()); cleanup = []; });
function dir(files: Record<string, string | Uint8Array> = {}) {
  const s = scratch(files);
  cleanup.push(s.remove);
  return s;
}

describe('lazylinalg cluster', () => {
  it('separates a small two-moons CSV (ARI ≥ 0.95 from the written labels); --truth prints the same ARI; the SVG has one symbol per point', async () => {
    const { csv, labels } = moonsCsv(400);
    const s = dir({ 'moons.csv': csv, 'truth.csv': `label\n${Array.from(labels).join('\n')}\n` });
    const r = await run('cluster', s.path('moons.csv'), '--clusters', '2', '--backend', 'cpu', '--truth', s.path('truth.csv'),
      '--output', s.path('labels.npy'), '--plot', s.path('c.svg'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const got = readTable(s.path('labels.npy'));
    expect([got.rows, got.cols]).toEqual([400, 1]);
    const ari = adjustedRandIndex(labels, Int32Array.from(got.data));
    expect(ari).toBeGreaterThanOrEqual(0.95);
    expect(r.out).toContain(`adjusted Rand index against ${s.path('truth.csv')}: ${ari.toFixed(4)}`);
    expect(r.out).toMatch(/σ = [0-9.]+ \(heuristic\)/);
    const svg = readFileSync(s.path('c.svg'), 'utf8');
    expect((svg.match(/aria-roledescription="circle"/g) ?? []).length).toBe(400);
  });

  it('refuses a missing --clusters and a truth file of the wrong length', async () => {
    const { csv } = moonsCsv(50);
    const s = dir({ 'm.csv': csv, 't.csv': '0\n1\n' });
    expect(await run('cluster', s.path('m.csv'))).toMatchObject({ code: 2, err: 'lazylinalg: cluster: --clusters is required (see lazylinalg cluster --help)' });
    const r = await run('cluster', s.path('m.csv'), '--clusters', '2', '--truth', s.path('t.csv'), '--output', s.path('l.csv'));
    expect(r).toMatchObject({ code: 1, err: `lazylinalg: ${s.path('t.csv')}:2:2: the file ends after 2 rows; one column of 50 labels (one per point) is needed` });
    expect(s.list()).toEqual(['m.csv', 't.csv']);
  });
});

describe('lazylinalg cluster --truth: labels read as safe integers, refusals placed by file:line:column', () => {
  it('labels of 2^32 and beyond are labels (Int32Array.from wrapped 4294967296 to 0: ARI 0 instead of the true one)', async () => {
    const { csv, labels } = moonsCsv(200);
    const big = Array.from(labels, (l) => (l === 0 ? 0 : 4294967296));
    const huge = Array.from(labels, (l) => (l === 0 ? -(2 ** 53 - 1) : 2 ** 53 - 1));
    const s = dir({ 'm.csv': csv, 'small.csv': `${Array.from(labels).join('\n')}\n`, 'big.csv': `${big.join('\n')}\n`, 'huge.csv': `${huge.join('\n')}\n` });
    const ari = async (truth: string) => {
      const r = await run('cluster', s.path('m.csv'), '--clusters', '2', '--backend', 'cpu', '--quiet', '--truth', s.path(truth));
      expect({ err: r.err, code: r.code }).toEqual({ err: '', code: 0 });
      return /adjusted Rand index against .*: ([0-9.-]+)/.exec(r.out)![1];
    };
    const reference = await ari('small.csv');
    expect(Number(reference)).toBeGreaterThan(0.9);
    expect(await ari('big.csv')).toBe(reference);
    expect(await ari('huge.csv')).toBe(reference);
  });

  it.each([
    ['fraction.csv', 'label\n0\n1.5\n1\n0\n', (f: string) => `${f}:3:1: label '1.5' is not an integer (a number with a fraction)`],
    ['unsafe.csv', '0\n1\n9007199254740993\n0\n', (f: string) => `${f}:3:1: label '9007199254740993' is not a safe integer (beyond ±(2^53 − 1), not exact as float64)`],
    ['short.csv', '0\n1\n', (f: string) => `${f}:2:2: the file ends after 2 rows; one column of 4 labels (one per point) is needed`],
    ['long.csv', 'label\n0\n1\n0\n1\n1\n', (f: string) => `${f}:6:1: a 5th row; one column of 4 labels (one per point) is needed`],
    ['wide.csv', '0,1\n1,0\n0,1\n1,0\n', (f: string) => `${f}:1:3: 2 columns; one column of 4 labels (one per point) is needed`],
    ['text.csv', '0\n1\nb\n0\n', (f: string) => `${f}:3:1: non-numeric cell 'b'`],
  ])('%s', async (name, content, message) => {
    const s = dir({ 'm.csv': '0,0\n0,1\n5,5\n5,6\n', [name]: content });
    const r = await run('cluster', s.path('m.csv'), '--clusters', '2', '--backend', 'cpu', '--quiet', '--truth', s.path(name), '--output', s.path('l.csv'));
    expect(r).toMatchObject({ code: 1, err: `lazylinalg: ${message(s.path(name))}` });
    expect(s.list()).toEqual([name, 'm.csv'].sort());
  });

  it('a .npy truth file: float labels with a fraction are refused at their byte offset, int64 labels beyond 2^31 read', async () => {
    const { encodeNpy } = await import('../../src/cli/io/npy.js');
    const s = dir({ 'm.csv': '0,0\n0,1\n5,5\n5,6\n', 'f.npy': encodeNpy({ rows: 4, cols: 1, data: Float64Array.from([0, 0, 0.5, 1]) }), 'w.npy': encodeNpy({ rows: 2, cols: 2, data: Float64Array.from([0, 0, 1, 1]) }) });
    const go = (f: string) => run('cluster', s.path('m.csv'), '--clusters', '2', '--backend', 'cpu', '--quiet', '--truth', s.path(f));
    expect(await go('f.npy')).toMatchObject({ code: 1, err: `lazylinalg: ${s.path('f.npy')}: byte offset 144: label '0.5' is not an integer (a number with a fraction) at element [2, 0]` });
    expect(await go('w.npy')).toMatchObject({ code: 1, err: `lazylinalg: ${s.path('w.npy')}: byte offset 8: shape (2, 2); one column of 4 labels (one per point) is needed` });
  });
});

describe('lazylinalg interpolate', () => {
  const f = (x: number, y: number) => Math.sin(3 * x) * Math.cos(2 * y);
  const grid = (n: number, shift: number) => Array.from({ length: n }, (_, i) => [((i * 0.618 + shift) % 1) * 2 - 1, ((i * 0.377 + shift) % 1) * 2 - 1]);

  it('predictions equal KernelRidge fitted directly; with targets in the test file, RMSE and R² are printed (R² = model.score)', async () => {
    const train = grid(300, 0.1);
    const test = grid(80, 0.55);
    const s = dir({
      'train.csv': `x,y,f\n${train.map(([x, y]) => `${x},${y},${f(x!, y!)}`).join('\n')}\n`,
      'test.csv': test.map(([x, y]) => `${x}\t${y}\t${f(x!, y!)}`).join('\n'),
    });
    const r = await run('interpolate', s.path('train.csv'), '--sigma', '0.4', '--alpha', '1e-4', '--kernel', 'matern52', '--backend', 'cpu',
      '--predict', s.path('test.csv'), '--output', s.path('pred.csv'), '--plot', s.path('fit.png'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const model = await new KernelRidge({ kernel: 'matern', nu: 2.5, sigma: 0.4, alpha: 1e-4, backend: 'cpu', solveOptions: { rtol: 1e-10 } }).fit(train, train.map(([x, y]) => f(x!, y!)));
    const direct = await model.predict(test) as Float64Array;
    const got = readTable(s.path('pred.csv'));
    expect(got.columns).toEqual(['f']);
    const scale = Math.max(...direct.map(Math.abs));
    direct.forEach((v, i) => expect(Math.abs(got.data[i]! - v) / scale).toBeLessThan(1e-5));
    const r2 = await model.score(test, test.map(([x, y]) => f(x!, y!)));
    expect(r.out).toContain(`R² ${r2.toFixed(4)}`);
    expect(Array.from(readFileSync(s.path('fit.png')).subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it('1-D with two targets: one output column each; a prediction file of the wrong width is refused by name', async () => {
    const x = Array.from({ length: 60 }, (_, i) => i / 59);
    const s = dir({ 't.csv': x.map((v) => `${v} ${Math.sin(4 * v)} ${Math.cos(4 * v)}`).join('\n'), 'bad.csv': '1,2,3,4\n' });
    const r = await run('interpolate', s.path('t.csv'), '--sigma', '0.2', '--alpha', '1e-6', '--targets', '2', '--backend', 'cpu', '--output', s.path('fit.json'), '--plot', s.path('fit.svg'));
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(s.path('fit.json'), 'utf8')) as { columns: string[]; rows: number[][] };
    expect(json.columns).toEqual(['prediction0', 'prediction1']);
    json.rows.forEach(([a, b], i) => { expect(a).toBeCloseTo(Math.sin(4 * x[i]!), 3); expect(b).toBeCloseTo(Math.cos(4 * x[i]!), 3); });
    expect(readFileSync(s.path('fit.svg'), 'utf8')).toContain('mark-line');
    const bad = await run('interpolate', s.path('t.csv'), '--sigma', '0.2', '--alpha', '0', '--targets', '2', '--predict', s.path('bad.csv'));
    expect(bad).toMatchObject({ code: 1, err: `lazylinalg: ${s.path('bad.csv')}: 4 columns; the training points have d = 1 (give d columns, or d + 2 with the true targets)` });
  });
});

describe('lazylinalg demo', () => {
  it('runs small: clusters the moons (ARI printed ≥ 0.95), fits the signal, eigsh, and writes its plots', async () => {
    const s = dir();
    const r = await run('demo', '--n', '600', '--n-signal', '800', '--backend', 'cpu', '--out', s.path('plots'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(Number(/adjusted Rand index vs the true moons: ([0-9.]+)/.exec(r.out)![1])).toBeGreaterThanOrEqual(0.95);
    expect(Number(/RMSE against the noise-free signal: ([0-9.e-]+)/.exec(r.out)![1])).toBeLessThan(0.02);
    expect(r.out).toMatch(/not counted below/);
    expect(r.out).toContain(`plots written to ${s.path('plots')}/`);
    for (const p of ['clusters.png', 'interpolation.png', 'spectrum.png']) expect(readFileSync(s.path(`plots/${p}`)).readUInt32BE(0)).toBe(0x89504e47);
  });

  it('an --out that is a file, or under one, is refused before any work (it failed after the warm-up with a raw EEXIST/ENOTDIR from mkdir)', async () => {
    const s = dir({ 'afile': 'x' });
    for (const [out, why] of [[s.path('afile'), `${s.path('afile')} exists and is not a directory`], [s.path('afile/sub'), `${s.path('afile')} is not a directory`]] as const) {
      const r = await run('demo', '--n', '200', '--n-signal', '100', '--backend', 'cpu', '--quiet', '--out', out);
      expect(r).toEqual({ code: 2, out: '', err: `lazylinalg: demo: --out ${out}: cannot hold the plots: ${why}` });
    }
    expect(s.list()).toEqual(['afile']);
  });
});
