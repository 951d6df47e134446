/**
 * The GPU test environment: acquires the device once per test file. In CI (`process.env.CI`) a
 * missing adapter fails the GPU tests; locally they are skipped with a visible message.
 */
import { it } from 'vitest';
import { acquireGpu, type GpuContext } from '../../src/gpu/device.js';

export async function probeGpu(): Promise<{ ctx?: GpuContext; reason?: string }> {
  try {
    return { ctx: await acquireGpu() };
  } catch (error) {
    return { reason: (error as Error).message };
  }
}

const probe = await probeGpu();
export const gpu = probe.ctx;
export const hasGpu = gpu !== undefined;

if (!hasGpu) {
  if (process.env['CI']) {
    it('a WebGPU adapter is available (required in CI)', () => {
      throw new Error(`no WebGPU adapter in CI: ${probe.reason}`);
    });
  } else {
    console.warn(`[test/gpu] SKIPPING GPU tests: ${probe.reason}`);
  }
}
