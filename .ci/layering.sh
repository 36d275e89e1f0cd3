#!/usr/bin/env bash
# The layering of SPEC §9, checked: no web framework below src/http (and
# src/app.rs), and every top-level module imports only modules of lower
# layers, so there are no import cycles. The layers are listed in
# src/lib.rs; keep the two in step.
set -euo pipefail
cd "$(dirname "$0")/.."

# Lowest first. Modules in one layer may not import each other, except the
# web layer (app builds the server from http's routes; http reads app's state).
layers=(
  "clock secrets metrics email"
  "config"
  "db"
  "audit accounts dns mail tokens maintenance"
  "upstream"
  "orgs"
  "oauth"
  "hooks"
  "issuance"
  "bench"
  "app http"
)

status=0

# Source lines that are not comments.
code() { grep -rnHE "$1" "${@:2}" 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true; }

domain_dirs=(src/oauth src/orgs src/hooks src/tokens src/db src/upstream src/issuance)
leaks=$(code '\b(actix_web|actix_http|HttpResponse|HttpRequest)\b' "${domain_dirs[@]}")
if [ -n "$leaks" ]; then
  echo "web framework below src/http (SPEC §9):" >&2
  echo "$leaks" >&2
  status=1
fi

declare -A rank
for i in "${!layers[@]}"; do
  for m in ${layers[$i]}; do rank[$m]=$i; done
done

for f in src/*; do
  m=$(basename "$f" .rs)
  case "$m" in main | lib) continue ;; esac
  if [ -z "${rank[$m]+x}" ]; then
    echo "src/$m is in no layer: add it to .ci/layering.sh and src/lib.rs" >&2
    status=1
    continue
  fi
  for dep in $(code 'crate::[a-z_]+' "$f" | grep -oE 'crate::[a-z_]+' | sed 's/crate:://' | sort -u); do
    [ "$dep" = "$m" ] && continue
    if [ -z "${rank[$dep]+x}" ]; then
      echo "src/$m imports crate::$dep, which is in no layer" >&2
      status=1
    elif [ "${rank[$dep]}" -gt "${rank[$m]}" ] ||
      { [ "${rank[$dep]}" -eq "${rank[$m]}" ] && [ "${layers[${rank[$m]}]}" != "app http" ]; }; then
      echo "src/$m (layer ${rank[$m]}) imports crate::$dep (layer ${rank[$dep]}): only lower layers may be imported" >&2
      code "crate::$dep\b" "$f" | head -3 >&2
      status=1
    fi
  done
done

[ "$status" -eq 0 ] && echo "layering: ok"
exit "$status"
