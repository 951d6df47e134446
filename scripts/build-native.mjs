// Builds lazylinalg's optional native helper (native/huge-pages.c → native/build/huge-pages.node) at install, with
// the C compiler already on the machine and Node's own headers: nothing is downloaded. Linux only (the helper asks
// for transparent huge pages). Never fails the install: without a compiler or headers it says why and lazylinalg runs
// on 4 KiB pages (see docs/gpu-and-numerics.md, "Huge pages"). CC overrides the compiler (default cc).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'huge-pages.c');
const target = join(root, 'native', 'build', 'huge-pages.node');

const skip = (why) => {
  console.log(`lazylinalg: native huge-page helper not built (${why}); products run on the kernel's default pages`);
  process.exit(0);
};

if (process.platform !== 'linux') skip(`not Linux: ${process.platform}`);
if (!existsSync(source)) skip(`${source} is missing`);
// Node's headers: where npm was told to build addons against (npm_config_nodedir), else beside this node binary
const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')].filter(Boolean).map((dir) => join(dir, 'include', 'node'));
const include = candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
if (!include) skip(`no node_api.h under ${candidates.join(' or ')}`);

const compiler = process.env.CC?.trim() || 'cc';
const partial = `${target}.${process.pid}.tmp`;
mkdirSync(dirname(target), { recursive: true });
try {
  execFileSync(compiler, ['-O2', '-std=c11', '-D_DEFAULT_SOURCE', '-Wall', '-Werror', '-shared', '-fPIC', `-I${include}`, source, '-o', partial], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(partial, target);
} catch (error) {
  rmSync(partial, { force: true });
  const detail = (String(error.stderr ?? '').trim() || error.message).split('\n').slice(0, 3).join(' / ');
  skip(`${compiler} failed: ${detail}`);
}
console.log(`lazylinalg: built ${target}`);
