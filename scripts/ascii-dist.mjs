// Rewrites the built JavaScript in dist/ as ASCII: every non-ASCII UTF-16 unit (σ, α, ‖, — in messages) becomes a
// \uXXXX escape, which means the same character in a string, template, regular expression or identifier. Why: V8
// keeps each module's source text for as long as the process runs, and stores the whole text two bytes a character
// where a single character is not Latin-1 — 2.6 MB of the heap after import where the ASCII text (its comments
// already dropped by the build's second tsc pass) takes 1.1 MB; the first major GC of a short process then comes
// later and costs less (docs/internals.md, "Start-up"). Run by `npm run build` after tsc; the .d.ts files keep their
// comments and characters. Columns in a source map are off by five per escaped character on such lines.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/**
 * `text` with each non-ASCII unit escaped; throws where one follows a backslash (an identity escape, `\σ`).
 * @param {string} text
 * @param {string} file for the error
 * @returns {string}
 */
export function asciiSource(text, file) {
  return text.replace(/(\\*)([^\x00-\x7f])/g, (/** @type {string} */ _match, /** @type {string} */ slashes, /** @type {string} */ unit, /** @type {number} */ at) => {
    if (slashes.length % 2 === 1) {
      const line = text.slice(0, at).split('\n').length;
      throw new Error(`ascii-dist: ${file}:${line}: a backslash before '${unit}' (an identity escape) cannot be rewritten`);
    }
    return `${slashes}\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * Rewrites every module under `dir` (recursively) as `asciiSource`; returns how many there are and were rewritten.
 * @param {string} dir
 */
export function asciiModules(dir) {
  let files = 0;
  let rewritten = 0;
  const walk = (/** @type {string} */ dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(c|m)?js$/.test(entry.name)) {
        files++;
        const text = readFileSync(path, 'utf8');
        const ascii = asciiSource(text, path);
        if (ascii !== text) {
          writeFileSync(path, ascii);
          rewritten++;
        }
      }
    }
  };
  walk(dir);
  return { files, rewritten };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { files, rewritten } = asciiModules(dist);
  console.log(`ascii-dist: ${rewritten} of ${files} modules escaped to ASCII`);
}
