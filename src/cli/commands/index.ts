/** Every subcommand, in the order `lazylinalg --help` lists them. */
import { benchCommand } from './bench.js';
import type { Command } from './common.js';
import { eigshCommand } from './eigsh.js';
import { infoCommand } from './info.js';
import { solveCommand } from './solve.js';

export const COMMANDS: readonly Command[] = [eigshCommand, solveCommand, infoCommand, benchCommand];
