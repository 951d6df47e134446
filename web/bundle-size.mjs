// Size of the library's browser entry (src/browser.ts) bundled alone with its dependencies (mathjs's parser,
// ml-matrix), minified, and gzipped; fails if the bundle imports a Node built-in.
// Run: node web/bundle-size.mjs
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const { output } = await build({
  input: fileURLToPath(new URL('../src/browser.ts', import.meta.url)),
  platform: 'browser',
  logLevel: 'silent',
  write: false,
  output: { format: 'es', minify: true, codeSplitting: false },
});
let raw = 0;
let gz = 0;
for (const chunk of output) {
  const bytes = Buffer.from(chunk.type === 'chunk' ? chunk.code : chunk.source);
  raw += bytes.length;
  gz += gzipSync(bytes, { level: 9 }).length;
  if (chunk.type === 'chunk') {
    const foreign = [...chunk.imports, ...chunk.dynamicImports];
    if (foreign.length) throw new Error(`${chunk.fileName} imports ${foreign.join(', ')}: the browser entry must bundle on its own`);
  }
}
console.log(`browser entry (src/browser.ts + mathjs parser, ml-matrix): ${(raw / 1024).toFixed(1)} KiB minified, ${(gz / 1024).toFixed(1)} KiB gzip`);
