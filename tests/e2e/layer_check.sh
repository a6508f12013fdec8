#!/usr/bin/env bash
# The layer check the build runs (cmake/check_layers.cmake): the real tree passes with the
# rules the configure step wrote, and a planted back-edge (a base header including a stage's)
# fails naming the file, the include and what the layer may use.
set -u
src=${CIRCAL_SOURCE_DIR:?CIRCAL_SOURCE_DIR not set}
rules=$PWD/layers.rules  # ctest runs e2e tests in the build directory
fails=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fails=$((fails + 1)); fi
}

check "the configure step wrote the rules" test -s "$rules"
check "the rules give pipeline/base only itself" grep -qx 'pipeline/base=pipeline/base' "$rules"
cmake -DSOURCE_DIR="$src" -DRULES="$rules" -P "$src/cmake/check_layers.cmake" >/dev/null 2>&1; rc=$?
check "the tree passes the layer check" test "$rc" -eq 0

scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/pipeline/base" "$scratch/stages/common"
cp "$src"/pipeline/base/*.hpp "$scratch/pipeline/base/"
echo '#include "stages/common/student.hpp"' >>"$scratch/pipeline/base/errors.hpp"
cmake -DSOURCE_DIR="$scratch" -DRULES="$rules" -P "$src/cmake/check_layers.cmake" >"$scratch/out" 2>&1; rc=$?
check "a back-edge fails the check" test "$rc" -ne 0
check "the failure names the file and the include" \
  grep -qF 'pipeline/base/errors.hpp: #include "stages/common/student.hpp" reaches above its layer' "$scratch/out"

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all layer checks passed"
