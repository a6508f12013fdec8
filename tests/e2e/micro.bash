# A pipeline small enough to run many times in one test (sourced after common.bash): the last
# layer patched, a few prompts per split, a few calibration steps with a checkpoint every step.
# micro_setup DIR writes DIR/micro.yaml (run_dir DIR/run) and its prompt files.
micro_setup() {
  local dir=$1 src=$CIRCAL_SOURCE_DIR/data/splits
  mkdir -p "$dir"
  head -n 6 "$src/calibration.txt" > "$dir/calibration.txt"
  head -n 2 "$src/validation.txt" > "$dir/validation.txt"
  head -n 3 "$src/test.txt" > "$dir/test.txt"
  cat > "$dir/micro.yaml" <<YAML
run_dir: $dir/run
model:
  path: $CIRCAL_SOURCE_DIR/data/models/manpages-llama-5m
prompts:
  calibration: $dir/calibration.txt
  validation: $dir/validation.txt
  test: $dir/test.txt
patch:
  layers: [3]
capture:
  compression: 0
  block_sizes: [16, 32]  # one capture serves both projections the tests make
project:
  block_size: 16
calibrate:
  steps: 6
  batch_prompts: 4
  eval_every: 2
  checkpoint_every: 2
  warmup_steps: 1
  log_every: 1
evaluate:
  generate_tokens: 2
  bootstrap_samples: 20
runtime:
  fftw_planner: estimate
YAML
}

# micro_reference: micro_setup in $WORK/m, sets CFG, and runs the micro pipeline uninterrupted
# into $WORK/ref (what the crash and signal tests compare against).
micro_reference() {
  micro_setup "$WORK/m"
  CFG=$WORK/m/micro.yaml
  circal_np 2 run --config "$CFG" --run-dir "$WORK/ref" > "$WORK/ref.log" 2>&1 || { cat "$WORK/ref.log"; exit 1; }
}
