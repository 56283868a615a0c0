// Regenerates the blocks of docs/ that are copies of a fact kept in code, so each fact is
// written by hand in one place only. Run after changing an option, a metric or a client
// library: npm run docs. test/unit/docs/generated.test.ts fails while a block is out of date.
//
// A block sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in its file; everything
// outside the markers is hand-written and left alone.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helpText } from '../src/config/config';

export const ROOT = join(__dirname, '..');

export interface GeneratedBlock {
  /** Path from the repository root. */
  readonly file: string;
  readonly name: string;
  render(): string;
}

/** The option list as `--help` prints it (without the webhook's usage line). */
export function optionsBlock(): string {
  const options = helpText().split('\n').filter((l) => l.startsWith('  ') && !l.includes('amqp-trace-proxy webhook'));
  return ['```text', ...options, '```'].join('\n');
}

export const BLOCKS: readonly GeneratedBlock[] = [
  { file: 'docs/OPERATIONS.md', name: 'options', render: optionsBlock },
];

const markers = (name: string): [string, string] => [`<!-- ${name}:begin -->`, `<!-- ${name}:end -->`];

/** The text between a block's markers, without the newlines next to them; undefined when absent. */
export function blockContent(text: string, name: string): string | undefined {
  const [begin, end] = markers(name);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return undefined;
  return text.slice(from + begin.length, to).replace(/^\n/, '').replace(/\n$/, '');
}

export function replaceBlock(text: string, name: string, content: string): string {
  const [begin, end] = markers(name);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`no ${begin} … ${end} block`);
  return `${text.slice(0, from + begin.length)}\n${content}\n${text.slice(to)}`;
}

if (require.main === module) {
  for (const block of BLOCKS) {
    const path = join(ROOT, block.file);
    const before = readFileSync(path, 'utf8');
    const after = replaceBlock(before, block.name, block.render());
    if (after !== before) {
      writeFileSync(path, after);
      console.log(`updated ${block.file} (${block.name})`);
    }
  }
}
