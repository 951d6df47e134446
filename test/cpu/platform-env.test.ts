// The CPU backend's environment settings are checked like options: a value they do not know is an error naming it,
// never read as the default.
import { afterEach, describe, expect, it } from 'vitest';
import { nodePlatform } from '../../src/cpu/platform-node.js';
import { emptyMemoryCache, PREFAULT_MIN_BYTES, prefaultAllowed, prefaultMemory } from '../../src/cpu/memory-pool.js';
import { cpuPlatform } from '../../src/cpu/platform.js';

afterEach(() => {
  delete process.env['LAZYLINALG_PREFAULT'];
  delete process.env['LAZYLINALG_WASM_TIERING'];
  emptyMemoryCache();
});

describe('LAZYLINALG_PREFAULT', () => {
  it('unset, blank or 1 allows prefaults, 0 turns them off', () => {
    for (const raw of [undefined, '', ' ', '1', ' 1 ']) expect(prefaultAllowed(raw)).toBe(true);
    expect(prefaultAllowed('0')).toBe(false);
  });

  it('anything else is refused, naming the value', () => {
    for (const raw of ['yes', 'off', 'true', '2']) {
      expect(() => prefaultAllowed(raw)).toThrow(`LAZYLINALG_PREFAULT must be 0 (off) or 1 (on, the default), got '${raw}'`);
    }
    process.env['LAZYLINALG_PREFAULT'] = 'off';
    if (cpuPlatform().prefault && cpuPlatform().cores() >= 2) {
      expect(() => prefaultMemory(PREFAULT_MIN_BYTES / 65536 + 1)).toThrow(/LAZYLINALG_PREFAULT must be 0 \(off\) or 1.*got 'off'/);
    }
  });
});

describe('LAZYLINALG_WASM_TIERING', () => {
  it("only 'default' (or unset) is known: another value is refused, naming it", () => {
    process.env['LAZYLINALG_WASM_TIERING'] = 'fast';
    expect(() => nodePlatform.optimizeWasm()).toThrow(`LAZYLINALG_WASM_TIERING must be 'default' (leave V8's tiering as it is) or unset, got 'fast'`);
    process.env['LAZYLINALG_WASM_TIERING'] = 'default';
    expect(() => nodePlatform.optimizeWasm()).not.toThrow();
  });
});
