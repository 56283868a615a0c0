// Regenerates the option list in README.md from the option table (src/config/config.ts), so
// the README documents exactly what --help prints. Run: npx tsx scripts/update-readme-options.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helpText } from '../src/config/config';

const README = join(__dirname, '..', 'README.md');
const BEGIN = '<!-- options:begin -->';
const END = '<!-- options:end -->';

export function optionsBlock(): string {
  const options = helpText().split('\n').filter((l) => l.startsWith('  ') && !l.includes('amqp-trace-proxy webhook'));
  return ['```text', ...options, '```'].join('\n');
}

if (require.main === module) {
  const text = readFileSync(README, 'utf8');
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  if (from < 0 || to < from) throw new Error(`README.md has no ${BEGIN} … ${END} block`);
  writeFileSync(README, `${text.slice(0, from + BEGIN.length)}\n${optionsBlock()}\n${text.slice(to)}`);
}
