/** Every subcommand, in the order `lazylinalg --help` lists them. */
import { benchCommand } from './bench.js';
import { clusterCommand } from './cluster.js';
import type { Command } from './common.js';
import { demoCommand } from './demo.js';
import { eigshCommand } from './eigsh.js';
import { infoCommand } from './info.js';
import { interpolateCommand } from './interpolate.js';
import { solveCommand } from './solve.js';

export const COMMANDS: readonly Command[] = [demoCommand, clusterCommand, interpolateCommand, eigshCommand, solveCommand, infoCommand, benchCommand];
