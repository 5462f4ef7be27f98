#!/usr/bin/env bash
# Installs what `make run` and `make test` need, and nothing when it is already there:
#   - system packages: PostgreSQL, Redis, nginx, Python's venv module, and for `make test` Chromium
#     (Debian/Ubuntu, apt-get),
#     installed when missing and we may (root, or passwordless sudo); AUTOFLOW_NO_SYSTEM_INSTALL=1 skips;
#   - the virtual environment .venv with the pinned dependencies of requirements-dev.lock;
#   - for `make test`: the OpenID Connect provider of the single sign-on tests (npm ci in
#     testutils/oidc_provider, from its package-lock.json; needs Node.js 20 or newer and npm).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
say() { echo "[bootstrap] $*" >&2; }

have_postgres() {
  [ -n "${PG_BINDIR:-}" ] || compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || command -v postgres >/dev/null
}
have_redis() { command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ]; }
have_nginx() { [ -n "${NGINX_BIN:-}" ] || command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }
have_venv() { command -v "$PYTHON" >/dev/null && "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; }
have_chromium() { [ -n "${CHROMIUM_BIN:-}" ] || command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; }

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
have_nginx || missing+=(nginx)
have_venv || missing+=(python3 python3-venv)
# The browser tests drive Debian's Chromium (make test sets AUTOFLOW_WITH_BROWSER=1).
if [ "${AUTOFLOW_WITH_BROWSER:-}" = 1 ]; then
  have_chromium || missing+=(chromium)
  command -v npm >/dev/null || missing+=(nodejs npm)  # the single sign-on tests' OIDC provider
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "${AUTOFLOW_NO_SYSTEM_INSTALL:-}" = 1 ]; then
    say "missing system packages: ${missing[*]} (AUTOFLOW_NO_SYSTEM_INSTALL=1, not installing)"; exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    say "missing: ${missing[*]}. Install them with your package manager, then run make again."; exit 1
  fi
  if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    say "missing: ${missing[*]}. Run: sudo apt-get install ${missing[*]}"; exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$PYTHON" - <<'PY' || { say "Python 3.11 or newer is required (found $("$PYTHON" --version 2>&1))"; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ requirements-dev.lock -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  say "installing pinned Python dependencies (requirements-dev.lock)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
  touch "$stamp"
fi

# The single sign-on tests run a real OpenID Connect provider (testutils/oidc.py), the npm
# package pinned by testutils/oidc_provider/package-lock.json.
oidc=testutils/oidc_provider
if [ "${AUTOFLOW_WITH_BROWSER:-}" = 1 ] && { [ ! -f "$oidc/node_modules/.package-lock.json" ] || [ "$oidc/package-lock.json" -nt "$oidc/node_modules/.package-lock.json" ]; }; then
  say "installing the test OpenID Connect provider (npm ci in $oidc)"
  (cd "$oidc" && npm ci --no-audit --no-fund --loglevel=error)
fi
