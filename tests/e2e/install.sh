#!/usr/bin/env bash
# make install's rules (cmake --install): circal in PREFIX/bin runs from there, the batch
# scripts land in PREFIX/share/circal/jobs, and an installed circal's sweep submits the
# installed circal.sbatch with itself as CIRCAL_BIN.
source "$(dirname "$0")/common.bash"
prefix="$WORK/prefix"
cmake --install . --prefix "$prefix" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }
check "circal installed" test -x "$prefix/bin/circal"
check "circal.sbatch installed" test -x "$prefix/share/circal/jobs/circal.sbatch"
check "slurm-local.sh installed" test -x "$prefix/share/circal/jobs/slurm-local.sh"
check "the installed circal runs" "$prefix/bin/circal" config --config "$CIRCAL_SOURCE_DIR/config/tiny.yaml"
(cd "$CIRCAL_SOURCE_DIR" && "$prefix/bin/circal" sweep --config config/sweep-tiny.yaml --dry-run \
  --sweep-dir "$WORK/sweep" >"$WORK/dry.sh" 2>&1) || { cat "$WORK/dry.sh"; exit 1; }
check "the dry run submits the installed script" grep -qF "$prefix/share/circal/jobs/circal.sbatch" "$WORK/dry.sh"
check "and exports the installed circal" grep -qF "CIRCAL_BIN=$prefix/bin/circal" "$WORK/dry.sh"
