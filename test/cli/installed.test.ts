/**
 * The built command as a user runs it: a child `node dist/cli/main.js`, outside vitest's setup file (which installs
 * the CPU platform for in-process tests and so hid a CLI that never installed it). `npm test` builds dist/ first.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lazylinalg-installed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lazylinalg = (...args: string[]) => execFileSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LAZYLINALG_THREADS: '2' } });

describe('the built CLI in a child process', () => {
  it('info reports the CPU backend and its threads', () => {
    const info = JSON.parse(lazylinalg('info', '--backend', 'cpu', '--json')) as Record<string, unknown>;
    expect(JSON.stringify(info)).toMatch(/cpu/);
    expect(info['programCache']).toEqual({ directory: null, entries: 0, bytes: 0 }); // the suite runs with the cache off
  });

  it('info says where the program cache is and what it holds; a solve there fills it', () => {
    const cache = join(dir, 'programs');
    const withCache = (...args: string[]) => execFileSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LAZYLINALG_THREADS: '2', LAZYLINALG_PROGRAM_CACHE: cache } });
    expect(withCache('info', '--backend', 'cpu')).toMatch(new RegExp(`^programs: ${cache.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, 0 kept \\(0\\.0 MiB\\)$`, 'm'));
    const pts = Array.from({ length: 30 }, (_, i) => [Math.cos(i), Math.sin(0.7 * i)]);
    writeFileSync(join(dir, 'q.csv'), pts.map((p) => p.join(',')).join('\n'));
    withCache('eigsh', 'q.csv', '--sigma', '0.5', '--k', '2', '--backend', 'cpu', '--quiet');
    const info = JSON.parse(withCache('info', '--backend', 'cpu', '--json')) as { programCache: { directory: string; entries: number; bytes: number } };
    expect(info.programCache.directory).toBe(cache);
    expect(info.programCache.entries).toBeGreaterThan(0);
    expect(info.programCache.bytes).toBeGreaterThan(0);
    expect(() => execFileSync(process.execPath, [cli, 'info'], { cwd: dir, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, LAZYLINALG_PROGRAM_CACHE: 'rel' } }))
      .toThrow(/LAZYLINALG_PROGRAM_CACHE must be 0 \(no cache\), an absolute directory, or unset/);
  });

  it('solve on a CSV matches a dense solve of the same system', () => {
    const pts = Array.from({ length: 40 }, (_, i) => [Math.cos(i), Math.sin(0.7 * i)]);
    writeFileSync(join(dir, 'p.csv'), pts.map((p) => p.join(',')).join('\n'));
    writeFileSync(join(dir, 'b.csv'), pts.map((_, i) => String(1 + (i % 3))).join('\n'));
    lazylinalg('solve', 'p.csv', '--rhs', 'b.csv', '--sigma', '0.5', '--alpha', '0.1', '--rtol', '1e-12', '--backend', 'cpu', '--output', 'x.json', '--quiet');
    const out = JSON.parse(readFileSync(join(dir, 'x.json'), 'utf8')) as { columns: string[]; rows: number[] };
    expect(out.columns).toEqual(['x']);
    const xs = out.rows;
    // residual of (K + 0.1 I) x = b, K Gaussian σ = 0.5, computed densely here
    let worst = 0;
    for (let i = 0; i < 40; i++) {
      let s = 0.1 * xs[i]!;
      for (let j = 0; j < 40; j++) s += Math.exp(-((pts[i]![0]! - pts[j]![0]!) ** 2 + (pts[i]![1]! - pts[j]![1]!) ** 2) / (2 * 0.25)) * xs[j]!;
      worst = Math.max(worst, Math.abs(s - (1 + (i % 3))));
    }
    expect(xs).toHaveLength(40);
    expect(worst).toBeLessThan(1e-8);
  });
});
