#!/usr/bin/env bash
# Installs the Debian packages gavel's tests need when they are missing (idempotent, as root):
# compilers and runtimes for the built-in languages, libseccomp for the seccomp filter, and
# promtool (from prometheus) for the metrics test, PostgreSQL and Redis for the cluster tests.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in gcc g++ make libc6-dev python3 libseccomp2 default-jdk-headless prometheus iproute2 procps; do
  have "$p" || need+=("$p")
done
# Cluster mode's tests start PostgreSQL and Redis servers of their own (temp dirs, free ports).
for p in postgresql redis-server; do
  have "$p" || need+=("$p")
done
# A JDK counts if one is there already, whichever package brought it.
if command -v javac >/dev/null 2>&1; then need=("${need[@]/default-jdk-headless}"); fi
need=($(printf '%s\n' "${need[@]}" | grep -v '^$' || true))
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "gavel: missing Debian packages (${need[*]}); run as root to install them" >&2; exit 1; fi
  echo "gavel: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
