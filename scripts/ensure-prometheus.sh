#!/usr/bin/env bash
# Makes `prometheus` and `promtool` available for the alert-rule tests (test/alerts.test.ts,
# test/prometheus-server.test.ts): installs Debian's `prometheus` package when either is missing.
# Idempotent and quiet: prints nothing when both are there, apt's output only when it fails.
# On a host with systemd the package also enables prometheus.service on :9090; the tests start
# their own server on a free loopback port and do not use it.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prometheus: no apt-get here; install Prometheus (server and promtool) and put them on PATH" >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "ensure-prometheus: installing the prometheus package needs root (or sudo)" >&2
    exit 1
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -qq &&
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "ensure-prometheus: apt-get install prometheus failed" >&2
  exit 1
fi

command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
