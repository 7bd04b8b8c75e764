#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run the whole suite on
# SQLite and PostgreSQL. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'

# Debian packages the tests drive (downloads of browsers or models do not work here):
# headless Chromium for the console, sipp for the SIP user agent, espeak-ng for voice prompts.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-noto-cjk)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: run 'sudo apt-get install ${missing[*]}'" >&2
  fi
fi

# PostgreSQL: start it if it is installed but down, then wait for it.
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for v in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
  done
fi
for _ in $(seq 1 60); do pg_up && break; sleep 1; done
pg_up || echo "warning: PostgreSQL is not answering on 127.0.0.1:5432 (in CI the PostgreSQL tests will fail)" >&2

# One worker per core (`auto`); each worker has its own databases, ports and browser.
exec .venv/bin/pytest -q -n "${PYTEST_WORKERS:-auto}" "$@"
