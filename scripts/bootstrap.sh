#!/usr/bin/env bash
# Create .venv and install the locked dependencies. Quick (a hash check) when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
stamp=.venv/.sievert-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)

if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "bootstrap: Python 3.11 is required (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv (fast, lock-file based installs)…"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
fi
echo "bootstrap: installing locked Python dependencies into .venv…"
[[ -x .venv/bin/python ]] || uv venv --quiet --python "$PYTHON" .venv
uv pip install --quiet --python .venv/bin/python -r requirements.lock
uv pip install --quiet --python .venv/bin/python --no-deps -e .
echo "$want" > "$stamp"
echo "bootstrap: .venv ready"
