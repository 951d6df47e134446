// Node's cache on disk of assembled programs (src/cpu/program-cache-node.ts): where it lives, what it trusts, and that
// a later process compiles a formula's programs from it — the same bytes, the same results — without assembling them.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ENTRIES, openProgramCache, programCacheDirectory, trimProgramCache } from '../../src/cpu/program-cache-node.js';
import { compileWat, programCounts } from '../../src/cpu/programs.js';
import { assembleWat } from '../../src/cpu/wat-assemble.js';

const distIndex = new URL('../../dist/index.js', import.meta.url).href;
const distPrograms = new URL('../../dist/cpu/programs.js', import.meta.url).href;
const distCache = new URL('../../dist/cpu/program-cache-node.js', import.meta.url).href;
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

/** Whether `file` is there, as itself (a symlink counts, whatever it points at). */
const present = (file: string) => {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
};

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
    // written before the process ended, each under its text and under its key (the build's table is current)
    expect(entries(directory).length).toBe(2 * first.counts.assembled);
    const second = runProcess();
    expect(second.counts).toMatchObject({ assembled: 0, cached: first.counts.assembled });
    expect(second.y).toEqual(first.y);
  });
  it('an entry copied over (or linked to) the entry of another text is a miss, and removed: never the other program', async () => {
    const directory = freshDirectory();
    process.env['LAZYLINALG_PROGRAM_CACHE'] = directory;
    const cache = openProgramCache(directory, true, noWarnings)!;
    const c = 2000 + Math.floor(Math.random() * 1e6); // texts no earlier test of this process compiled
    const [textA, textB] = [textAdding(c), textAdding(c + 1)];
    await cache.put(textA, assembleWat(textA));
    const [nameA] = entries(directory);
    await cache.put(textB, assembleWat(textB));
    const nameB = entries(directory).find((name) => name !== nameA)!;
    const [fileA, fileB] = [join(directory, nameA!), join(directory, nameB)];
    for (const swap of [() => copyFileSync(fileA, fileB), () => symlinkSync(fileA, fileB)]) {
      rmSync(fileB, { force: true });
      swap();
      expect(cache.get(textB)).toBeUndefined();
      await until(() => !present(fileB), 'the misnamed entry to go');
      expect(existsSync(fileA)).toBe(true); // the entry linked to stays, and is still right for its own text
      expect(await run(new WebAssembly.Module(cache.get(textA)! as Uint8Array<ArrayBuffer>), 1)).toBe(c + 1);
    }
    // through compileWat (the platform's cache): the program of B computes x + c + 1, not A's x + c
    copyFileSync(fileA, fileB);
    const before = { ...programCounts };
    expect(await run(await compileWat(`test|swap-${c}`, () => textB), 1)).toBe(c + 2);
    expect(programCounts.cached - before.cached).toBe(0);
    expect(programCounts.assembled - before.assembled).toBe(1);
  });

  it('an entry of the earlier format (no name inside) is a miss, and removed', async () => {
    const directory = freshDirectory();
    const cache = openProgramCache(directory, true, noWarnings)!;
    const text = textAdding(8);
    const bytes = assembleWat(text);
    await cache.put(text, bytes);
    const file = join(directory, entries(directory)[0]!);
    writeFileSync(file, Buffer.concat([Buffer.from('lazylinalg wasm 1\n'), createHash('sha256').update(bytes).digest(), bytes])); // as written before
    expect(cache.get(text)).toBeUndefined();
    await until(() => !existsSync(file), 'the old entry to go');
    await cache.put(text, bytes);
    expect(Buffer.from(cache.get(text)!).equals(Buffer.from(bytes))).toBe(true);
  });

  it('temporary files older than an hour (a writer killed before its rename) are removed when trimming; a recent one stays', async () => {
    const directory = freshDirectory();
    const cache = openProgramCache(directory, true, noWarnings)!;
    const temporary = (k: number) => join(directory, `.${String(k).padStart(64, '0')}.wasm.4242.${k}.tmp`);
    writeFileSync(temporary(1), 'torn');
    writeFileSync(temporary(2), 'torn');
    writeFileSync(temporary(3), 'being written');
    const old = Date.now() / 1000 - 2 * 3600;
    utimesSync(temporary(1), old, old);
    utimesSync(temporary(2), old, old);
    writeFileSync(join(directory, 'notes.tmp'), 'not ours'); // not a name the cache writes: left alone
    utimesSync(join(directory, 'notes.tmp'), old, old);
    await trimProgramCache(directory);
    expect(readdirSync(directory).sort()).toEqual([`.${String(3).padStart(64, '0')}.wasm.4242.3.tmp`, 'notes.tmp']);
    writeFileSync(temporary(4), 'torn');
    utimesSync(temporary(4), old, old);
    await cache.put(textAdding(9), assembleWat(textAdding(9))); // each write trims
    expect(present(temporary(4))).toBe(false);
    expect(present(temporary(3))).toBe(true);
  });

  // In a child process (the built module): an entry that made the read block or never end hung the process itself.
  it.each([
    ['a FIFO', `execFileSync('mkfifo', [file])`, false],
    ['a symlink to /dev/zero', `symlinkSync('/dev/zero', file)`, false],
    ['a symlink to a FIFO elsewhere', `{ const f = join(mkdtempSync(join(tmpdir(), 'fifo-')), 'f'); execFileSync('mkfifo', [f]); symlinkSync(f, file); }`, false],
    ['a file of 65 MiB (sparse)', `{ const fd = openSync(file, 'w'); ftruncateSync(fd, 65 * 2 ** 20); closeSync(fd); }`, false],
    ['a directory', `mkdirSync(file)`, true],
  ])('an entry replaced by %s is a miss at once (removed unless a directory), never a hang', (_what, damage, staysDirectory) => {
    const directory = freshDirectory();
    const script = `
      import { execFileSync } from 'node:child_process';
      import { closeSync, ftruncateSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const { openProgramCache } = await import(${JSON.stringify(distCache)});
      const directory = ${JSON.stringify(directory)};
      const cache = openProgramCache(directory, true, (m) => { throw new Error(m); });
      const text = '(module)', bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
      await cache.put(text, bytes);
      const file = join(directory, readdirSync(directory).find((n) => n.endsWith('.wasm')));
      rmSync(file);
      ${damage};
      const t0 = performance.now();
      const got = cache.get(text);
      const ms = performance.now() - t0;
      await new Promise((resolve) => setTimeout(resolve, 200)); // the removal is asynchronous
      let kind = 'gone';
      try { const info = lstatSync(file); kind = info.isDirectory() ? 'directory' : info.isFile() ? 'file' : 'other'; } catch {}
      if (kind === 'directory') rmSync(file, { recursive: true });
      await cache.put(text, bytes);
      const again = cache.get(text);
      console.log(JSON.stringify({ miss: got === undefined, ms, kind, again: again ? Array.from(again) : null }));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    expect(out.signal, `the child hung (killed after 20 s): ${out.stderr}`).toBeNull();
    expect(out.status, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout.trim().split('\n').pop()!) as { miss: boolean; ms: number; kind: string; again: number[] | null };
    expect(result.miss).toBe(true);
    expect(result.ms).toBeLessThan(1000);
    expect(result.kind).toBe(staysDirectory ? 'directory' : 'gone');
    expect(result.again).toEqual([0, 97, 115, 109, 1, 0, 0, 0]); // written again, and read back
  });

  it('a later process with the entry of exp(-1.5‖x−y‖²) copied over (or linked to) that of exp(-2.5‖x−y‖²) computes the 2.5 product', () => {
    const directory = freshDirectory();
    const product = (C: number) => {
      const script = `
        const { kernelOperator, Vi, Vj, shutdownCpuPool, mulberry32 } = await import(${JSON.stringify(distIndex)});
        const { programCounts } = await import(${JSON.stringify(distPrograms)});
        const rand = mulberry32(11);
        const x = Array.from({ length: 200 }, () => [rand(), rand(), rand()]);
        const v = Float64Array.from({ length: 200 }, () => rand() - 0.5);
        const y = await kernelOperator('exp(-${C} * sqnorm2(x - y))', { x: Vi(x), y: Vj(x) }, { backend: 'cpu' }).matvec(v);
        await shutdownCpuPool();
        console.log(JSON.stringify({ x, v: Array.from(v), y: Array.from(y), counts: programCounts }));`;
      const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LAZYLINALG_PROGRAM_CACHE: directory } });
      if (out.status !== 0) throw new Error(out.stderr);
      return JSON.parse(out.stdout.trim().split('\n').pop()!) as { x: number[][]; v: number[]; y: number[]; counts: { assembled: number; cached: number } };
    };
    /** The largest error of a product of exp(-C‖x−y‖²), against the sums in plain JavaScript. */
    const worst = ({ x, v, y }: { x: number[][]; v: number[]; y: number[] }, C: number) => {
      let most = 0;
      for (let i = 0; i < x.length; i++) {
        let s = 0;
        for (let j = 0; j < x.length; j++) s += Math.exp(-C * x[i]!.reduce((d, a, k) => d + (a - x[j]![k]!) ** 2, 0)) * v[j]!;
        most = Math.max(most, Math.abs(s - y[i]!) / (1 + Math.abs(s)));
      }
      return most;
    };
    expect(worst(product(1.5), 1.5)).toBeLessThan(1e-12);
    const ofOneAndHalf = entries(directory);
    expect(worst(product(2.5), 2.5)).toBeLessThan(1e-12);
    const ofTwoAndHalf = entries(directory).filter((name) => !ofOneAndHalf.includes(name));
    expect(ofOneAndHalf.length).toBeGreaterThan(0);
    expect(ofTwoAndHalf.length).toBe(ofOneAndHalf.length);
    for (const swap of [copyFileSync, symlinkSync]) {
      // every entry of the 2.5 formula replaced by one of the 1.5 formula (one program each, here)
      for (const name of ofTwoAndHalf) {
        const file = join(directory, name);
        rmSync(file, { force: true });
        swap(join(directory, ofOneAndHalf[0]!), file);
      }
      const again = product(2.5);
      expect(worst(again, 2.5)).toBeLessThan(1e-12);
      expect(again.counts.cached).toBe(0); // the misnamed entries were misses
    }
  });
});
