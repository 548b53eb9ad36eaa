#!/usr/bin/env bash
# Installs the Debian packages gavel's tests need when they are missing (idempotent, as root):
# the toolchains of the built-in languages (see src/judge/languages/builtin.ts), libseccomp
# for the seccomp filter, promtool (from prometheus) for the metrics test, and PostgreSQL and
# Redis for the cluster tests.
# On a clean bookworm machine this downloads about 700 MB and takes a few minutes (see README).
set -euo pipefail
# Languages: C/C++, Python (CPython, PyPy), JVM (Java, Kotlin, Scala), Go, Rust, Ruby, PHP,
# Perl, Lua, Haskell, OCaml, C# (Mono), Pascal, Fortran, Ada, Bash. JavaScript is Node itself
# (nodejs counts only when node is not there already, e.g. from NodeSource).
languages=(gcc g++ make libc6-dev python3 pypy3 default-jdk-headless kotlin scala golang-go rustc
  ruby php-cli perl lua5.4 ghc ocaml-nox mono-mcs mono-runtime libmono-system-numerics4.0-cil
  fpc gfortran gnat bash mawk)
tools=(libseccomp2 prometheus iproute2 procps)
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "${languages[@]}" "${tools[@]}"; do
  have "$p" || need+=("$p")
done
# Cluster mode's tests start PostgreSQL and Redis servers of their own (temp dirs, free ports).
for p in postgresql redis-server; do
  have "$p" || need+=("$p")
done
# A JDK counts if one is there already, whichever package brought it; Node likewise.
drop() { local x; local out=(); for x in "${need[@]}"; do [ "$x" = "$1" ] || out+=("$x"); done; need=("${out[@]+"${out[@]}"}"); }
if command -v javac >/dev/null 2>&1; then drop default-jdk-headless; fi
if ! command -v node >/dev/null 2>&1; then need+=(nodejs); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "gavel: missing Debian packages (${need[*]}); run as root to install them" >&2; exit 1; fi
  echo "gavel: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The JDK's postinst needs man directories that slim images leave out.
  mkdir -p /usr/share/man/man1
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
