#!/usr/bin/env bash
# Executes every notebooks/*.ipynb headless with the Deno Jupyter kernel and fails on the first error.
#
#   scripts/run-notebooks.sh            execute into a temporary folder (CI: the committed files stay as they are)
#   scripts/run-notebooks.sh --update   execute in place, rewriting the committed outputs (what GitHub renders)
#   scripts/run-notebooks.sh --update notebooks/eigsh.ipynb   one notebook
#
# Needs the package built (`npm ci` or `npm run build`: the notebooks import ../dist/index.js), Debian's
# jupyter-nbconvert (+ jupyter-client) and the `deno` devDependency. The kernelspec is the one
# `deno jupyter --install` writes, registered into a temporary JUPYTER_PATH so nothing outside this run changes.
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
notebooks=("$@")
if [ ${#notebooks[@]} -eq 0 ]; then notebooks=(notebooks/*.ipynb); fi

[ -f dist/index.js ] || { echo "run-notebooks: dist/index.js missing — run 'npm run build' first" >&2; exit 1; }
command -v jupyter-nbconvert >/dev/null || { echo "run-notebooks: jupyter-nbconvert not found (apt-get install jupyter-nbconvert jupyter-client python3-ipykernel)" >&2; exit 1; }
deno="$(pwd)/node_modules/.bin/deno"
[ -x "$deno" ] || { echo "run-notebooks: $deno missing — run 'npm ci'" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# `deno jupyter --install` writes under $HOME/.local/share/jupyter: point HOME at the temporary folder for it only.
HOME="$tmp/home" "$deno" jupyter --install >/dev/null 2>&1
export JUPYTER_PATH="$tmp/home/.local/share/jupyter"
[ -f "$JUPYTER_PATH/kernels/deno/kernel.json" ] || { echo "run-notebooks: kernelspec not installed" >&2; exit 1; }
export JUPYTER_RUNTIME_DIR="$tmp/runtime"
export NO_COLOR=1              # plain text outputs (no ANSI colour codes in the committed files)
export LAZYLINALG_THREADS="${LAZYLINALG_THREADS:-2}"

status=0
for nb in "${notebooks[@]}"; do
  start=$(date +%s)
  args=(--to notebook --execute --ExecutePreprocessor.kernel_name=deno --ExecutePreprocessor.timeout=300)
  if [ $update -eq 1 ]; then args+=(--inplace); else args+=(--output-dir "$tmp/out"); fi
  if jupyter-nbconvert "${args[@]}" "$nb" >"$tmp/log" 2>&1; then
    echo "ok    $nb ($(( $(date +%s) - start )) s)"
  else
    echo "FAIL  $nb"; { grep -q CellExecutionError "$tmp/log" && sed -n '/^nbclient.exceptions.CellExecutionError/,$p' "$tmp/log" || tail -40 "$tmp/log"; } | head -60; status=1
  fi
done
exit $status
