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
    expect(r).toMatchObject({ code: 1, err: `lazylinalg: ${s.path('t.csv')}: 2×1 values; one column of 50 labels (one per point) is needed` });
    expect(s.list()).toEqual(['m.csv', 't.csv']);
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
});
