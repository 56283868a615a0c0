# Sourced by the scripts that run host commands: scripts/host-deps.tsv, the one list of those
# commands with the Debian package of each, read here so a missing one is named with its package.

HOST_DEPS_LIST=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/host-deps.tsv

# The list's rows (command or python3:module, package, used by), without comments and blank lines.
host_dep_rows() {
  grep -v -e '^#' -e '^[[:space:]]*$' "$HOST_DEPS_LIST"
}

# Whether a row's command (on PATH, or in an sbin directory a non-root PATH lacks) or Python module is there.
host_dep_present() {
  if [ "${1#python3:}" != "$1" ]; then
    /usr/bin/python3 -c "import ${1#python3:}" 2>/dev/null
  else
    command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
  fi
}

# The Debian package the list names for a command or python3:module (empty when unlisted).
host_dep_package() {
  awk -F '\t' -v what="$1" '!/^#/ && $1 == what { print $2; exit }' "$HOST_DEPS_LIST"
}

# Returns when the command is there; otherwise exits 1 naming its package. $2 says who needs it.
require_host_command() {
  host_dep_present "$1" && return 0
  local package
  package=$(host_dep_package "$1")
  if [ -z "$package" ]; then
    echo "${2:-this script} needs $1, which scripts/host-deps.tsv does not list (add it there with its Debian package)" >&2
  else
    echo "${2:-this script} needs $1, from the Debian package $package: run scripts/install-system-deps.sh (make test does)" >&2
  fi
  exit 1
}
