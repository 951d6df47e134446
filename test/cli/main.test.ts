import { afterEach, describe, expect, it, vi } from 'vitest';
import { main, twoMoons } from '../../src/cli/main.js';

afterEach(() => vi.restoreAllMocks());

function capture(): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => { out.push(a.join(' ')); });
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { err.push(a.join(' ')); });
  return { out, err };
}

describe('lazylinalg CLI', () => {
  it('demo runs end to end on a small embedded set and reports accurate products and a converged solve', async () => {
    const { out } = capture();
    expect(await main(['demo', '--n', '400'])).toBe(0);
    const text = out.join('\n');
    const err = /relative error vs dense \(first \d+ rows\): float64 ([0-9.e+-]+), float32 ([0-9.e+-]+)/.exec(text);
    expect(err, text).not.toBeNull();
    expect(Number(err![1])).toBeLessThan(1e-12);
    expect(Number(err![2])).toBeLessThan(1e-5);
    expect(text).toMatch(/eigenvalues: [0-9.]+, [0-9.]+, [0-9.]+, [0-9.]+, [0-9.]+/);
    expect(text).toMatch(/solved to rtol 1e-6 in \d+ iterations/);
    const rmse = /RMSE at 500 fresh points: ([0-9.e+-]+)/.exec(text);
    expect(Number(rmse![1])).toBeLessThan(0.05);
  });

  it('bad input: unknown command, bad flag values', async () => {
    const { err } = capture();
    expect(await main(['frobnicate'])).toBe(2);
    expect(err.join('\n')).toMatch(/unknown command 'frobnicate'/);
    expect(await main(['demo', '--n', 'abc'])).toBe(1);
    expect(err.join('\n')).toMatch(/--n must be an integer in \[50, 200000\], got 'abc'/);
    expect(await main(['demo', '--sigma', '-1'])).toBe(1);
    expect(err.join('\n')).toMatch(/--sigma must be a positive number, got '-1'/);
  });

  it('the embedded data set is deterministic and labelled', () => {
    const a = twoMoons(50);
    const b = twoMoons(50);
    expect(a.points).toEqual(b.points);
    expect(Array.from(a.labels.slice(0, 4))).toEqual([0, 1, 0, 1]);
  });
});
