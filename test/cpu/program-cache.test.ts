// Node's cache on disk of assembled programs (src/cpu/program-cache-node.ts): where it lives, what it trusts, and that
// a later process compiles a formula's programs from it — the same bytes, the same results — without assembling them.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ENTRIES, openProgramCache, programCacheDirectory, trimProgramCache } from '../../src/cpu/program-cache-node.js';
import { compileWat, programCounts } from '../../src/cpu/programs.js';
import { assembleWat } from '../../src/cpu/wat-assemble.js';

const distIndex = new URL('../../dist/index.js', import.meta.url).href;
const distPrograms = new URL('../../dist/cpu/programs.js', import.meta.url).href;
const setting = process.env['LAZYLINALG_PROGRAM_CACHE'];

afterEach(() => {
  process.env['LAZYLINALG_PROGRAM_CACHE'] = setting;
});

/** A small module text: one function adding `c` to an i32 (a shared memory imported, as every program). */
const textAdding = (c: number) => `(module\n(import "env" "mem" (memory 1 65536 shared))\n(func (export "f") (param $x i32) (result i32) (i32.add (local.get $x) (i32.const ${c}))))`;

const freshDirectory = () => join(mkdtempSync(join(tmpdir(), 'program-cache-')), 'programs');
const noWarnings = (message: string) => expect.fail(`unexpected warning: ${message}`);
const entries = (directory: string) => readdirSync(directory).filter((name) => name.endsWith('.wasm'));

/** Waits (polling) until `ready()` holds: a cache write goes on after the compile returns. */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (let t = 0; t < 200; t++) {
    if (ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect.fail(`timed out waiting for ${what}`);
}

async function run(module: WebAssembly.Module, x: number): Promise<number> {
  const instance = new WebAssembly.Instance(module, { env: { mem: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) } });
  return (instance.exports['f'] as (x: number) => number)(x);
}

describe('the program cache on disk (LAZYLINALG_PROGRAM_CACHE)', () => {
  it('lives in $XDG_CACHE_HOME or ~/.cache, or where an absolute path says; 0 turns it off; anything else is refused by name', () => {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    expect(programCacheDirectory(undefined, env({}))).toBe(join(homedir(), '.cache', 'lazylinalg', 'programs'));
    expect(programCacheDirectory(' ', env({ XDG_CACHE_HOME: '/var/cache/me' }))).toBe('/var/cache/me/lazylinalg/programs');
    expect(programCacheDirectory(undefined, env({ XDG_CACHE_HOME: 'relative' }))).toBe(join(homedir(), '.cache', 'lazylinalg', 'programs')); // ignored, as the XDG spec says
    expect(programCacheDirectory('0', env({}))).toBeUndefined();
    expect(programCacheDirectory('/srv/cache', env({}))).toBe('/srv/cache');
    for (const bad of ['cache', './cache', 'off', 'no']) {
      expect(() => programCacheDirectory(bad, env({}))).toThrow(new RangeError(`LAZYLINALG_PROGRAM_CACHE must be 0 (no cache), an absolute directory, or unset (the default ~/.cache/lazylinalg/programs), got '${bad}'`));
    }
  });

  it('keeps the bytes of a text and hands them back for that text only, in a private directory', async () => {
    const directory = freshDirectory();
    const cache = openProgramCache(directory, true, noWarnings)!;
    expect(statSync(directory).mode & 0o777).toBe(0o700);
    const text = textAdding(5);
    expect(cache.get(text)).toBeUndefined();
    const bytes = assembleWat(text);
    await cache.put(text, bytes);
    const [name] = entries(directory);
    expect(name).toMatch(/^[0-9a-f]{64}\.wasm$/);
    expect(statSync(join(directory, name!)).mode & 0o777).toBe(0o600);
    expect(Buffer.from(cache.get(text)!).equals(Buffer.from(bytes))).toBe(true);
    expect(cache.get(textAdding(6))).toBeUndefined();
    expect(cache.get(`${text} `)).toBeUndefined(); // other text, even the same program
    // two writers of one entry (two processes) leave one whole entry
    await Promise.all([cache.put(text, bytes), cache.put(text, bytes)]);
    expect(entries(directory)).toEqual([name]);
    expect(readdirSync(directory).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(Buffer.from(cache.get(text)!).equals(Buffer.from(bytes))).toBe(true);
  });

  it('a torn or altered entry is a miss, and removed', async () => {
    const directory = freshDirectory();
    const cache = openProgramCache(directory, true, noWarnings)!;
    const text = textAdding(7);
    const bytes = assembleWat(text);
    for (const damage of [(d: Buffer) => d.subarray(0, d.length - 3), (d: Buffer) => { const e = Buffer.from(d); e[e.length - 2]! ^= 1; return e; }, () => Buffer.alloc(0)]) {
      await cache.put(text, bytes);
      const file = join(directory, entries(directory)[0]!);
      writeFileSync(file, damage(readFileSync(file)));
      expect(cache.get(text)).toBeUndefined();
      await until(() => !existsSync(file), 'the damaged entry to go');
    }
  });

  it('is not used where the directory is writable by others, or cannot be made (warned where the user named it)', () => {
    const open = freshDirectory();
    openProgramCache(open, true, noWarnings);
    chmodSync(open, 0o777);
    const warnings: string[] = [];
    expect(openProgramCache(open, false, (m) => warnings.push(m))).toBeUndefined();
    expect(warnings).toEqual([`the program cache '${open}' is writable by its group (mode 777): not used (its entries are run as code; make it private, e.g. chmod 700, or set LAZYLINALG_PROGRAM_CACHE)`]);
    const file = join(mkdtempSync(join(tmpdir(), 'program-cache-')), 'a-file');
    writeFileSync(file, '');
    warnings.length = 0;
    expect(openProgramCache(join(file, 'programs'), false, (m) => warnings.push(m))).toBeUndefined();
    expect(warnings).toEqual([]); // the default place unusable: silently none
    expect(openProgramCache(join(file, 'programs'), true, (m) => warnings.push(m))).toBeUndefined();
    expect(warnings[0]).toMatch(/^LAZYLINALG_PROGRAM_CACHE: cannot create '.*a-file\/programs' \(.*\); programs are assembled in each process$/);
  });

  it('keeps at most MAX_ENTRIES entries: beyond, the oldest quarter goes', async () => {
    expect(MAX_ENTRIES).toBe(4096);
    const directory = freshDirectory();
    openProgramCache(directory, true, noWarnings);
    for (let k = 0; k < 10; k++) {
      const file = join(directory, `${String(k).padStart(64, '0')}.wasm`);
      writeFileSync(file, 'x');
      utimesSync(file, 1000 + k, 1000 + k);
    }
    await trimProgramCache(directory, 12);
    expect(entries(directory).length).toBe(10); // within the bound: nothing goes
    await trimProgramCache(directory, 8);
    expect(entries(directory).sort()).toEqual([4, 5, 6, 7, 8, 9].map((k) => `${String(k).padStart(64, '0')}.wasm`)); // down to 6, the oldest first
  });

  it('programs: assembled once, kept, and compiled from the cache for the same text (counted apart), running alike', async () => {
    const directory = freshDirectory();
    process.env['LAZYLINALG_PROGRAM_CACHE'] = directory;
    const text = textAdding(1000 + Math.floor(Math.random() * 1e6)); // text no earlier test of this process compiled
    const before = { ...programCounts };
    expect(await run(await compileWat('test|cache-a', () => text), 1)).toBeGreaterThan(1000);
    expect(programCounts.assembled - before.assembled).toBe(1);
    await until(() => existsSync(directory) && entries(directory).length === 1, 'the entry to be written');
    const again = await compileWat('test|cache-b', () => text); // another key, the same text: from the cache
    expect(programCounts.cached - before.cached).toBe(1);
    expect(programCounts.assembled - before.assembled).toBe(1);
    expect(await run(again, 1)).toBe(await run(await compileWat('test|cache-a', () => text), 1));
  });

  it('a setting that is not a directory fails the compile that reads it, naming it', async () => {
    process.env['LAZYLINALG_PROGRAM_CACHE'] = 'my-cache';
    await expect(compileWat('test|cache-bad', () => textAdding(3))).rejects.toThrow(/LAZYLINALG_PROGRAM_CACHE must be 0 .*got 'my-cache'/);
  });

  it('a later process compiles the kernel programs of the first from the cache, with the same products', () => {
    const directory = freshDirectory();
    const script = `
      const { gaussianKernel, shutdownCpuPool, mulberry32 } = await import(${JSON.stringify(distIndex)});
      const { programCounts } = await import(${JSON.stringify(distPrograms)});
      const rand = mulberry32(9);
      const data = Float64Array.from({ length: 700 * 5 }, () => rand());
      const K = gaussianKernel({ data, rows: 700, cols: 5 }, { sigma: 0.7, backend: 'cpu' });
      const y = await K.matvec(Float64Array.from({ length: 700 }, () => rand() - 0.5));
      await shutdownCpuPool();
      console.log(JSON.stringify({ y: Array.from(y.subarray(0, 50)), counts: programCounts }));`;
    const runProcess = () => {
      const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LAZYLINALG_PROGRAM_CACHE: directory } });
      if (out.status !== 0) throw new Error(out.stderr);
      return JSON.parse(out.stdout.trim().split('\n').pop()!) as { y: number[]; counts: { assembled: number; cached: number } };
    };
    const first = runProcess();
    expect(first.counts.assembled).toBeGreaterThan(0);
    expect(first.counts.cached).toBe(0);
    expect(entries(directory).length).toBe(first.counts.assembled); // written before the process ended
    const second = runProcess();
    expect(second.counts).toMatchObject({ assembled: 0, cached: first.counts.assembled });
    expect(second.y).toEqual(first.y);
  });
});
