# Shared by the example runners (run.sh, run-payment-pages.sh): source it, then
#   example_setup NAME      build the LuaJIT core, make $prefix (removed on exit, with the simulator)
#   example_start_sim       start a local zuora-sim; exports ZUORA_BASE_URL and the OAuth client
#   sim_api PATH JSON       POST JSON to the simulator with basic auth; prints the reply
#   example_run_nginx CONF  render the template CONF for ${PORT:-8080} and run nginx in the foreground
# $root is the checkout, and the current directory.

example_setup() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$root"
  make --no-print-directory -s LUA=luajit build
  prefix=$(mktemp -d "/tmp/$1.XXXXXX")
  sim_pid=""
  trap example_cleanup EXIT
  mkdir -p "$prefix/logs" "$prefix/conf"
  port=${PORT:-8080}
}

example_cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$prefix"
}

example_start_sim() {
  bin/zuora-sim --port 0 >"$prefix/sim.out" 2>"$prefix/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 600); do grep -q '^ready$' "$prefix/sim.out" && break; sleep 0.05; done
  grep -q '^ready$' "$prefix/sim.out" || { cat "$prefix/sim.err" >&2; exit 1; }
  ZUORA_BASE_URL=$(head -1 "$prefix/sim.out")
  export ZUORA_BASE_URL ZUORA_CLIENT_ID=zuora-sim-client ZUORA_CLIENT_SECRET=zuora-sim-secret
}

sim_api() {
  curl -s -u zuora-sim-user:zuora-sim-password -H 'Content-Type: application/json' -d "$2" "$ZUORA_BASE_URL$1"
}

example_run_nginx() {
  local resolver user=""
  resolver=$(sed -n 's/^nameserver[[:space:]]*\([0-9.]*\).*/\1/p' /etc/resolv.conf | head -1)
  [ "$(id -u)" = 0 ] && user="user root root;"
  sed -e "s|\${root}|$root|g" -e "s|\${prefix}|$prefix|g" -e "s|\${port}|$port|g" -e "s|\${workers}|2|g" \
      -e "s|\${user}|$user|g" -e "s|\${resolver}|${resolver:-127.0.0.1}|g" \
      "$1" >"$prefix/conf/nginx.conf"
  echo "nginx on http://127.0.0.1:$port (error log: $prefix/logs/error.log)"
  PATH="$PATH:/usr/sbin:/usr/local/sbin" nginx -p "$prefix" -c "$prefix/conf/nginx.conf" -g 'daemon off; master_process on;'
}
