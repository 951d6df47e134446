/**
 * The examples, the docs' runnable snippets and the notebooks import the built package (`lazylinalg` resolves to
 * dist/ through the package's own `exports`), as a user's script would: these helpers check that dist/ is there and
 * not older than src/, and run a module in a child Node process.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Throws unless dist/index.js exists and is at least as new as every file under src/. */
export function assertBuilt(): void {
  const index = join(ROOT, 'dist', 'index.js');
  if (!existsSync(index)) throw new Error('dist/index.js is missing: run `npm run build` first');
  if (statSync(index).mtimeMs + 1000 < newestMtime(join(ROOT, 'src'))) {
    throw new Error('dist/ is older than src/: run `npm run build` first (these tests run the built package)');
  }
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Runs `node file` from the repository root with extra environment variables; never rejects. */
export function runNode(file: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], {
      cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 * 2 ** 20,
      env: { ...process.env, LAZYLINALG_THREADS: '2', NO_COLOR: '1', ...env },
    }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
