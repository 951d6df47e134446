/**
 * Huge pages for large WebAssembly memories (native/huge-pages.c, src/cpu/platform-node.ts): on Linux every memory of
 * 4 MiB or more is advised MADV_HUGEPAGE, as numpy advises its arrays. Measured in child processes (the built
 * package, as a user runs it), where nothing else creates memories: /proc/self/smaps marks an advised range with the
 * VmFlag `hg`, so the bytes so marked grow by the memory's size. The helper is built by `npm ci`
 * (scripts/build-native.mjs); on Linux this suite fails, not skips, when it is missing — as the GPU tests do without
 * their adapter.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const distIndex = new URL('../../dist/index.js', import.meta.url).href;
const distPlatform = new URL('../../dist/cpu/platform.js', import.meta.url).href;
const distNode = new URL('../../dist/cpu/platform-node.js', import.meta.url).href;

/** Runs `body` (an ES module's code with `advisedBytes()` and the platform's exports) in a child; its last stdout line as JSON. */
function child(body: string, env: Record<string, string | undefined> = {}): { status: number | null; out: unknown; stderr: string } {
  const script = `
    import { readFileSync } from 'node:fs';
    await import(${JSON.stringify(distIndex)});
    const { newWasmMemory } = await import(${JSON.stringify(distPlatform)});
    const { hugePagesStatus, nodePlatform } = await import(${JSON.stringify(distNode)});
    // bytes of the mappings whose VmFlags hold 'hg' (MADV_HUGEPAGE)
    const advisedBytes = () => {
      let total = 0, size = 0;
      for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
        const s = /^Size:\\s+(\\d+) kB/.exec(line);
        if (s) size = Number(s[1]) * 1024;
        if (line.startsWith('VmFlags:') && line.split(/\\s+/).includes('hg')) total += size;
      }
      return total;
    };
    ${body}`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  return { status: run.status, out: last ? JSON.parse(last) : undefined, stderr: run.stderr };
}

const linux = process.platform === 'linux';

describe.runIf(linux)('huge pages for large memories (Linux)', () => {
  it('the native helper is built and loaded (npm ci builds it; scripts/build-native.mjs)', () => {
    const { out, stderr } = child('console.log(JSON.stringify(hugePagesStatus()));');
    expect(out, stderr).toEqual({ on: true });
  });

  it('a memory of 4 MiB or more is advised over its whole size; a smaller one is not', () => {
    const { out, stderr } = child(`
      const before = advisedBytes();
      const small = newWasmMemory(48);          // 3 MiB
      const afterSmall = advisedBytes();
      const large = newWasmMemory(160);         // 10 MiB
      const afterLarge = advisedBytes();
      new Uint8Array(large.buffer).fill(7);     // usable as before
      console.log(JSON.stringify({ small: afterSmall - before, large: afterLarge - afterSmall, sum: new Uint8Array(large.buffer).reduce((a, b) => a + b, 0), keep: small.buffer.byteLength }));`);
    expect(out, stderr).toMatchObject({ small: 0, sum: 7 * 160 * 65536 });
    // the whole 4 KiB pages inside the memory: all of it (V8's memories start on a page)
    expect((out as { large: number }).large).toBe(160 * 65536);
  });

  it('a stored kernel matrix lives in advised memory and its products are unchanged', () => {
    const body = `
      const { gaussianKernel, mulberry32, shutdownCpuPool } = await import(${JSON.stringify(distIndex)});
      const r = mulberry32(3);
      const n = 1100;
      const x = Array.from({ length: n }, () => [r(), r(), r()]);
      const before = advisedBytes();
      const K = gaussianKernel(x, { sigma: 0.5, denseCache: 'always' });
      const v = Array.from({ length: n }, () => r() - 0.5);
      await K.matvec(v);
      const y = Array.from(await K.matvec(v));
      console.log(JSON.stringify({ advised: advisedBytes() - before, y }));
      await shutdownCpuPool();`;
    const on = child(body);
    const off = child(body, { LAZYLINALG_HUGEPAGES: '0' });
    const a = on.out as { advised: number; y: number[] };
    const b = off.out as { advised: number; y: number[] };
    expect(a.advised, on.stderr).toBeGreaterThanOrEqual(1100 * 1100 * 4); // the packed float64 K: ≥ n²/2 doubles
    expect(b.advised, off.stderr).toBe(0);
    expect(a.y).toEqual(b.y); // the same bits
  });

  it('LAZYLINALG_HUGEPAGES=0 turns it off (said by info), another value is an error naming it', () => {
    const off = child('const m = newWasmMemory(160); console.log(JSON.stringify({ status: hugePagesStatus(), advised: advisedBytes(), keep: m.buffer.byteLength }));', { LAZYLINALG_HUGEPAGES: '0' });
    expect(off.out, off.stderr).toEqual({ status: { on: false, reason: 'LAZYLINALG_HUGEPAGES=0' }, advised: 0, keep: 160 * 65536 });
    const bad = child('newWasmMemory(160);', { LAZYLINALG_HUGEPAGES: 'yes' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/LAZYLINALG_HUGEPAGES must be 0 \(off\) or 1 \(on, the default\), got 'yes'/);
  });

  it('the helper refuses what is not a byte view by name', () => {
    const { out, stderr } = child(`
      const tries = [undefined, 3, new Float64Array(4), new ArrayBuffer(8)].map((v) => { try { nodePlatform.adviseHugePages(v); return 'accepted'; } catch (e) { return e.constructor.name + ': ' + e.message; } });
      console.log(JSON.stringify(tries));`);
    expect(out, stderr).toEqual(Array(4).fill('TypeError: adviseHugePages: expected a Uint8Array over a WebAssembly memory'));
  });
});
