/**
 * The scanner behind test/unit/deploy/hostDeps.test.ts: each way a script or test runs a host
 * command, and each shell construct that only looks like one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { codeCommands, makefileCommands, pythonImports, shellCommands } from '../../support/hostCommands';

/** Found commands once each, sorted: a substitution is found before the command of its line. */
const sorted = <T>(items: T[]): T[] => [...new Set(items.map((i) => JSON.stringify(i)))].sort().map((i) => JSON.parse(i) as T);
const shell = (text: string): string[] => sorted(shellCommands(text, 'x.sh').map((u) => u.command));

const SHELL_CASES: readonly [string, string, readonly string[]][] = [
  ['a pipeline and lists', 'dpkg-query -W x | awk "{ print }" && tar -xf y || exit 1; sed s/a/b/ z &', ['dpkg-query', 'awk', 'tar', 'sed']],
  ['assignments before a command', 'DOCKER_BUILDKIT=0 FOO="a b" docker build .', ['docker']],
  ['an assignment alone, an array, a here-string', 'x=1\nmissing+=(python3-celery)\nIFS=, read -ra items <<<"$deps"', []],
  ['a command substitution inside double quotes', 'echo "size: $(docker image inspect -f "{{ .Size }}" x) bytes"', ['docker']],
  ['a substitution in an assignment, nested', 'TAG=v-$(pwd -P | sha1sum | cut -c1-10)', ['sha1sum', 'cut']],
  ['backquotes and process substitution', 'a=`uname -r`\nwhile read -r l; do :; done < <(git ls-files)', ['uname', 'git']],
  ['a variable that holds a wrapper', '$SUDO apt-get update -qq', ['apt-get']],
  ['command -v checks for a command', 'command -v debootstrap >/dev/null || { echo missing; exit 1; }', ['debootstrap']],
  ['a test for an executable in a bin directory', '[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || [ -x /usr/sbin/dockerd ]', ['rabbitmq-server', 'dockerd']],
  ['an absolute command path', '/usr/bin/python3 -c "import x"', ['python3']],
  ['wrappers and their options', 'timeout 10 docker info; sudo -n env A=1 nohup setsid -f dockerd', ['timeout', 'docker', 'sudo', 'env', 'nohup', 'setsid', 'dockerd']],
  ['sh -c runs its string', 'sh -c "nohup /usr/sbin/dockerd >>\'$LOG\' 2>&1 </dev/null &"', ['sh', 'nohup', 'dockerd']],
  ['a trap runs its string', "trap 'rm -rf \"$work\"' EXIT", ['rm']],
  ['control flow keywords', 'if ! pgrep -x dockerd; then haproxy -v; elif true; then :; else openssl version; fi\nfor i in $(seq 3); do sleep 1; done', ['pgrep', 'haproxy', 'openssl', 'seq', 'sleep']],
  ['the script\'s functions are not commands; one that runs "$@" wraps', 'as_root() {\n  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi\n}\nfail() {\n  exit 1\n}\nas_root debootstrap x || fail "no"', ['id', 'sudo', 'debootstrap']],
  ['a function on one line is not a command either', 'waitfor() { until [ "$(grep -c "$1" log || true)" -ge "$2" ]; do sleep 0.5; done; }\nwaitfor ready 1', ['grep', 'sleep']],
  ['exec is a builtin: it runs its command, or redirects the shell alone', 'exec 3> "$OUT/in"\nexec 3>&-\nexec dockerd --debug', ['dockerd']],
  ['comments, and # inside words', '# debootstrap is not run here\necho "#x" ${#arr[@]} # curl', []],
  ['a continuation line', 'docker import \\\n  -c "ENV A=1" \\\n  x.tar', ['docker']],
  ['the project\'s own scripts by relative path', './scripts/install-system-deps.sh && scripts/docker/engine.sh --compose', []],
  ['a command named at run time is not seen', '"$work/bin/tool" x; $(which foo) y', ['which']],
];

for (const [name, text, expected] of SHELL_CASES) {
  test(`shell: ${name}`, () => assert.equal(shell(text), sorted([...expected])));
}

test('shell: line numbers, through continuations and substitutions', () => {
  const uses = shellCommands('a=1\ndocker x \\\n  y\necho "$(\n  git log)"', 'x.sh', 10);
  assert.equal(sorted(uses.map((u) => [u.command, u.line])), [['docker', 11], ['git', 14]]);
});

test('shell: what the scanner does not read fails loudly instead of being skipped', () => {
  assert.throws(() => shell('case "$1" in\n  a) curl x ;;\nesac'), /case statements/);
  assert.throws(() => shell('cat <<EOF\nx\nEOF'), /here-documents/);
});

test('Makefile: recipe lines only, make variables blanked, @ and - prefixes dropped', () => {
  const text = 'NPM := npm\nbuild: deps\n\t@npm run build\n\t-rm -rf dist\nfuzz:\n\tnpx tsx test/fuzz/run.ts $(N)\n';
  assert.equal(makefileCommands(text, 'Makefile').map((u) => [u.command, u.line]), [['npm', 3], ['rm', 4], ['npx', 6]]);
});

test('code: literal, constant, process.execPath and shell-string commands; others are dynamic call sites', () => {
  const text = [
    "execFileSync('openssl', ['req']);",
    'spawn(process.execPath, [x]);',
    'spawnSync(PY, [x]);',
    "execFile('/usr/lib/rabbitmq/bin/rabbitmqctl', []);",
    "execSync(`git status && node ${file}`);",
    'spawn(command, args);',
    'const m = /x/.exec(text); re.exec(PY);',
    "const candidates = ['/usr/sbin/haproxy', '/etc/haproxy/x.cfg'];",
    'export function spawnLogged(command: string) {}',
  ].join('\n');
  const found = codeCommands(text, 'x.ts', new Map([['PY', '/usr/bin/python3']]));
  assert.equal(sorted(found.uses.map((u) => [u.command, u.line])), [['git', 5], ['haproxy', 8], ['node', 2], ['node', 5], ['openssl', 1], ['python3', 3], ['rabbitmqctl', 4]]);
  assert.equal(found.dynamic.map((d) => [d.expression, d.line]), [['command', 6]]);
});

test('Python: modules imported by .py files and by code in strings; TypeScript imports and the standard library are not', () => {
  const text = [
    "import { test } from 'uvu';",
    "import * as x from 'y';",
    'import json, sys',
    'from proton.utils import BlockingConnection',
    "run('-c', 'import celery, kombu; print(celery.__version__)');",
    "  'from worker.app import app',",
  ].join('\n');
  assert.equal(sorted(pythonImports(text, 'x.ts').map((u) => [u.command, u.line])), [['python3:celery', 5], ['python3:kombu', 5], ['python3:proton', 4]]);
});

test.run();
