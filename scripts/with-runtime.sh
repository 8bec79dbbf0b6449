#!/bin/sh
# Runs a command with Bun or Deno, installed once from the npm registry into .cache/<runtime>:
#   sh scripts/with-runtime.sh bun --version
#   sh scripts/with-runtime.sh deno run -A test/runtimes/suite.mjs
# The npm packages `bun` and `deno` put the binary in place with a postinstall script, which
# npm 11 skips for packages not in allowScripts; their platform packages (@oven/bun-linux-x64,
# @deno/linux-x64-glibc, ...: optional dependencies npm picks for this machine) hold the binary
# itself, so the install runs no script and the binary is taken from there.
# LLM_GATEWAY_BUN_VERSION / LLM_GATEWAY_DENO_VERSION choose a version (default: latest 1.x / 2.x).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
runtime=${1:?usage: with-runtime.sh bun|deno <args>}
shift

case "$runtime" in
  bun) spec="bun@${LLM_GATEWAY_BUN_VERSION:-1}"; scope=@oven; binary=bin/bun ;;
  deno) spec="deno@${LLM_GATEWAY_DENO_VERSION:-2}"; scope=@deno; binary=deno ;;
  *) echo "with-runtime: unknown runtime $runtime (bun or deno)" >&2; exit 2 ;;
esac

dir="$root/.cache/$runtime"
find_binary() {
  for candidate in "$dir"/node_modules/$scope/*/$binary; do
    [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1 && { echo "$candidate"; return 0; }
  done
  return 1
}

# A cached install of another version than asked for is replaced.
wanted=${spec#*@}
if [ -f "$dir/node_modules/$runtime/package.json" ]; then
  installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/$runtime/package.json" | head -n 1)
  case "$installed" in
    "$wanted"|"$wanted".*) ;;
    *) rm -rf "$dir" ;;
  esac
fi

if ! bin=$(find_binary); then
  echo "with-runtime: installing $spec from the npm registry into $dir" >&2
  rm -rf "$dir"
  npm install --silent --ignore-scripts --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "$spec" >&2
  bin=$(find_binary) || { echo "with-runtime: no $runtime binary for this platform under $dir/node_modules/$scope" >&2; exit 1; }
fi
exec "$bin" "$@"
