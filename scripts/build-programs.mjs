// The build's table of fixed WebAssembly programs (src/cpu/programs.ts): every program whose text depends on no input,
// assembled once here into dist/cpu/precompiled-programs.json, which the Node platform reads (platform-node.ts) so
// that a process compiles their bytes without assembling the text. Each entry holds the hash of its text: one made
// from other text (a table left from another build) is not used; the table also holds the digest of the modules that
// generate program texts, which names the formula programs a process keeps on disk by key. Run by `npm run build`
// after tsc.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
await import(new URL('index.js', dist).href); // installs the Node platform
// the modules that declare fixed programs (each declares them when loaded)
for (const file of ['tall-product', 'dense-cholesky', 'dense-lu-wasm', 'basis-sweeps', 'dense-product', 'points-prep', 'tridiagonal-ql']) await import(new URL(`cpu/${file}.js`, dist).href);
const { fixedPrograms, precompiledKey } = await import(new URL('cpu/programs.js', dist).href);
const { programTextHash } = await import(new URL('cpu/platform-node.js', dist).href);
const { assembleWat } = await import(new URL('cpu/wat-assemble.js', dist).href);
const { watForMemory } = await import(new URL('cpu/platform.js', dist).href);

const programs = {};
let bytes = 0;
// the Node platform's memories are shared: its variant only
for (const [key, wat] of fixedPrograms()) {
  const text = watForMemory(wat(), true);
  const binary = assembleWat(text);
  new WebAssembly.Module(binary); // V8 validates it here rather than in a user's process
  programs[precompiledKey(key, true)] = { hash: programTextHash(text), bytes: Buffer.from(binary).toString('base64') };
  bytes += binary.length;
}
// the digest of the modules that generate program texts (the fixed programs' and the formula emitter's: dist/cpu and
// dist/formula), names and contents: a formula program kept on disk under its key is tied to it (platform-node.ts)
const digest = createHash('sha256');
for (const dir of ['cpu', 'formula']) {
  for (const name of readdirSync(new URL(`${dir}/`, dist)).filter((f) => f.endsWith('.js')).sort()) {
    digest.update(`${dir}/${name}\0`).update(readFileSync(new URL(`${dir}/${name}`, dist))).update('\0');
  }
}
writeFileSync(new URL('cpu/precompiled-programs.json', dist), JSON.stringify({ build: digest.digest('hex'), programs }));
console.log(`build-programs: ${Object.keys(programs).length} fixed programs, ${(bytes / 1024).toFixed(0)} KiB`);
