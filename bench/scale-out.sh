#!/usr/bin/env bash
# Refresh-token rotation on N Tessera instances (default 3) on one PostgreSQL,
# each with its own keys directory and the database key store; the load
# generator sends each connection's successive rotations to the instances in
# turn. Prints `tessera bench` figures for 1 instance, then for N.
#
#   bench/scale-out.sh [instances] [seconds] [connections]
#
# Needs a release build (cargo build --release) and PostgreSQL at
# $PGURL (default postgres://postgres@127.0.0.1:5432). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-3}"; secs="${2:-10}"; conns="${3:-32}"
pg="${PGURL:-postgres://postgres@127.0.0.1:5432}"
bin="${CARGO_TARGET_DIR:-target}/release/tessera"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work="$(mktemp -d)"
db="tessera_bench_$$"
psql "$pg/postgres" -qAtc "CREATE DATABASE $db"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$pg/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
export TESSERA_KEK="$(openssl rand -base64 32)"
secret="bench-web-secret-with-at-least-32-characters"
ports=()
for i in $(seq 1 "$n"); do
  port=$((18080 + i))
  ports+=("$port")
  cat > "$work/$i.toml" <<TOML
issuer = "http://127.0.0.1:18081"
[server]
bind = "127.0.0.1:$port"
workers = 1
[database]
url = "$pg/$db"
pool_size = 8
[keys]
dir = "$work/keys-$i"
algorithm = "ES256"
store = "database"
encryption_key = "env:TESSERA_KEK"
[[clients]]
client_id = "bench-web"
name = "Bench"
client_secret = "$secret"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid", "email", "profile", "offline_access", "orgs"]
TOML
done
for i in $(seq 1 "$n"); do
  TESSERA_LOG=warn "$bin" --config "$work/$i.toml" serve &
  pids+=("$!")
done
for p in "${ports[@]}"; do
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$p/readyz" >/dev/null && break
    sleep 0.1
  done
done
run() {
  "$bin" bench --scenario refresh --duration "$secs" --connections "$conns" \
    --refresh-client-id bench-web --refresh-client-secret "$secret" \
    --redirect-uri http://127.0.0.1:9/cb "$@"
}
echo "== 1 instance of $n running (all rotations to the first)"
run --url "http://127.0.0.1:${ports[0]}"
also=()
for p in "${ports[@]:1}"; do also+=(--also-url "http://127.0.0.1:$p"); done
echo "== $n instances (rotations round-robin)"
run --url "http://127.0.0.1:${ports[0]}" "${also[@]}"
