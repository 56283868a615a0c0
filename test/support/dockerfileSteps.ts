/**
 * Reads docker/Dockerfile so tests can check its shape and run its build steps outside
 * Docker (CI has no daemon). Enough of the Dockerfile grammar for this project: line
 * continuations with `\`, comment lines (also inside a continuation), parser directives,
 * `ARG` defaults before the first `FROM`, `FROM image AS name`, flags such as `--from=`.
 *
 * To execute the builder outside Docker, in a scratch directory (never the work tree:
 * `npm prune --omit=dev` removes the dev dependencies the tests need):
 *
 *   for (const step of builderSteps().steps)
 *     step.kind === 'copy' ? copy step.sources from the repo root to step.dest
 *                          : run `sh -c step.command` in the scratch directory
 *   then runtimeCommand() (e.g. ["node", "/app/dist/main.js"]) with /app mapped to the scratch dir.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');
export const DOCKERFILE = join(REPO_ROOT, 'docker', 'Dockerfile');

export interface DockerInstruction {
  /** Upper case: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

export interface DockerStage {
  readonly name: string | undefined;
  /** Base image with ARG defaults substituted. */
  readonly from: string;
  readonly instructions: readonly DockerInstruction[];
}

export interface ParsedDockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly DockerStage[];
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const instructions = logicalLines(text);
  const globalArgs: Record<string, string> = {};
  const stages: { name: string | undefined; from: string; instructions: DockerInstruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = substitute(words[0] ?? '', globalArgs);
      const name = words.length >= 3 && words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
      stages.push({ name, from: image, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [k, v = ''] = ins.args.split('=', 2);
      globalArgs[k!.trim()] = v.trim();
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  if (stages.length === 0) throw new Error('no FROM instruction');
  return { globalArgs, stages };
}

function logicalLines(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending: { keyword: string; parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    // Comment and empty lines vanish, even inside a continuation (as in Docker's parser).
    if (trimmed.startsWith('#') || trimmed === '') return;
    const continues = /\\\s*$/.test(line);
    const body = continues ? line.replace(/\\\s*$/, '') : line;
    if (pending === undefined) {
      const m = /^\s*(\S+)\s*(.*)$/.exec(body);
      if (!m) return;
      pending = { keyword: m[1]!.toUpperCase(), parts: [m[2]!.trim()], line: i + 1 };
    } else {
      pending.parts.push(body.trim());
    }
    if (!continues) {
      out.push({ keyword: pending.keyword, args: pending.parts.filter((p) => p !== '').join(' '), line: pending.line });
      pending = undefined;
    }
  });
  if (pending) throw new Error(`line ${pending.line}: continuation runs past the end of the file`);
  return out;
}

function substitute(value: string, args: Readonly<Record<string, string>>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? '');
}

/** The JSON (exec) form of CMD/ENTRYPOINT/RUN/HEALTHCHECK CMD, or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`bad exec form: ${args}`);
  return parsed;
}

export interface CopyStep {
  readonly kind: 'copy';
  /** Paths relative to the build context (the repo root). */
  readonly sources: readonly string[];
  /** Relative to WORKDIR when not absolute. */
  readonly dest: string;
  /** --from=stage, for copies between stages. */
  readonly fromStage: string | undefined;
}

export interface RunStep {
  readonly kind: 'run';
  readonly command: string;
}

export interface StageSteps {
  readonly workdir: string;
  readonly steps: readonly (CopyStep | RunStep)[];
}

export function readDockerfile(path = DOCKERFILE): ParsedDockerfile {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

export function stageSteps(stage: DockerStage): StageSteps {
  let workdir = '/';
  const steps: (CopyStep | RunStep)[] = [];
  for (const ins of stage.instructions) {
    if (ins.keyword === 'WORKDIR') workdir = ins.args.trim();
    if (ins.keyword === 'RUN') {
      const exec = execForm(ins.args);
      steps.push({ kind: 'run', command: exec ? exec.join(' ') : ins.args });
    }
    if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
      const words = ins.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      steps.push({ kind: 'copy', sources: paths.slice(0, -1), dest: paths[paths.length - 1] ?? '', fromStage: from });
    }
  }
  return { workdir, steps };
}

/** The builder stage's steps in order (COPY and RUN), for running the build outside Docker. */
export function builderSteps(path = DOCKERFILE, stageName = 'builder'): StageSteps {
  const stage = readDockerfile(path).stages.find((s) => s.name === stageName);
  if (!stage) throw new Error(`${path} has no stage named ${stageName}`);
  return stageSteps(stage);
}

/** The builder stage's RUN commands, e.g. ["npm ci --no-audit --no-fund", "npm run build", ...]. */
export function builderRunCommands(path = DOCKERFILE, stageName = 'builder'): string[] {
  return builderSteps(path, stageName).steps.flatMap((s) => (s.kind === 'run' ? [s.command] : []));
}

/** ENTRYPOINT followed by CMD of the final stage, in exec form (what `docker run IMAGE` starts). */
export function runtimeCommand(path = DOCKERFILE): string[] {
  const { stages } = readDockerfile(path);
  const last = stages[stages.length - 1]!;
  const pick = (keyword: string): string[] => {
    const ins = [...last.instructions].reverse().find((i) => i.keyword === keyword);
    if (!ins) return [];
    const exec = execForm(ins.args);
    if (!exec) throw new Error(`${keyword} in shell form: signals would reach /bin/sh, not node`);
    return exec;
  };
  return [...pick('ENTRYPOINT'), ...pick('CMD')];
}
