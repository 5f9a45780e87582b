#!/usr/bin/env bash
# The wheel as each user installs it (issue 28, item 9), in fresh venvs outside the checkout:
#  1. `pip install optevo` (no extras): torch and numpy only; a named optimizer trains, and
#     the `optevo` command names the missing extra in one line;
#  2. `pip install 'optevo[search]'`: `optevo search --preset tiny` runs a search.
# Usage: bash scripts/check-wheel.sh [WORKDIR]   (default: a new temporary folder, removed after)
# Needs a Python 3.11+ as $PYTHON (default python3) and the package registries (or a local
# wheel of torch==2.13.0, as on the project's machines).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="${1:-}"
if [ -z "$WORK" ]; then
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
say() { printf '[check-wheel] %s\n' "$*"; }

say "building the wheel"
"$PYTHON" -m venv "$WORK/build"
"$WORK/build/bin/pip" install -q "setuptools>=68" wheel
"$WORK/build/bin/pip" wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT"
WHEEL="$(ls "$WORK"/dist/optevo-*.whl)"
say "wheel: $(basename "$WHEEL")"

say "1. no extras"
"$PYTHON" -m venv "$WORK/core"
"$WORK/core/bin/pip" install -q torch==2.13.0
"$WORK/core/bin/pip" install -q "$WHEEL"
# only torch, numpy and what torch itself needs: none of the search extra's packages
for module in pydantic typer rich matplotlib sklearn yaml scipy PIL; do
  if "$WORK/core/bin/python" -c "import $module" 2>/dev/null; then
    say "FAIL: $module is importable after a plain install"; exit 1
  fi
done
cd "$WORK"   # never the checkout: the installed wheel must be what is imported
"$WORK/core/bin/python" "$ROOT/scripts/drop_in_check.py" >"$WORK/drop_in.json"
"$WORK/core/bin/python" - "$WORK/drop_in.json" <<'EOF'
import json
import sys

out = json.loads(open(sys.argv[1]).read())
assert "site-packages" in out["module"], out["module"]  # the wheel, not the checkout
assert out["last"] < 0.01 * out["first"], out
print(f"[check-wheel] LR6 trained: loss {out['first']:.3f} -> {out['last']:.2e}")
EOF
set +e
"$WORK/core/bin/optevo" --help >"$WORK/out.txt" 2>"$WORK/err.txt"
code=$?
set -e
if [ "$code" -ne 1 ] || [ "$(wc -l <"$WORK/err.txt")" -ne 1 ] \
  || ! grep -q "pip install 'optevo\[search\]'" "$WORK/err.txt"; then
  say "FAIL: optevo without the search extra (exit $code):"; cat "$WORK/err.txt"; exit 1
fi
say "the command without the extra: $(cat "$WORK/err.txt")"

say "2. the search extra"
"$WORK/core/bin/pip" install -q "${WHEEL}[search]"
"$WORK/core/bin/optevo" search --preset tiny --run-dir "$WORK/run" >"$WORK/search.txt" 2>&1 \
  || { say "FAIL: optevo search --preset tiny"; tail -n 30 "$WORK/search.txt"; exit 1; }
test -s "$WORK/run/run.sqlite" || { say "FAIL: no run store in $WORK/run"; exit 1; }
say "optevo search --preset tiny: $(tail -n 1 "$WORK/search.txt")"
say "OK"
