/**
 * scripts/docker/debian-mirror.js: debootstrap builds the local trixie base image from the
 * Debian archive the host's apt uses, read from sample apt configurations here; and the
 * repository itself names no package registry host for it to fall back on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../support/dockerfileSteps';

const SCRIPT = join(REPO_ROOT, 'scripts/docker/debian-mirror.js');
const BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n';

/** Runs the script on a root directory holding `files` (paths from that root). */
function mirrorFor(files: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const root = mkdtempSync(join(tmpdir(), 'atp-apt-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const run = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8' });
    return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A deb822 stanza of one `deb` source with the main component. */
const stanza = (uri: string, suites: string): string => `Types: deb\nURIs: ${uri}\nSuites: ${suites}\nComponents: main\n`;

function assertMirror(files: Record<string, string>, expected: string): void {
  const run = mirrorFor({ 'etc/os-release': BOOKWORM, ...files });
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout, expected);
}

test('deb822: the release\'s archive, not -security, a disabled stanza, a third-party repository or a file apt ignores', () => {
  assertMirror({
    'etc/apt/sources.list.d/debian.sources': [
      'Types: deb',
      'URIs: http://mirror.example.internal/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://old.example.internal/debian',
      'Suites: bookworm',
      'Components: main',
      'Enabled: no',
      '',
      'Types: deb deb-src',
      '# a comment inside the stanza',
      'URIs: http://mirror.example.internal/debian/',
      'Suites: bookworm bookworm-updates',
      'Components: main contrib',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n'),
    'etc/apt/sources.list.d/nodesource.sources': stanza('https://node.example.internal/node_20.x', 'nodistro'),
    'etc/apt/sources.list.d/old.sources.disabled': stanza('http://wrong.example.internal/debian', 'bookworm'),
  }, 'http://mirror.example.internal/debian');
});

test('sources.list: -security and deb-src skipped, and Debian\'s archive preferred to a vendor\'s repository with the same suite', () => {
  assertMirror({
    'etc/apt/sources.list': [
      '# company mirror',
      'deb http://apt.corp.example/debian-security bookworm-security main',
      'deb-src http://src.corp.example/debian bookworm main',
      'deb [signed-by=/usr/share/keyrings/vendor.gpg] https://vendor.example/debian bookworm main',
      'deb [arch=amd64] http://apt.corp.example/debian bookworm main non-free-firmware',
      'deb http://apt.corp.example/debian bookworm-updates main',
    ].join('\n'),
  }, 'http://apt.corp.example/debian');
});

test('a mirror+file: source gives its list\'s first mirror', () => {
  assertMirror({
    'etc/apt/mirrors/debian.list': '# mirrors\nhttps://cloud-mirror.example/debian\tpriority:1\nhttps://second.example/debian\n',
    'etc/apt/sources.list.d/debian.sources': stanza('mirror+file:///etc/apt/mirrors/debian.list', 'bookworm'),
  }, 'https://cloud-mirror.example/debian');
});

test('no archive for the release, or a host that is not Debian: exit 1, saying to set DEBIAN_MIRROR', () => {
  const none = mirrorFor({
    'etc/os-release': BOOKWORM,
    'etc/apt/sources.list.d/debian.sources': stanza('http://mirror.example.internal/debian-security', 'bookworm-security'),
  });
  assert.is(none.status, 1);
  assert.is(none.stdout, '');
  assert.match(none.stderr, /no deb entry for .*bookworm.* with the main component.*set DEBIAN_MIRROR/);
  const ubuntu = mirrorFor({ 'etc/os-release': 'ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n', 'etc/apt/sources.list': 'deb http://ubuntu.example/ubuntu noble main\n' });
  assert.is(ubuntu.status, 1);
  assert.match(ubuntu.stderr, /not Debian \(os-release ID=ubuntu\).*set DEBIAN_MIRROR/);
});

test('base-images.sh takes DEBIAN_MIRROR first, then this script, and has no default of its own', () => {
  const script = readFileSync(join(REPO_ROOT, 'scripts/docker/base-images.sh'), 'utf8');
  assert.match(script, /local mirror=\$\{DEBIAN_MIRROR:-\}\n\s*\[ -n "\$mirror" \] \|\| mirror=\$\(node "\$here\/debian-mirror\.js"\)/);
});

test('the repository names no package registry host', () => {
  const hosts = [/deb\.debian\.org/, /security\.debian\.org/, /ftp\.[a-z]*\.?debian\.org/, /archive\.ubuntu\.com/, /registry\.npmjs\.org/, /pypi\.org/, /files\.pythonhosted\.org/, /deb\.nodesource\.com/, /registry-1\.docker\.io/];
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  const named = files.flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(join(REPO_ROOT, file), 'utf8');
    } catch {
      return [];
    }
    return hosts.filter((h) => h.test(text)).map((h) => `${file}: ${h.source}`);
  });
  assert.equal(named, []);
});

test.run();
