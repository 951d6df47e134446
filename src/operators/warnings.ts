/**
 * The process's warning channel for the layers above the backends (solvers, applications), which know operators and
 * not the platform: Node's `process.emitWarning` with a LAZYLINALG_* code, the browser's console.
 */
import { cpuPlatform } from '../cpu/platform.js';

export function warn(message: string, code: `LAZYLINALG_${string}`): void {
  cpuPlatform().warn(message, code);
}
