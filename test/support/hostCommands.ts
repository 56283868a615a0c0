/**
 * Finds the host commands the project's scripts and tests run, so test/unit/deploy/hostDeps.test.ts
 * can hold them against scripts/host-deps.tsv.
 *
 * Shell (scripts, Makefile recipes, `sh -c` strings, shell strings given to exec/execSync) is
 * read by a small lexer that knows quoting, `$( )` and backquote substitutions, redirections,
 * assignments, keywords, function definitions and the wrappers that run their arguments
 * (sudo, timeout, nohup, setsid, env, exec, xargs, and functions of the script that run "$@").
 * It refuses what it does not read (`case`, here-documents) instead of guessing.
 *
 * JavaScript and TypeScript: the first argument of execFile/execFileSync/spawn/spawnSync/
 * spawnLogged when it is a literal, `process.execPath`, or a constant of the scanned files;
 * any other first argument is reported as a dynamic call site, which the test must account for.
 * String literals that are a path into a bin directory (`'/usr/bin/python3'`) count as uses.
 *
 * Python: modules imported by .py files and by Python code held in strings.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface CommandUse {
  /** A command name (`debootstrap`), or `python3:<module>` for a Python import. */
  readonly command: string;
  /** Path from the repository root. */
  readonly file: string;
  readonly line: number;
}

export interface DynamicCall {
  readonly file: string;
  readonly line: number;
  /** The first argument as written, e.g. `command` or `locatePromtool()`. */
  readonly expression: string;
}

/** Paths that are commands: /bin, /sbin, /usr/(local/)bin, /usr/(local/)sbin, and a package's own bin/ under /usr/lib. */
const BIN_PATH = /^\/(?:usr\/(?:local\/)?)?s?bin\/([\w.+-]+)$|^\/usr\/(?:local\/)?lib\/[\w./-]+\/s?bin\/([\w.+-]+)$/;

/** A command word that is a path into a bin directory, as the command's name. */
export function binPathCommand(path: string): string | undefined {
  const m = BIN_PATH.exec(path);
  return m ? (m[1] ?? m[2]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Shell

type Token =
  | { readonly kind: 'word'; readonly value: string; readonly line: number }
  | { readonly kind: 'op'; readonly op: string; readonly line: number };

const SEPARATORS = new Set([';', '&&', '||', '|', '|&', '&', '\n', '(', ')', ';;']);
const KEYWORDS_THEN_COMMAND = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time']);
const KEYWORDS_ENDING = new Set(['fi', 'done', '}']);
/** Bash builtins: never a host command. */
const BUILTINS = new Set([
  'echo', 'printf', 'cd', 'set', 'unset', 'export', 'local', 'declare', 'readonly', 'read', 'trap', 'exit', 'return',
  'shift', 'true', 'false', 'test', '[', ':', '.', 'source', 'wait', 'kill', 'ulimit', 'eval', 'break', 'continue',
  'pwd', 'type', 'hash', 'getopts', 'let', 'mapfile', 'readarray', 'umask', 'shopt', 'builtin', 'jobs', 'disown',
]);
/** Commands that run their arguments: the options they take before the command. */
const WRAPPERS: Readonly<Record<string, { readonly valueArgs: number }>> = {
  sudo: { valueArgs: 0 }, nohup: { valueArgs: 0 }, setsid: { valueArgs: 0 }, exec: { valueArgs: 0 },
  env: { valueArgs: 0 }, xargs: { valueArgs: 0 }, nice: { valueArgs: 0 }, timeout: { valueArgs: 1 },
};

/** Index of the `)` that closes a `(` opened just before `from`, skipping quoted text. */
function closingParen(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === "'") i = text.indexOf("'", i + 1);
    else if (c === '"') i = closingQuote(text, i + 1);
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
    if (i < 0) break;
  }
  throw new Error(`unbalanced parenthesis in: ${text.slice(Math.max(0, from - 20), from + 60)}`);
}

/** Index of the `"` closing a double-quoted string that starts at `from`. */
function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '$' && text[i + 1] === '(') i = closingParen(text, i + 2);
    else if (c === '"') return i;
  }
  throw new Error(`unterminated double quote in: ${text.slice(from - 1, from + 60)}`);
}

const lineAt = (text: string, index: number, base: number): number => base + (text.slice(0, index).match(/\n/g)?.length ?? 0);

/**
 * Splits shell text into words and operators. Command substitutions are handed to `nested`
 * (with their line) and stand in their word as `$()`.
 */
function lex(text: string, baseLine: number, nested: (inner: string, line: number) => void): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const line = (): number => lineAt(text, i, baseLine);
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === '\n') { i += 2; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '#') { const end = text.indexOf('\n', i); i = end < 0 ? text.length : end; continue; }
    if (c === '\n') { tokens.push({ kind: 'op', op: '\n', line: line() }); i++; continue; }
    if ((c === '<' || c === '>') && text[i + 1] === '(') { // process substitution
      const end = closingParen(text, i + 2);
      nested(text.slice(i + 2, end), line());
      tokens.push({ kind: 'word', value: '$()', line: line() });
      i = end + 1;
      continue;
    }
    const redirection = /^(?:\d*(?:<<<|<<-?|>>|>&|<&|<>|>\||>|<)|&>>?)/.exec(text.slice(i));
    if (redirection) {
      if (/(?:^|[^<])<<-?$/.test(redirection[0])) throw new Error(`line ${line()}: here-documents are not read by this scanner`);
      tokens.push({ kind: 'op', op: 'redirect', line: line() });
      i += redirection[0].length;
      continue;
    }
    const op = /^(?:&&|\|\||;;|\|&|[;&|()])/.exec(text.slice(i));
    if (op) { tokens.push({ kind: 'op', op: op[0], line: line() }); i += op[0].length; continue; }
    const start = line();
    let value = '';
    while (i < text.length && (!/[\s;&|()<>]/.test(text[i]!) || (text[i] === '(' && value.endsWith('=')))) {
      const ch = text[i]!;
      if (ch === '(') { const end = closingParen(text, i + 1); value += text.slice(i, end + 1); i = end + 1; continue; } // name=(array)
      if (ch === '\\') { value += text[i + 1] ?? ''; i += 2; continue; }
      if (ch === "'") {
        const end = text.indexOf("'", i + 1);
        if (end < 0) throw new Error(`line ${line()}: unterminated single quote`);
        value += text.slice(i + 1, end);
        i = end + 1;
        continue;
      }
      if (ch === '"') {
        const end = closingQuote(text, i + 1);
        value += substitute(text.slice(i + 1, end), lineAt(text, i, baseLine), nested);
        i = end + 1;
        continue;
      }
      if (ch === '$' && text.startsWith('$((', i)) { const end = closingParen(text, i + 3); value += '$(())'; i = text.indexOf(')', end + 1) + 1; continue; }
      if (ch === '$' && text[i + 1] === '(') {
        const end = closingParen(text, i + 2);
        nested(text.slice(i + 2, end), lineAt(text, i, baseLine));
        value += '$()';
        i = end + 1;
        continue;
      }
      if (ch === '$' && text[i + 1] === '{') { const end = text.indexOf('}', i); value += text.slice(i, end + 1); i = end + 1; continue; }
      if (ch === '`') {
        const end = text.indexOf('`', i + 1);
        nested(text.slice(i + 1, end), lineAt(text, i, baseLine));
        value += '$()';
        i = end + 1;
        continue;
      }
      value += ch;
      i++;
    }
    tokens.push({ kind: 'word', value, line: start });
  }
  return tokens;
}

/** The inside of a double-quoted string with its command substitutions handed to `nested`. */
function substitute(inner: string, baseLine: number, nested: (inner: string, line: number) => void): string {
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '\\') { out += inner[i + 1] ?? ''; i++; continue; }
    if (inner[i] === '$' && inner[i + 1] === '(' && inner[i + 2] !== '(') {
      const end = closingParen(inner, i + 2);
      nested(inner.slice(i + 2, end), lineAt(inner, i, baseLine));
      out += '$()';
      i = end;
      continue;
    }
    out += inner[i];
  }
  return out;
}

/** A script's own functions, and those of them that run their arguments (`as_root() { ... "$@" ... }`). */
export interface Functions {
  readonly defined: ReadonlySet<string>;
  readonly wrappers: ReadonlySet<string>;
}

export function functionsOf(text: string): Functions {
  const defined = new Set<string>();
  const wrappers = new Set<string>();
  // A body over several lines ends at a `}` alone at the start of a line; a one-line body, at the line's last `}`.
  for (const m of text.matchAll(/^(\w+)\(\)\s*\{(?:([^\n]*)\}[ \t]*$|([\s\S]*?)^\})/gm)) {
    defined.add(m[1]!);
    if (/(?:^|[;&|]|\bthen|\bdo|\belse)\s*"\$@"/m.test(m[2] ?? m[3]!)) wrappers.add(m[1]!);
  }
  return { defined, wrappers };
}

const ASSIGNMENT = /^[A-Za-z_]\w*(?:\[[^\]]*\])?\+?=/;

/** The host commands a piece of shell runs or checks for, with their lines. */
export function shellCommands(text: string, file: string, baseLine = 1, functions = functionsOf(text)): CommandUse[] {
  const uses: CommandUse[] = [];
  const nested = (inner: string, line: number): void => { uses.push(...shellCommands(inner, file, line, functions)); };
  const tokens = lex(text, baseLine, nested);
  const use = (command: string, line: number): void => { uses.push({ command, file, line }); };
  let expectCommand = true;
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t]!;
    if (token.kind === 'op') {
      if (token.op === 'redirect') t++; // its target
      else if (SEPARATORS.has(token.op)) expectCommand = true;
      continue;
    }
    const pathCommand = binPathCommand(token.value);
    if (!expectCommand) {
      if (pathCommand) use(pathCommand, token.line); // `[ -x /usr/sbin/dockerd ]`
      continue;
    }
    const word = token.value;
    if (ASSIGNMENT.test(word)) continue;
    if (KEYWORDS_THEN_COMMAND.has(word)) continue;
    if (KEYWORDS_ENDING.has(word)) { expectCommand = false; continue; }
    if (word === 'case') throw new Error(`${file}:${token.line}: case statements are not read by this scanner`);
    if (word === 'for' || word === 'function' || word === '[[') { expectCommand = false; continue; }
    const next = tokens[t + 1];
    if (next?.kind === 'op' && next.op === '(' && tokens[t + 2]?.kind === 'op') { t += 2; continue; } // name() {
    expectCommand = false;
    if (/^\$(?:\w+|\{\w+\}|@)$/.test(word)) { expectCommand = true; continue; } // `$SUDO apt-get`, `"$@"`
    if (word.includes('$')) continue; // a command named at run time: not seen
    if (functions.wrappers.has(word)) { expectCommand = true; continue; }
    if (word === 'require_host_command' && next?.kind === 'word') { use(next.value, next.line); continue; } // scripts/host-deps.sh
    if (functions.defined.has(word)) continue;
    const name = word.includes('/') ? (word.startsWith('/') ? basename(word) : undefined) : word;
    if (name === undefined) continue; // the project's own script, by a relative path
    if (BUILTINS.has(name)) {
      if (name === 'trap' && next?.kind === 'word') uses.push(...shellCommands(next.value, file, next.line, functions));
      continue;
    }
    const args = tokens.slice(t + 1, t + 3);
    if (name === 'command' && args[0]?.kind === 'word') {
      if (/^-[vV]$/.test(args[0].value)) {
        if (args[1]?.kind === 'word' && !args[1].value.includes('$')) use(args[1].value, args[1].line);
        t += 2;
      } else expectCommand = true;
      continue;
    }
    if (name !== 'exec') use(name, token.line); // a builtin that runs its arguments, or only redirects the shell's own
    const wrapper = WRAPPERS[name];
    if (wrapper) {
      while (tokens[t + 1]?.kind === 'word' && /^-/.test((tokens[t + 1] as { value: string }).value)) t++;
      if (name === 'env') while (tokens[t + 1]?.kind === 'word' && ASSIGNMENT.test((tokens[t + 1] as { value: string }).value)) t++;
      t += wrapper.valueArgs;
      expectCommand = true;
      continue;
    }
    if ((name === 'sh' || name === 'bash') && args[0]?.kind === 'word' && args[0].value === '-c' && args[1]?.kind === 'word') {
      uses.push(...shellCommands(args[1].value, file, args[1].line, functions));
      t += 2;
    }
  }
  return uses;
}

/** Shell in a Makefile's recipes (tab-indented lines), make's own variables blanked. */
export function makefileCommands(text: string, file: string): CommandUse[] {
  return text.split('\n').flatMap((line, i) => {
    if (!line.startsWith('\t')) return [];
    const shell = line.slice(1).replace(/^[@+-]+/, '').replace(/\$[({][\w.-]+[)}]/g, 'MAKEVAR').replace(/\$\$/g, '$');
    return shellCommands(shell, file, i + 1);
  });
}

// ---------------------------------------------------------------------------------------------
// JavaScript, TypeScript, Python

const EXEC_CALL = /(?<![\w$.]|function )(execFileSync|execFile|spawnSync|spawn|spawnLogged|execSync|exec)\(/g;
const STRING_LITERAL = /^(['"`])((?:(?!\1)[^\\]|\\.)*)\1$/;
/** Python's standard library and the project's own package: imports that need nothing installed. */
export const PYTHON_NO_PACKAGE = new Set(['json', 'sys', 'os', 'time', 'threading', 'worker']);

/** The first argument of a call whose `(` ends just before `from`, as written. */
function firstArgument(text: string, from: number): string {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if ((c === ')' || c === ']' || c === '}') && depth > 0) depth--;
    else if ((c === ',' || c === ')') && depth === 0) return text.slice(from, i).trim();
  }
  return text.slice(from).trim();
}

/** `const NAME = 'text'` string constants of some source files. */
export function stringConstants(sources: readonly string[]): Map<string, string> {
  const constants = new Map<string, string>();
  for (const source of sources) {
    for (const m of source.matchAll(/\bconst ([A-Za-z_$][\w$]*)(?:: string)? = (['"])([^'"\n]*)\2;/g)) constants.set(m[1]!, m[3]!);
  }
  return constants;
}

/** Python modules imported by Python code, whether in a .py file or held in a string of another file. */
export function pythonImports(text: string, file: string): CommandUse[] {
  const uses: CommandUse[] = [];
  const add = (modules: string, index: number): void => {
    for (const module of modules.split(/\s*,\s*/)) {
      const top = module.split('.')[0]!;
      if (!PYTHON_NO_PACKAGE.has(top)) uses.push({ command: `python3:${top}`, file, line: lineAt(text, index, 1) });
    }
  };
  // An import ends its statement: at `;`, a closing quote or the end of the line (TypeScript's own imports never do).
  for (const m of text.matchAll(/(?:^|['"`;(]\s*)import ([a-z_]\w*(?:\.\w+)*(?:\s*,\s*[a-z_]\w*(?:\.\w+)*)*)\s*(?=;|['"`]|$)/gm)) add(m[1]!, m.index);
  for (const m of text.matchAll(/(?:^|['"`;(]\s*)from ([a-z_][\w.]*) import /gm)) add(m[1]!, m.index);
  return uses;
}

/**
 * The host commands JavaScript or TypeScript code runs: exec-family calls and bin paths.
 * `constants` resolves a first argument given by name.
 */
export function codeCommands(text: string, file: string, constants: ReadonlyMap<string, string>): { uses: CommandUse[]; dynamic: DynamicCall[] } {
  const uses: CommandUse[] = [];
  const dynamic: DynamicCall[] = [];
  for (const m of text.matchAll(EXEC_CALL)) {
    const fn = m[1]!;
    const arg = firstArgument(text, m.index + m[0].length);
    const line = lineAt(text, m.index, 1);
    const literal = STRING_LITERAL.exec(arg)?.[2] ?? constants.get(arg);
    const isShell = fn === 'exec' || fn === 'execSync';
    if (fn === 'exec' && literal === undefined) continue; // RegExp#exec and the like
    if (arg === 'process.execPath') uses.push({ command: 'node', file, line });
    else if (literal === undefined || literal.includes('${')) {
      if (isShell && literal !== undefined) uses.push(...shellCommands(literal.replace(/\$\{[^}]*\}/g, 'X'), file, line));
      else dynamic.push({ file, line, expression: arg });
    } else if (isShell) uses.push(...shellCommands(literal, file, line));
    else uses.push({ command: binPathCommand(literal) ?? basename(literal), file, line });
  }
  for (const m of text.matchAll(/(['"`])(\/[\w./+-]+)\1/g)) {
    const command = binPathCommand(m[2]!);
    if (command) uses.push({ command, file, line: lineAt(text, m.index, 1) });
  }
  return { uses, dynamic };
}

/** What one file's scan looks up in the others: string constants, and the functions the project's shell scripts define (scripts/host-deps.sh is sourced by others). */
export interface ScanContext {
  readonly constants: ReadonlyMap<string, string>;
  readonly functions: Functions;
}

/** Reads a file and finds the commands in it by its kind. */
export function fileCommands(root: string, file: string, context: ScanContext): { uses: CommandUse[]; dynamic: DynamicCall[] } {
  const { constants, functions } = context;
  const text = readFileSync(`${root}/${file}`, 'utf8');
  if (basename(file) === 'Makefile') return { uses: makefileCommands(text, file), dynamic: [] };
  if (file.endsWith('.py')) return { uses: pythonImports(text, file), dynamic: [] };
  if (/\.(?:ts|js|cjs|mjs)$/.test(file)) {
    const code = codeCommands(text, file, constants);
    return { uses: [...code.uses, ...pythonImports(text, file)], dynamic: code.dynamic };
  }
  if (file.endsWith('.sh') || text.startsWith('#!/usr/bin/env bash') || text.startsWith('#!/bin/sh') || text.startsWith('#!/bin/bash')) {
    const own = functionsOf(text);
    const all = { defined: new Set([...own.defined, ...functions.defined]), wrappers: new Set([...own.wrappers, ...functions.wrappers]) };
    return { uses: shellCommands(text, file, 1, all), dynamic: [] };
  }
  return { uses: [], dynamic: [] };
}
