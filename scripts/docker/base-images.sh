#!/usr/bin/env bash
# Builds, without an image registry, local stand-ins for the base images the project's
# Dockerfiles name, and keeps them in the engine between runs (a fresh machine builds them
# again; `--rebuild` forces it):
#
#   atp-local/node:20-bookworm-slim  for node:20-bookworm-slim. Debian bookworm's essential
#       packages and their libraries plus node 20 and npm, copied from this host's own
#       installed files (dpkg's file lists), the uid 1000 `node` user, and the host's CA
#       bundle with NODE_EXTRA_CA_CERTS pointing at it (npm rejects the registry without it
#       where TLS is intercepted). Same layout and users as the official image; node lives
#       in /usr/bin instead of /usr/local/bin.
#   atp-local/debian:trixie-slim     for debian:trixie-slim, by debootstrap (minbase) from
#       the Debian archive this host's apt uses (scripts/docker/debian-mirror.js; DEBIAN_MIRROR
#       overrides it), with the host's CA bundle. RabbitMQ 4.0 and Celery 5.5 come from here.
#
# Needs root, a running engine and, for trixie, debootstrap (scripts/host-deps.tsv). The image
# names are for tests only: nothing shipped refers to them.
set -euo pipefail
here=$(dirname "$0")
. "$here/../host-deps.sh"

NODE_BASE=atp-local/node:20-bookworm-slim
TRIXIE_BASE=atp-local/debian:trixie-slim
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# Bumped when what goes into an image changes, so cached images from an older script are rebuilt.
RECIPE=2

rebuild=0
[ "${1:-}" = --rebuild ] && rebuild=1

work=$(mktemp -d /tmp/atp-base-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

fresh() {
  [ "$rebuild" = 0 ] && [ "$(docker image inspect -f '{{ index .Config.Labels "io.amqp-trace-proxy.recipe" }}' "$1" 2>/dev/null)" = "$RECIPE" ]
}

installed() {
  [ "$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# Installed packages needed by the named ones (Pre-Depends and Depends; the first installed
# alternative), the named ones included.
dependency_closure() {
  declare -A seen=()
  local queue=("$@") pkg deps item alt name
  while [ ${#queue[@]} -gt 0 ]; do
    pkg=${queue[0]}
    queue=("${queue[@]:1}")
    [ -n "${seen[$pkg]:-}" ] && continue
    installed "$pkg" || continue
    seen[$pkg]=1
    echo "$pkg"
    deps=$(dpkg-query -W -f '${Pre-Depends}, ${Depends}' "$pkg")
    IFS=',' read -ra items <<<"$deps"
    for item in "${items[@]}"; do
      IFS='|' read -ra alts <<<"$item"
      for alt in "${alts[@]}"; do
        name=$(sed -E 's/\(.*\)//; s/:any//; s/^ +//; s/ +$//' <<<"$alt")
        if [ -n "$name" ] && installed "$name"; then
          queue+=("$name")
          break
        fi
      done
    done
  done
}

build_node_base() {
  if fresh "$NODE_BASE"; then
    echo "$NODE_BASE: cached"
    return
  fi
  [ -x /usr/bin/node ] || { echo "$NODE_BASE needs node 20 installed on this host (/usr/bin/node)" >&2; exit 1; }
  echo "$NODE_BASE: building from this host's files"
  local essential packages
  essential=$(dpkg-query -W -f '${Package} ${Essential}\n' | awk '$2 == "yes" { print $1 }')
  # nodejs without its dependencies: Debian's and NodeSource's packages pull in python3 for
  # node-gyp, which the official slim image does not have. Its libraries are essential's.
  # shellcheck disable=SC2086
  packages=$(dependency_closure $essential libstdc++6 libgcc-s1; echo nodejs)
  # shellcheck disable=SC2086
  dpkg-query -L $packages >"$work/paths"
  # npm as it is on disk: a global `npm install -g npm` leaves dpkg's list out of date.
  find /usr/lib/node_modules/npm /usr/lib/node_modules/corepack >>"$work/paths" 2>/dev/null || true
  # Paths through the /bin, /lib, /sbin -> /usr symlinks (merged /usr) are stored under
  # their real directory, and the symlinks themselves are added once.
  node -e '
    const fs = require("node:fs"), path = require("node:path");
    const out = new Set(["/bin", "/sbin", "/lib", "/lib64"]);
    for (const p of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
      if (!p.startsWith("/") || p === "/.") continue;
      let st;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (st.isDirectory()) out.add(fs.realpathSync(p));
      else out.add(path.join(fs.realpathSync(path.dirname(p)), path.basename(p)));
    }
    fs.writeFileSync(process.argv[2], [...out].sort().join("\n") + "\n");
  ' "$work/paths" "$work/files"
  local rootfs="$work/rootfs"
  mkdir "$rootfs"
  tar -C / --no-recursion -cf - -T "$work/files" 2>"$work/tar.log" | tar -C "$rootfs" -xf - || {
    cat "$work/tar.log" >&2
    exit 1
  }
  # What package maintainer scripts would have created, and the official image's node user.
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/root" "$rootfs/home/node" "$rootfs/var/tmp" "$rootfs/var/cache" "$rootfs/var/log" "$rootfs/run"
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
  chmod 700 "$rootfs/root"
  cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/bin/bash\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\nnode:x:1000:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$rootfs/etc/nsswitch.conf"
  chown -R 1000:1000 "$rootfs/home/node"
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "ENV NODE_EXTRA_CA_CERTS=$CA_BUNDLE" \
    -c "LABEL io.amqp-trace-proxy.recipe=$RECIPE" \
    -c 'CMD ["node"]' \
    "$work/rootfs.tar" "$NODE_BASE" >/dev/null
  echo "$NODE_BASE: built ($(docker image inspect -f '{{ .Size }}' "$NODE_BASE") bytes)"
}

build_trixie_base() {
  if fresh "$TRIXIE_BASE"; then
    echo "$TRIXIE_BASE: cached"
    return
  fi
  require_host_command debootstrap "$TRIXIE_BASE"
  local mirror=${DEBIAN_MIRROR:-}
  [ -n "$mirror" ] || mirror=$(node "$here/debian-mirror.js")
  echo "$TRIXIE_BASE: debootstrap from $mirror (about half a minute)"
  debootstrap --variant=minbase --include=ca-certificates trixie "$work/trixie" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  cp "$CA_BUNDLE" "$work/trixie/usr/local/share/ca-certificates/host-bundle.crt"
  chroot "$work/trixie" update-ca-certificates >/dev/null 2>&1 || true
  cp "$CA_BUNDLE" "$work/trixie/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$work/trixie/var/lib/apt/lists/"* "$work/trixie/var/cache/apt/archives/"*.deb
  tar -C "$work/trixie" -cf "$work/trixie.tar" .
  docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "LABEL io.amqp-trace-proxy.recipe=$RECIPE" \
    -c 'CMD ["bash"]' \
    "$work/trixie.tar" "$TRIXIE_BASE" >/dev/null
  echo "$TRIXIE_BASE: built ($(docker image inspect -f '{{ .Size }}' "$TRIXIE_BASE") bytes)"
}

build_node_base
build_trixie_base
