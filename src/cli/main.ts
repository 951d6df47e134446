#!/usr/bin/env node
/** The `lazylinalg` command: dispatch to a subcommand, report errors, exit 0 / 1 (failure) / 2 (usage). */
// The Node entry first: it installs the CPU platform, mathjs's loader and Dawn's (the internals below need them).
import '../index.js';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shutdownCpuPool } from '../cpu/pool.js';
import { closestKey } from '../operators/options.js';
import { formatHelp, parseArgs } from './args.js';
import { COMMANDS } from './commands/index.js';
import type { Context } from './commands/common.js';
import { exitStatus, InputFileError, UsageError } from './errors.js';
import { createProgress } from './progress.js';
import { cliVersion } from './version.js';

function overview(): string {
  const rows = COMMANDS.map((c) => `  ${c.spec.name.padEnd(12)} ${c.spec.summary}`);
  return [
    `lazylinalg ${cliVersion()} — symbolic kernel matrices as LinearOperators`,
    '',
    'Usage: lazylinalg <command> [options]      (lazylinalg <command> --help for its options)',
    '',
    'Commands:',
    ...rows,
    '',
    'Options: --help, --version',
    'Input files: CSV (header optional, delimiter , ; tab or blanks) or NumPy .npy. Output: .csv, .json or .npy by extension.',
    'Environment: LAZYLINALG_THREADS sets the number of CPU worker threads (default: all cores).',
  ].join('\n');
}

/** Runs the command line `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: readonly string[], ctx?: Partial<Context>): Promise<number> {
  const [name, ...rest] = argv;
  const out = ctx?.out ?? ((line: string) => console.log(line));
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      out(overview());
      return 0;
    }
    if (name === '--version' || name === '-V') {
      out(cliVersion());
      return 0;
    }
    const command = COMMANDS.find((c) => c.spec.name === name);
    if (command === undefined) {
      const hint = closestKey(name, COMMANDS.map((c) => c.spec.name));
      const what = name.startsWith('-') ? `unknown option '${name}' (a command comes first)` : `unknown command '${name}'`;
      throw new UsageError(`${what}${hint ? ` (did you mean '${hint}'?)` : ''}; commands: ${COMMANDS.map((c) => c.spec.name).join(', ')}`);
    }
    const args = parseArgs(command.spec, rest);
    if (args.bool('help')) {
      out(formatHelp(command.spec));
      return 0;
    }
    await command.run(args, { out, progress: ctx?.progress ?? createProgress(args.bool('quiet')) });
    return 0;
  } catch (error) {
    console.error(errorText(name, error));
    return exitStatus(error);
  } finally {
    await shutdownCpuPool();
  }
}

function errorText(command: string | undefined, error: unknown): string {
  if (error instanceof UsageError || error instanceof InputFileError) return `lazylinalg: ${error.message}`;
  const message = error instanceof Error ? error.message : String(error);
  return `lazylinalg${command ? ` ${command}` : ''}: ${message}`;
}

// run as a program (also through npm's bin symlink), not when imported by tests
const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
