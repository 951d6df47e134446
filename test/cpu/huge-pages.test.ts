/**
 * Huge pages for large WebAssembly memories (native/huge-pages.c, src/cpu/platform-node.ts): on Linux every memory of
 * 512 KiB or more is advised MADV_HUGEPAGE, as numpy advises its arrays, and laid out from its first huge-page
 * boundary. Measured in child processes (the built package, as a user runs it), where nothing else creates memories:
 * /proc/self/smaps marks an advised range with the VmFlag `hg`, so the bytes so marked grow by the memory's size, and
 * counts the bytes on huge pages (AnonHugePages). The helper is built by `npm ci`
 * (scripts/build-native.mjs); on Linux this suite fails, not skips, when it is missing — as the GPU tests do without
 * their adapter.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const distIndex = new URL('../../dist/index.js', import.meta.url).href;
const distPlatform = new URL('../../dist/cpu/platform.js', import.meta.url).href;
const distNode = new URL('../../dist/cpu/platform-node.js', import.meta.url).href;

/** Runs `body` (an ES module's code with `advisedBytes()` and the platform's exports) in a child; its last stdout line as JSON. */
function child(body: string, env: Record<string, string | undefined> = {}): { status: number | null; out: unknown; stderr: string } {
  const script = `
    import { readFileSync } from 'node:fs';
    await import(${JSON.stringify(distIndex)});
    const { memoryBase, memoryPages, newWasmMemory } = await import(${JSON.stringify(distPlatform)});
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

  it('a memory of 512 KiB or more is advised over its whole size, and a layout from its base lies on huge pages only; a smaller one is neither', () => {
    const { out, stderr } = child(`
      const before = advisedBytes();
      const small = newWasmMemory(4);           // 256 KiB
      const afterSmall = advisedBytes();
      const large = newWasmMemory(160);         // 10 MiB
      const afterLarge = advisedBytes();
      const base = memoryBase(large);
      const layout = new Uint8Array(large.buffer, base, memoryPages(large) * 65536);
      layout.fill(7);                           // usable from its base on
      const smaps = readFileSync('/proc/self/smaps', 'utf8').split('\\n');
      // the rw mapping of exactly the memory's size: its start, and the bytes it has on huge pages
      let start, huge;
      for (let i = 0; i < smaps.length; i++) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(smaps[i]);
        if (!m || BigInt('0x' + m[2]) - BigInt('0x' + m[1]) !== BigInt(large.buffer.byteLength)) continue;
        start = BigInt('0x' + m[1]);
        for (let j = i + 1; j < smaps.length && !/^[0-9a-f]+-/.test(smaps[j]); j++) {
          const h = /^AnonHugePages:\\s+(\\d+) kB/.exec(smaps[j]);
          if (h) huge = Number(h[1]) * 1024;
        }
      }
      console.log(JSON.stringify({
        small: afterSmall - before, smallBase: memoryBase(small), large: afterLarge - afterSmall, whole: large.buffer.byteLength,
        pages: memoryPages(large), aligned: Number((start + BigInt(base)) % 2097152n), huge,
        sum: layout.reduce((a, b) => a + b, 0), keep: small.buffer.byteLength,
      }));`);
    expect(out, stderr).toMatchObject({ small: 0, smallBase: 0, pages: 160, aligned: 0, sum: 7 * 160 * 65536 });
    const o = out as { large: number; whole: number; huge: number };
    // the whole 4 KiB pages inside the memory: all of it (V8's memories start on a page), room for a boundary included
    expect(o.large).toBe(o.whole);
    expect(o.whole).toBeGreaterThanOrEqual(160 * 65536 + 2 * 2 ** 20);
    // the 10 MiB written from the base: 5 whole huge pages, no 4 KiB-paged head or tail
    expect(o.huge).toBe(10 * 2 ** 20);
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

  it("the helper's SHA-256 is node:crypto's: strings of any script (lone surrogates too), byte views, in parts", () => {
    const { out, stderr } = child(`
      const { nativeHelper } = await import(${JSON.stringify(new URL('../../dist/cpu/native-node.js', import.meta.url).href)});
      const { createHash } = await import('node:crypto');
      const h = nativeHelper();
      let mismatches = 0, cases = 0;
      for (let n = 0; n < 300; n++) {
        const text = 'é☃𝄞\\uD800x'.repeat(n % 7) + 'a'.repeat(n * 3);
        const bytes = new Uint8Array(n % 131).map((_, i) => i * 7);
        const want = createHash('sha256').update(bytes).update(text).update('\\n').update(bytes).digest();
        mismatches += h.sha256(bytes, text, '\\n', bytes).equals(want) ? 0 : 1;
        mismatches += h.sha256(text).equals(createHash('sha256').update(text).digest()) ? 0 : 1;
        cases += 2;
      }
      const refused = [3, new Float64Array(2), null].map((v) => { try { h.sha256(v); return 'accepted'; } catch (e) { return e.message; } });
      console.log(JSON.stringify({ mismatches, cases, empty: h.sha256().toString('hex'), refused }));`);
    expect(out, stderr).toEqual({
      mismatches: 0, cases: 600, empty: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      refused: Array(3).fill('sha256: expected up to 8 parts, each a string or a Uint8Array'),
    });
  });

  it('its prefault makes every page of a memory present off the calling thread, keeps every byte, and refuses bad arguments by name', () => {
    const { out, stderr } = child(`
      const { nativeHelper } = await import(${JSON.stringify(new URL('../../dist/cpu/native-node.js', import.meta.url).href)});
      const h = nativeHelper();
      const memory = new WebAssembly.Memory({ initial: 100, maximum: 100, shared: true });
      const view = new Uint8Array(memory.buffer);
      await new Promise((resolve, reject) => h.prefault(view, (e) => (e ? reject(e) : resolve())));
      const before = process.resourceUsage().minorPageFault;
      let sum = 0;
      for (let p = 0; p < view.length; p += 4096) { sum += view[p]; view[p] = 1; }
      const faults = process.resourceUsage().minorPageFault - before;
      // the same touches of a memory not prefaulted: one fault a page (1,600), where the prefaulted one takes only the
      // loop's own (the collector's pages)
      const fresh = new Uint8Array(new WebAssembly.Memory({ initial: 100, maximum: 100, shared: true }).buffer);
      const before2 = process.resourceUsage().minorPageFault;
      for (let p = 0; p < fresh.length; p += 4096) fresh[p] = 1;
      const freshFaults = process.resourceUsage().minorPageFault - before2;
      // the bytes keep their values: a memory filled first keeps its data through a prefault
      const kept = new Uint8Array(new WebAssembly.Memory({ initial: 100, maximum: 100, shared: true }).buffer);
      for (let p = 0; p < kept.length; p += 1000) kept[p] = (p / 1000) % 251 + 1;
      await new Promise((resolve, reject) => h.prefault(kept, (e) => (e ? reject(e) : resolve())));
      let intact = true;
      for (let p = 0; p < kept.length; p++) if (kept[p] !== (p % 1000 === 0 ? (p / 1000) % 251 + 1 : 0)) intact = false;
      const refused = [[3, () => {}], [view], [view, 3], [new Float64Array(4), () => {}]].map((a) => { try { h.prefault(...a); return 'accepted'; } catch (e) { return e.message; } });
      console.log(JSON.stringify({ sum, faults: faults * 10 < freshFaults, freshFaults: freshFaults >= 1000, intact, refused }));`);
    expect(out, stderr).toEqual({
      sum: 0, faults: true, freshFaults: true, intact: true,
      refused: Array(4).fill('prefault: expected a Uint8Array over a WebAssembly memory and a callback'),
    });
  });

  it('a small eigsh in a fresh process loads no node:crypto (its load cost ≈ 5 ms: the helper hashes and prefaults)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazylinalg-cache-'));
    const body = `
      const { gaussianKernel, aslinearoperator, mulberry32, shutdownCpuPool } = await import(${JSON.stringify(distIndex)});
      const r = mulberry32(5);
      const x = Array.from({ length: 1100 }, () => Array.from({ length: 8 }, r));
      await aslinearoperator(gaussianKernel(x, { sigma: 1 })).eigsh(3);
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => /crypto/.test(m))));
      await shutdownCpuPool();`;
    try {
      // twice: the first assembles the store's program and writes it to the cache, the second reads it back
      for (let run = 0; run < 2; run++) {
        const { out, stderr } = child(body, { LAZYLINALG_PROGRAM_CACHE: dir });
        expect(out, stderr).toEqual([]);
      }
      expect(readdirSync(dir).filter((f) => f.endsWith('.wasm')).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a helper built by another version is not used (node:crypto serves), and says why', () => {
    // an addon with the old exports and no version, built here as scripts/build-native.mjs builds the real one
    const dir = mkdtempSync(join(tmpdir(), 'lazylinalg-helper-'));
    try {
      mkdirSync(join(dir, 'dist', 'cpu'), { recursive: true });
      mkdirSync(join(dir, 'native', 'build'), { recursive: true });
      const source = join(dir, 'old.c');
      writeFileSync(source, [
        '#include <node_api.h>',
        'static napi_value noop(napi_env env, napi_callback_info info) { (void)env; (void)info; return NULL; }',
        'NAPI_MODULE_INIT() {',
        '  const char *names[] = { "adviseHugePages", "prefault", "sha256" };',
        '  for (int i = 0; i < 3; i++) { napi_value f; napi_create_function(env, names[i], NAPI_AUTO_LENGTH, noop, NULL, &f); napi_set_named_property(env, exports, names[i], f); }',
        '  return exports;',
        '}',
      ].join('\n'));
      const include = join(dirname(process.execPath), '..', 'include', 'node');
      execFileSync(process.env['CC']?.trim() || 'cc', ['-shared', '-fPIC', `-I${include}`, source, '-o', join(dir, 'native', 'build', 'huge-pages.node')]);
      copyFileSync(fileURLToPath(new URL('../../dist/cpu/native-node.js', import.meta.url)), join(dir, 'dist', 'cpu', 'native-node.js'));
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', `
        const m = await import(${JSON.stringify(pathToFileURL(join(dir, 'dist', 'cpu', 'native-node.js')).href)});
        console.log(JSON.stringify({ helper: m.nativeHelper() === undefined ? 'none' : 'loaded', why: m.nativeHelperMissing(), digest: m.sha256('abc').toString('hex') }));`], { encoding: 'utf8' });
      expect(JSON.parse(run.stdout.trim()), run.stderr).toEqual({
        helper: 'none',
        why: `${join(dir, 'native', 'build', 'huge-pages.node')} is version 1, this lazylinalg needs 3 (built by another version: npm rebuild lazylinalg)`,
        digest: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the helper refuses what is not a byte view by name', () => {
    const { out, stderr } = child(`
      const tries = [undefined, 3, new Float64Array(4), new ArrayBuffer(8)].map((v) => { try { nodePlatform.adviseHugePages(v); return 'accepted'; } catch (e) { return e.constructor.name + ': ' + e.message; } });
      console.log(JSON.stringify(tries));`);
    expect(out, stderr).toEqual(Array(4).fill('TypeError: adviseHugePages: expected a Uint8Array over a WebAssembly memory'));
  });
});
