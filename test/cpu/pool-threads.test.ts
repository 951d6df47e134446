/**
 * The pool's thread count: LAZYLINALG_THREADS and setCpuThreads are clamped to the cores available (a thousand
 * workers took 177 s and 9 GB for a 1,000-point demo; 10⁹ ran out of memory), and a count that is not a
 * positive integer is an error naming the value.
 */
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clampThreads, threadsFromEnvironment } from '../../src/cpu/pool.js';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('CPU thread count', () => {
  it('LAZYLINALG_THREADS above the cores is clamped to them with a warning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    expect(threadsFromEnvironment('1000', 4)).toBe(4);
    expect(threadsFromEnvironment('1e9', 4)).toBe(4);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(String(warn.mock.calls[0]![0])).toMatch(/LAZYLINALG_THREADS = 1000 exceeds the 4 cores/);
    expect(threadsFromEnvironment('3', 4)).toBe(3);
    expect(threadsFromEnvironment(' 2 ', 4)).toBe(2);
    expect(threadsFromEnvironment(undefined, 4)).toBe(4);
    expect(threadsFromEnvironment('', 4)).toBe(4);
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it.each(['1.5', 'abc', '0', '-2', 'Infinity', '4 threads'])('LAZYLINALG_THREADS=%s is an error naming the value', (raw) => {
    expect(() => threadsFromEnvironment(raw, 4)).toThrow(`LAZYLINALG_THREADS must be a positive integer number of threads, got '${raw}'`);
  });

  it('setCpuThreads is clamped the same way and refuses non-integers, quoting the type', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    expect(clampThreads(1000, 'setCpuThreads', 2)).toBe(2);
    expect(String(warn.mock.calls[0]![0])).toMatch(/setCpuThreads = 1000 exceeds the 2 cores available; using 2 threads/);
    expect(() => clampThreads(2.5, 'setCpuThreads', 2)).toThrow(/setCpuThreads: expected a positive integer number of threads, got 2.5/);
    expect(() => clampThreads('4' as unknown as number, 'setCpuThreads', 2)).toThrow(/got "4" \(string\)/);
  });

  it('the pool reads LAZYLINALG_THREADS at its first use: 1000 gives the cores available, 1.5 an error', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    vi.stubEnv('LAZYLINALG_THREADS', '1000');
    vi.resetModules();
    await import('../../src/cpu/platform-node.js'); // the fresh modules' platform, as the Node entry installs it
    const fresh = await import('../../src/cpu/pool.js');
    expect(fresh.poolThreads()).toBe(availableParallelism());
    vi.stubEnv('LAZYLINALG_THREADS', '1.5');
    vi.resetModules();
    await import('../../src/cpu/platform-node.js');
    const again = await import('../../src/cpu/pool.js');
    expect(() => again.poolThreads()).toThrow(/got '1\.5'/);
  });
});
