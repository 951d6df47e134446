/**
 * The code in README.md and docs/*.md can't go stale: every ```js block marked `runnable` runs, in order, in one
 * Node process per page, importing the built package as a user would; a block that throws fails the page, named by
 * its line. Every other js/ts block must say why it is not run (`js norun`: an error shown on purpose, a fragment).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ROOT, runNode } from './built-package.js';

interface Block { info: string; code: string; line: number }

/** Fenced code blocks (``` only) with their info string and the line of the opening fence. */
function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!)) body.push(lines[i]!);
    blocks.push({ info: open[1]!.trim(), code: body.join('\n'), line: start + 1 });
  }
  return blocks;
}

const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const OUT = join(ROOT, 'build', 'doc-snippets');

describe('runnable code in the docs', () => {
  beforeAll(() => {
    assertBuilt();
    rmSync(OUT, { recursive: true, force: true });
  });

  it('finds fences the way a Markdown renderer does', () => {
    const blocks = fencedBlocks('text\n```js runnable\nconst a = 1;\n```\n\n```sh\nnpm test\n```\n');
    expect(blocks).toEqual([{ info: 'js runnable', code: 'const a = 1;', line: 2 }, { info: 'sh', code: 'npm test', line: 6 }]);
  });

  for (const page of PAGES) {
    const blocks = fencedBlocks(readFileSync(join(ROOT, page), 'utf8'));
    const code = blocks.filter((b) => /^(js|ts|javascript|typescript)\b/.test(b.info));

    it(`${page}: every js/ts block is marked runnable or norun`, () => {
      const unmarked = code.filter((b) => !/\b(runnable|norun)\b/.test(b.info)).map((b) => `line ${b.line}: \`\`\`${b.info}`);
      expect(unmarked).toEqual([]);
      for (const b of code.filter((c) => /\brunnable\b/.test(c.info))) expect(b.info, `line ${b.line}`).toMatch(/^js\b/);
    });

    const runnable = code.filter((b) => /\brunnable\b/.test(b.info));
    if (runnable.length === 0) continue;
    it(`${page}: its ${runnable.length} runnable block(s) run`, async () => {
      const dir = join(OUT, page.replace(/[/.]/g, '_'));
      mkdirSync(dir, { recursive: true });
      const imports = runnable.map((b, k) => {
        writeFileSync(join(dir, `line-${b.line}.mjs`), `${b.code}\n`);
        return `console.log('@@ ${page} line ${b.line}'); await import('./line-${b.line}.mjs');`;
      });
      writeFileSync(join(dir, 'run.mjs'), `${imports.join('\n')}\n`);
      const { code: exit, stdout, stderr } = await runNode(join(dir, 'run.mjs'), { LAZYLINALG_EXAMPLE_N: '1000' }, 300_000);
      const last = [...stdout.matchAll(/^@@ (.*)$/gm)].pop()?.[1];
      expect(exit, `${relative(ROOT, dir)}: failed in ${last}\n${stderr}`).toBe(0);
      expect(stdout).not.toMatch(/\bNaN\b/);
    });
  }
});
