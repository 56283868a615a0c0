/**
 * scripts/host-deps.tsv is complete: every host command and Python module that the Makefile,
 * scripts/, the tests, the demo and the benchmark run is in it, or is part of every Debian
 * system (BASE_SYSTEM below). A script that starts calling a new tool fails here, naming the
 * file and line, before a fresh machine finds out (issue 20: debootstrap).
 * How the commands are found, and what that cannot see: test/support/hostCommands.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { builderSteps, REPO_ROOT } from '../../support/dockerfileSteps';
import { fileCommands, functionsOf, shellCommands, stringConstants, type CommandUse, type ScanContext } from '../../support/hostCommands';
import { HOST_DEPS_FILE, readHostDeps } from '../../support/hostDeps';

/**
 * Commands every Debian system has (packages of priority required, which debootstrap's
 * minbase installs), and the README's preconditions; none of them is installed by the project.
 */
const BASE_SYSTEM: Readonly<Record<string, readonly string[]>> = {
  coreutils: ['cat', 'chmod', 'chown', 'chroot', 'cp', 'cut', 'dirname', 'id', 'mkdir', 'mkfifo', 'mktemp', 'nohup', 'rm', 'seq', 'sha1sum', 'sleep', 'sort', 'tail', 'tee', 'timeout', 'touch', 'tr'],
  bash: ['bash'],
  dash: ['sh'],
  sed: ['sed'],
  mawk: ['awk'],
  grep: ['grep'],
  findutils: ['find'],
  tar: ['tar'],
  'libc-bin': ['getconf'],
  dpkg: ['dpkg', 'dpkg-query'],
  apt: ['apt-get'],
  // The README's precondition ("a machine with Node 20, npm"), and make, which runs `make test` itself.
  'the README': ['node', 'npm', 'npx', 'make'],
  // Only to run what needs root when not root; where it is missing nothing could be installed.
  sudo: ['sudo'],
};

/**
 * Call sites that name their command at run time, and what they run. A new one fails the
 * guard until it is added here; the commands named here are checked like the rest.
 */
const DYNAMIC_CALLS: Readonly<Record<string, readonly string[]>> = {
  'bench/lib/children.ts command': [], // spawnLogged: its callers' first arguments are scanned
  'bench/lib/haproxy.ts candidate': ['haproxy'],
  'bench/lib/targets.ts ctx.haproxyPath': ['haproxy'],
  "bench/run.ts join(repoRoot, 'node_modules', '.bin', 'tsc')": [], // an npm dependency
  "test/docker/engine.test.ts join(REPO_ROOT, 'scripts/docker/engine.sh')": [], // scanned as a script
  "test/docker/engine.test.ts join(REPO_ROOT, 'scripts/docker/base-images.sh')": [],
  'test/integration/clients.test.ts command': ['python3'],
  'test/integration/dockerfile-steps.test.ts step.command': [], // docker/Dockerfile's builder steps, scanned below
  'test/integration/dockerfile-steps.test.ts argv[0]!': ['node'],
  'test/integration/hardening/helpers.ts command!': ['node', 'prlimit'], // startChildProxy's wrapper (adversarial/http-limits.test.ts)
  'test/support/promtool.ts locatePromtool()': ['promtool'],
};

/** The scanner and its own tests hold sample commands, not uses. */
const NOT_SCANNED = new Set(['test/support/hostCommands.ts', 'test/unit/support/hostCommands.test.ts']);

function scannedFiles(): string[] {
  const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'Makefile', '.ci', 'scripts', 'test', 'demo', 'bench', 'tools'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return tracked.split('\n').filter((f) => f !== '' && !f.startsWith('bench/results/') && !NOT_SCANNED.has(f));
}

/** Every use the scan finds, with the dynamic call sites resolved from DYNAMIC_CALLS. */
function scan(): { uses: CommandUse[]; undeclared: string[]; declaredUnused: string[] } {
  const files = scannedFiles();
  const text = (f: string): string => readFileSync(join(REPO_ROOT, f), 'utf8');
  const shells = files.filter((f) => f.endsWith('.sh')).map((f) => functionsOf(text(f)));
  const context: ScanContext = {
    constants: stringConstants(files.filter((f) => /\.(?:ts|js|cjs|mjs)$/.test(f)).map(text)),
    functions: { defined: new Set(shells.flatMap((s) => [...s.defined])), wrappers: new Set(shells.flatMap((s) => [...s.wrappers])) },
  };
  const uses: CommandUse[] = [];
  const seen = new Set<string>();
  const undeclared: string[] = [];
  for (const file of files) {
    const found = fileCommands(REPO_ROOT, file, context);
    uses.push(...found.uses);
    for (const call of found.dynamic) {
      const key = `${call.file} ${call.expression}`;
      seen.add(key);
      const runs = DYNAMIC_CALLS[key];
      if (runs === undefined) undeclared.push(`${call.file}:${call.line} (${call.expression})`);
      else uses.push(...runs.map((command) => ({ command, file: call.file, line: call.line })));
    }
  }
  // test/integration/dockerfile-steps.test.ts runs the builder stage's RUN steps on the host.
  for (const step of builderSteps().steps) if (step.kind === 'run') uses.push(...shellCommands(step.command, 'docker/Dockerfile'));
  return { uses, undeclared, declaredUnused: Object.keys(DYNAMIC_CALLS).filter((k) => !seen.has(k)) };
}

/** apt-get (or apt) installing a package by hand: the package name after the options. */
const INSTALL_COMMAND = /\bapt(?:-get)? install\s+(?:-\S+\s+)*\w/;

const base = new Set(Object.values(BASE_SYSTEM).flat());

test(`${HOST_DEPS_FILE}: three columns, each command or module once, a Debian package name for each`, () => {
  const deps = readHostDeps();
  assert.ok(deps.length >= 10, `${deps.length} rows`);
  const whats = deps.map((d) => d.what);
  assert.equal(whats.filter((w, i) => whats.indexOf(w) !== i), [], 'listed twice');
  for (const dep of deps) {
    assert.match(dep.package, /^[a-z0-9][a-z0-9+.-]+$/, dep.what);
    assert.match(dep.what, /^(?:python3:[a-z_][\w]*|[\w.+-]+)$/, dep.what);
    assert.not.ok(base.has(dep.what), `${dep.what} is in every Debian system (BASE_SYSTEM) and in the list`);
  }
});

test('every host command and Python module the scripts and tests run is in the list or in every Debian system', () => {
  const listed = new Set(readHostDeps().map((d) => d.what));
  const { uses, undeclared, declaredUnused } = scan();
  assert.equal(undeclared, [], 'call sites that name their command at run time: add what they run to DYNAMIC_CALLS');
  assert.equal(declaredUnused, [], 'DYNAMIC_CALLS entries the scan no longer finds: remove them');
  const unlisted = new Map<string, string[]>();
  for (const use of uses) {
    if (listed.has(use.command) || base.has(use.command)) continue;
    unlisted.set(use.command, [...(unlisted.get(use.command) ?? []), `${use.file}:${use.line}`]);
  }
  const report = [...unlisted].map(([command, where]) => `${command} (${where.join(', ')})`);
  assert.equal(report, [], `add these to ${HOST_DEPS_FILE} with their Debian package`);
});

test('every entry of the list is still used somewhere', () => {
  const used = new Set(scan().uses.map((u) => u.command));
  const unused = readHostDeps().map((d) => d.what).filter((w) => !used.has(w));
  assert.equal(unused, [], `${HOST_DEPS_FILE} lists what nothing runs any more`);
});

test('the list is installed from one place: no script or test names an apt package to install', () => {
  const installs = scannedFiles()
    .filter((f) => !['scripts/install-system-deps.sh', 'test/unit/deploy/dockerfile.test.ts'].includes(f) && !f.endsWith('Dockerfile'))
    .flatMap((f) => readFileSync(join(REPO_ROOT, f), 'utf8').split('\n').flatMap((l, i) => (INSTALL_COMMAND.test(l) ? [`${f}:${i + 1}`] : [])));
  assert.equal(installs, [], `install through scripts/install-system-deps.sh, which reads ${HOST_DEPS_FILE}`);
  assert.match(readFileSync(join(REPO_ROOT, 'scripts/install-system-deps.sh'), 'utf8'), /host-deps\.sh/);
  const makefile = readFileSync(join(REPO_ROOT, 'Makefile'), 'utf8');
  assert.match(makefile, /^deps: system-deps /m, 'make test installs the system packages before anything else');
});

test.run();
