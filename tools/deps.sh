#!/bin/sh
# Installs the Debian packages lua-zuora needs to build, test, lint and run zuora-sim.
# One list, used by `make deps` and by .ci/run. Idempotent: installs only what is missing.
# Usage: tools/deps.sh [--check]   (--check: list what is missing, exit 1 if anything is)
set -eu

PACKAGES="
gcc make pkg-config ca-certificates curl openssl
lua5.4 liblua5.4-dev
luajit2 libluajit2-5.1-dev
libcurl4-openssl-dev libssl-dev zlib1g-dev
lua-cjson lua-dkjson lua-busted lua-check lua-argparse lua-readline
nginx libnginx-mod-http-lua lua-resty-core
clang libclang-rt-14-dev cppcheck valgrind
brotli zstd lua-posix locales
lua-cqueues lua-luv
redis-server lua-nginx-redis libhiredis-dev
wrk
lua-sql-sqlite3 lua-sql-postgres postgresql
luarocks
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

# Installed is not enough: the commands must be found the way the project looks for them (nginx in
# the sbin folders a normal user's PATH lacks, as bin/zuora-sim does), else say what is wrong.
check_commands() {
  bad=""
  for c in gcc make pkg-config lua5.4 luajit busted luacheck; do
    command -v "$c" >/dev/null 2>&1 || bad="$bad $c"
  done
  PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin" command -v nginx >/dev/null 2>&1 || bad="$bad nginx"
  [ -e /usr/lib/nginx/modules/ngx_http_lua_module.so ] || bad="$bad ngx_http_lua_module.so"
  if [ -n "$bad" ]; then
    echo "deps: packages present, but not found:$bad (searched PATH=$PATH, and /usr/sbin, /usr/local/sbin, /sbin for nginx)" >&2
    return 1
  fi
  echo "deps: all packages present"
}

if [ -z "$missing" ]; then
  check_commands
  exit $?
fi

if [ "${1:-}" = "--check" ]; then
  echo "deps: missing:$missing"
  exit 1
fi

if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages:$missing" >&2
  echo "deps: run as root:  apt-get install -y$missing" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The nginx package's postinst tries to start the system service; the project never uses it.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
check_commands
