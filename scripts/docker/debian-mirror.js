#!/usr/bin/env node
// Prints the Debian archive this host's apt uses, for debootstrap (scripts/docker/base-images.sh):
// a machine behind a company mirror or proxy has configured apt, not this project.
//
// Reads the sources apt reads: sources.list and sources.list.d/*.list (one-line `deb [opts] URI
// suite components`) and sources.list.d/*.sources (deb822 stanzas: Types, URIs, Suites,
// Components, Enabled). The archive is the first `deb` entry for the host's own release (its
// os-release VERSION_CODENAME, or stable/testing/unstable/sid) with the `main` component; so
// -security, -updates and -backports suites, and third-party repositories (own suites, or no
// `main`), are passed over. An entry signed by Debian's archive keyring (or with no Signed-By)
// wins over one that names another key. `mirror+file:` sources give their list's first mirror.
//
// Usage: node scripts/docker/debian-mirror.js [ROOT]   ROOT (default /) lets tests use sample files.
// Exits 1, saying why, when the host is not Debian or no entry fits.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const words = (text) => (text ?? '').split(/\s+/).filter(Boolean);

/** deb822 stanzas, blank-line separated; `#` lines are comments, indented lines continue a field. */
function deb822Entries(text) {
  return text.split(/\n[ \t]*\n/).map((stanza) => {
    const fields = {};
    let last;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line) && last) fields[last] += ` ${line.trim()}`;
      const m = /^([\w-]+):\s*(.*)$/.exec(line);
      if (m) fields[(last = m[1].toLowerCase())] = m[2];
    }
    return {
      types: words(fields.types),
      uris: words(fields.uris),
      suites: words(fields.suites),
      components: words(fields.components),
      enabled: !/^no$/i.test((fields.enabled ?? 'yes').trim()),
      signedBy: fields['signed-by'] ?? '',
    };
  });
}

/** `deb [ options ] URI suite component...` lines. */
function oneLineEntries(text) {
  return text.split('\n').flatMap((raw) => {
    const m = /^(\S+)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(raw.replace(/#.*/, '').trim());
    if (!m) return [];
    return [{ types: [m[1]], uris: [m[3]], suites: [m[4]], components: words(m[5]), enabled: true, signedBy: /signed-by=(\S+)/.exec(m[2] ?? '')?.[1] ?? '' }];
  });
}

function readIf(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Every entry apt reads under `root`, in apt's order. */
function aptEntries(root) {
  const entries = oneLineEntries(readIf(path.join(root, 'etc/apt/sources.list')) ?? '');
  const dir = path.join(root, 'etc/apt/sources.list.d');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  for (const file of files) {
    const text = readIf(path.join(dir, file)) ?? '';
    if (file.endsWith('.list')) entries.push(...oneLineEntries(text));
    else if (file.endsWith('.sources')) entries.push(...deb822Entries(text));
  }
  return entries;
}

/** A `mirror+file:` URI's first mirror (its list: one URI per line, metadata after a tab). */
function resolveUri(root, uri) {
  const list = /^mirror\+file:(?:\/\/)?(\/.*)$/.exec(uri)?.[1];
  if (list === undefined) return uri;
  const first = (readIf(path.join(root, list)) ?? '').split('\n').map((l) => l.split(/\s/)[0]).find((l) => l && !l.startsWith('#'));
  return first;
}

/** The archive URI, or an Error saying why there is none. */
function debianMirror(root = '/') {
  const osRelease = Object.fromEntries(
    (readIf(path.join(root, 'etc/os-release')) ?? '').split('\n').map((l) => /^(\w+)=(.*)$/.exec(l)).filter(Boolean).map((m) => [m[1], m[2].replace(/^"|"$/g, '')]),
  );
  if (osRelease.ID !== 'debian') {
    return new Error(`this host is not Debian (os-release ID=${osRelease.ID ?? 'unknown'}), so its apt sources name no Debian archive`);
  }
  const releases = new Set(['stable', 'testing', 'unstable', 'sid', osRelease.VERSION_CODENAME].filter(Boolean));
  const fits = aptEntries(root).filter((e) => e.enabled && e.types.includes('deb') && e.components.includes('main') && e.suites.some((s) => releases.has(s)));
  const debianKey = (e) => e.signedBy === '' || e.signedBy.includes('debian-archive-keyring');
  const entry = fits.find(debianKey) ?? fits[0];
  const uri = entry && resolveUri(root, entry.uris[0]);
  if (!uri) {
    return new Error(`no deb entry for ${[...releases].join('/')} with the main component in ${path.join(root, 'etc/apt/sources.list')} or sources.list.d/`);
  }
  return uri.replace(/\/+$/, '');
}

if (require.main === module) {
  const mirror = debianMirror(process.argv[2]);
  if (mirror instanceof Error) {
    console.error(`finding the Debian archive for debootstrap: ${mirror.message}; set DEBIAN_MIRROR to a Debian archive URL`);
    process.exit(1);
  }
  console.log(mirror);
}

module.exports = { debianMirror };
