# Sourced by scripts/serve and scripts/test: make .venv (once) and install into it exactly the
# pinned, hash-checked versions of requirements/NAME.lock, then the project itself; again only
# when the lock file or pyproject.toml changed. Refresh the locks with scripts/lock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
lock="requirements/${1:?usage: source scripts/_venv.sh run|dev}.lock"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.peerline-installed-$1"
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  touch "$stamp"
fi
