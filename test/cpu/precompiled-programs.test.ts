// The build's table of fixed WebAssembly programs (src/cpu/programs.ts, scripts/build-programs.mjs): it holds every
// fixed program the sources declare, each entry the bytes `assembleWat` writes for this source's text (so the build
// in dist/ is current), and an entry made from other text is not used — the program is assembled instead.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/cpu/tall-product.js';
import '../../src/cpu/dense-cholesky.js';
import '../../src/cpu/dense-lu-wasm.js';
import '../../src/cpu/basis-sweeps.js';
import '../../src/cpu/dense-product.js';
import '../../src/cpu/points-prep.js';
import '../../src/cpu/tridiagonal-ql.js';
import { nodePlatform, precompiledLookup, precompiledTableIsCurrent, programTextHash } from '../../src/cpu/platform-node.js';
import { installCpuPlatform, watForMemory } from '../../src/cpu/platform.js';
import { compileWat, compileWatNow, fixedProgram, fixedPrograms, precompiledKey, programCounts } from '../../src/cpu/programs.js';
import { assembleWat } from '../../src/cpu/wat-assemble.js';

const tableFile = fileURLToPath(new URL('../../dist/cpu/precompiled-programs.json', import.meta.url));
const distIndex = new URL('../../dist/index.js', import.meta.url).href;

/** A small fixed program: one exported function adding 1 to an i32 (the import of a shared memory, as every program). */
const TEXT = '(module\n(import "env" "mem" (memory 1 65536 shared))\n(func (export "inc") (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1))))';

afterEach(() => installCpuPlatform(nodePlatform));

describe('the precompiled table of fixed programs', () => {
  it('holds every declared fixed program, each the bytes this source assembles', () => {
    expect(existsSync(tableFile), `${tableFile} (npm run build writes it)`).toBe(true);
    const { programs } = JSON.parse(readFileSync(tableFile, 'utf8')) as { programs: Record<string, { hash: string; bytes: string }> };
    const declared = [...fixedPrograms()].filter(([key]) => !key.startsWith('test|'));
    // the products of a stored K (2 storages × 7), the Cholesky factor (2) and solves (4), the LU (1), the sweeps (3), tall (4),
    // the points' passes (1), the tridiagonal QL (1), the basis' division (1), the vector sums (1)
    expect(declared.length).toBe(33);
    expect(Object.keys(programs).sort()).toEqual(declared.map(([key]) => precompiledKey(key, true)).sort());
    for (const [key, wat] of declared) {
      const text = watForMemory(wat(), true);
      const entry = programs[precompiledKey(key, true)]!;
      expect(entry.hash, key).toBe(programTextHash(text));
      expect(Buffer.from(entry.bytes, 'base64').equals(Buffer.from(assembleWat(text))), key).toBe(true);
    }
  });

  it('uses an entry only for the text it was made from', async () => {
    const bytes = (b: Uint8Array) => Buffer.from(b).toString('base64');
    // inc-a's entry was made from other text (its hash) and holds no program; inc-b's is this text's
    const table = {
      [precompiledKey('test|inc-a', true)]: { hash: programTextHash(`${TEXT} `), bytes: bytes(new Uint8Array([0, 1, 2])) },
      [precompiledKey('test|inc-b', true)]: { hash: programTextHash(TEXT), bytes: bytes(assembleWat(TEXT)) },
    };
    const lookup = precompiledLookup(() => table);
    expect(lookup(precompiledKey('test|inc-a', true), () => TEXT)).toBeUndefined();
    expect(lookup(precompiledKey('test|none', true), () => TEXT)).toBeUndefined();
    expect(lookup('constructor', () => TEXT)).toBeUndefined(); // no inherited keys
    installCpuPlatform({ ...nodePlatform, precompiledProgram: lookup });
    const run = async (compile: () => Promise<WebAssembly.Module>) => {
      const instance = new WebAssembly.Instance(await compile(), { env: { mem: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) } });
      return (instance.exports['inc'] as (x: number) => number)(41);
    };
    const before = { ...programCounts };
    expect(await run(fixedProgram('test|inc-a', () => TEXT))).toBe(42); // assembled, and right
    expect([programCounts.assembled - before.assembled, programCounts.precompiled - before.precompiled]).toEqual([1, 0]);
    expect(await run(fixedProgram('test|inc-b', () => TEXT))).toBe(42); // the table's bytes
    expect([programCounts.assembled - before.assembled, programCounts.precompiled - before.precompiled]).toEqual([1, 1]);
  });

  it('a table it can tell current is used by key alone, without the text; one it cannot, by text', () => {
    const table = { [precompiledKey('test|inc-c', true)]: { hash: programTextHash(`${TEXT} `), bytes: Buffer.from([7, 8]).toString('base64') } };
    let texts = 0;
    const text = () => (texts++, TEXT);
    let asked = 0;
    const current = precompiledLookup(() => table, () => (asked++, true));
    expect(Array.from(current(precompiledKey('test|inc-c', true), text)!)).toEqual([7, 8]);
    expect(current(precompiledKey('test|none', true), text)).toBeUndefined();
    expect(Array.from(current(precompiledKey('test|inc-c', true), text)!)).toEqual([7, 8]);
    expect([texts, asked]).toEqual([0, 1]); // no text generated; currency asked once
    const stale = precompiledLookup(() => table, () => false);
    expect(stale(precompiledKey('test|inc-c', true), text)).toBeUndefined(); // made from other text
    expect(texts).toBe(1);
  });

  it("the build's table is current: newer than every module beside it; a module written since (tsc alone, an edit) makes it not", () => {
    const dist = fileURLToPath(new URL('../../dist/cpu/', import.meta.url));
    expect(precompiledTableIsCurrent(dist)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'lazylinalg-table-'));
    try {
      copyFileSync(join(dist, 'precompiled-programs.json'), join(dir, 'precompiled-programs.json'));
      copyFileSync(join(dist, 'programs.js'), join(dir, 'programs.js'));
      const at = new Date('1985-10-26T08:15:00Z');
      for (const file of ['precompiled-programs.json', 'programs.js']) utimesSync(join(dir, file), at, at);
      expect(precompiledTableIsCurrent(dir)).toBe(true); // as old as the table (npm's packed files all carry one date)
      utimesSync(join(dir, 'programs.js'), at, new Date(at.getTime() + 1000));
      expect(precompiledTableIsCurrent(dir)).toBe(false);
      utimesSync(join(dir, 'programs.js'), at, at);
      // the formula emitter's directory too, where asked
      const formula = join(dir, 'formula');
      mkdirSync(formula);
      copyFileSync(fileURLToPath(new URL('../../dist/formula/sign.js', import.meta.url)), join(formula, 'sign.js'));
      utimesSync(join(formula, 'sign.js'), at, at);
      expect(precompiledTableIsCurrent(dir, [formula])).toBe(true);
      utimesSync(join(formula, 'sign.js'), at, new Date(at.getTime() + 1000));
      expect(precompiledTableIsCurrent(dir)).toBe(true);
      expect(precompiledTableIsCurrent(dir, [formula])).toBe(false);
      rmSync(join(dir, 'precompiled-programs.json'));
      expect(precompiledTableIsCurrent(dir)).toBe(false); // no table
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a fresh process of the build keeps a formula program under its key and the build's digest: the next one does not emit its text", () => {
    const cache = mkdtempSync(join(tmpdir(), 'lazylinalg-names-'));
    const script = `
      const { laplacianKernel, mulberry32, shutdownCpuPool } = await import(${JSON.stringify(distIndex)});
      const { programCounts } = await import(${JSON.stringify(new URL('../../dist/cpu/programs.js', import.meta.url).href)});
      const { nodePlatform } = await import(${JSON.stringify(new URL('../../dist/cpu/platform-node.js', import.meta.url).href)});
      const rand = mulberry32(8);
      const data = Float64Array.from({ length: 700 * 3 }, () => rand());
      const K = laplacianKernel({ data, rows: 700, cols: 3 }, { sigma: 0.4, backend: 'cpu', denseCache: 'always' });
      const y = await K.matvec(Float64Array.from({ length: 700 }, (_, i) => Math.sin(i)));
      await new Promise((resolve) => setTimeout(resolve, 200)); // the cache's writes, off the calling thread
      console.log(JSON.stringify({ ...programCounts, name: nodePlatform.programName('k'), y: Array.from(y.slice(0, 50)) }));
      await shutdownCpuPool();`;
    try {
      const run = () => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8', env: { ...process.env, LAZYLINALG_PROGRAM_CACHE: cache },
      }).trim().split('\n').pop()!) as { texts: number; assembled: number; cached: number; name: string; y: number[] };
      const first = run();
      const second = run();
      const { build } = JSON.parse(readFileSync(tableFile, 'utf8')) as { build: string };
      expect(build).toMatch(/^[0-9a-f]{64}$/);
      expect(first.name).toBe(`lazylinalg program ${build}\nk`);
      expect(first.assembled).toBeGreaterThanOrEqual(1); // an empty cache: the store's program emitted and assembled
      expect(first.texts).toBeGreaterThanOrEqual(1);
      expect([second.texts, second.assembled]).toEqual([0, 0]); // read back by name, its text not emitted
      expect(second.cached).toBeGreaterThanOrEqual(1);
      expect(second.y).toEqual(first.y); // the same program
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('refuses a key declared twice', () => {
    fixedProgram('test|twice', () => TEXT);
    expect(() => fixedProgram('test|twice', () => TEXT)).toThrow(/'test\|twice' is declared twice/);
  });

  it('serves a fresh process of the build: a Cholesky solve and a kernel eigsh compile their fixed programs from it', () => {
    const script = `
      const { gaussianKernel, shutdownCpuPool, mulberry32, cg } = await import(${JSON.stringify(distIndex)});
      const { programCounts } = await import(${JSON.stringify(new URL('../../dist/cpu/programs.js', import.meta.url).href)});
      const rand = mulberry32(4);
      const data = Float64Array.from({ length: 600 * 3 }, () => rand());
      const K = gaussianKernel({ data, rows: 600, cols: 3 }, { sigma: 0.3, backend: 'cpu' });
      const b = Float64Array.from({ length: 600 }, () => rand() - 0.5);
      const x = await K.solve(b, 0.1, { method: 'cholesky' });
      const r = await K.shift(0.1).matvec(x);
      let res = 0, nb = 0;
      for (let i = 0; i < 600; i++) { res += (r[i] - b[i]) ** 2; nb += b[i] ** 2; }
      const e = await K.eigsh(3);
      console.log(JSON.stringify({ ...programCounts, residual: Math.sqrt(res / nb), eigenvalues: Array.from(e.eigenvalues) }));
      await shutdownCpuPool();`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n').pop()!) as {
      assembled: number; precompiled: number; cached: number; texts: number; residual: number; eigenvalues: number[];
    };
    // the formula's programs are assembled (or read from the cache of earlier processes); the stored K's products and
    // the factor and solve come from the table, by key: at most the formula programs' texts were generated
    expect(out.precompiled).toBeGreaterThanOrEqual(3);
    expect(out.texts).toBeLessThanOrEqual(out.assembled + out.cached);
    expect(out.residual).toBeLessThan(1e-12);
    expect(out.eigenvalues.every((v) => v > 0)).toBe(true);
  });
});

describe('compileWatNow: a module the caller waits for at once', () => {
  const text = (k: number) => TEXT.replace('i32.const 1', `i32.const ${k}`);
  const run = async (m: Promise<WebAssembly.Module>, x: number) =>
    (new WebAssembly.Instance(await m, { env: { mem: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) } }).exports['inc'] as (v: number) => number)(x);

  it('compiles on this thread in Node (the module is there before any await), once per key', async () => {
    const before = programCounts.assembled;
    const first = compileWatNow('test|now|2', () => text(2));
    expect(programCounts.assembled).toBe(before + 1); // assembled (and compiled) synchronously
    expect(compileWatNow('test|now|2', () => text(99))).toBe(first); // cached: the second text is not used
    expect(await run(first, 5)).toBe(7);
  });

  it('returns the asynchronous compile already asked for, and compiles asynchronously where the host cannot synchronously', async () => {
    const pending = compileWat('test|now|3', () => text(3));
    expect(compileWatNow('test|now|3', () => text(3))).toBe(pending);
    installCpuPlatform({ ...nodePlatform, syncCompile: false });
    const before = programCounts.assembled;
    const later = compileWatNow('test|now|4', () => text(4));
    expect(await run(later, 1)).toBe(5);
    expect(programCounts.assembled).toBe(before + 1);
  });

  it("a fixed program's prepare() compiles it ahead, once, and now() then takes that module (a host that compiles only asynchronously too)", async () => {
    const program = fixedProgram('test|prepare|5', () => text(5));
    const before = programCounts.assembled;
    program.prepare();
    program.prepare();
    expect(programCounts.assembled).toBe(before + 1);
    const module = await program();
    installCpuPlatform({ ...nodePlatform, syncCompile: false });
    expect(program.now()).toBe(module); // not compiled again, though this host could not compile now
    expect(programCounts.assembled).toBe(before + 1);
    expect(await run(Promise.resolve(program.now()!), 1)).toBe(6);
    // never prepared, on that host: none yet (the caller falls back on its loops)
    expect(fixedProgram('test|prepare|6', () => text(6)).now()).toBeUndefined();
  });
});
