/** Shared by the CLI tests: run `main` in-process with captured output, and a scratch directory. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface RunResult { code: number; out: string; err: string }

/** Runs the CLI with `argv`, capturing what it prints (stdout lines and console.error/warn). */
export async function run(...argv: string[]): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const e = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { err.push(a.join(' ')); });
  const w = vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => { err.push(a.join(' ')); });
  try {
    const code = await main(argv, { out: (line) => out.push(line) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    e.mockRestore();
    w.mockRestore();
  }
}

/** A fresh directory with `files` written in it (name → content). */
export function scratch(files: Record<string, string | Uint8Array> = {}): { dir: string; path: (name: string) => string; list: () => string[]; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lazylinalg-cli-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return { dir, path: (name) => join(dir, name), list: () => readdirSync(dir).sort(), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Two noisy half-moons (n/2 each), seeded, with their labels: a small clustering test set. */
export function moonsCsv(n: number, noise = 0.05, seed = 3): { csv: string; labels: Int32Array; points: number[][] } {
  let s = seed >>> 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const points: number[][] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = Math.PI * rand();
    const upper = i % 2 === 0;
    const [x, y] = upper ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
    points.push([x + noise * gauss(), y + noise * gauss()]);
    labels[i] = upper ? 0 : 1;
  }
  return { csv: `x,y\n${points.map((p) => p.join(',')).join('\n')}\n`, labels, points };
}
