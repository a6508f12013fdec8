#!/usr/bin/env bash
# Bad input as a table: each row runs circal at 2 ranks on a broken config, prompt
# file, model folder, checkpoint or run directory, and asserts the documented exit code
# (README "Exit codes"), a one-line "circal: error:" message matching the row's pattern (the
# file, key or value and what is wrong), that every rank is gone within CASE_TIMEOUT seconds
# (default 10; a hang fails the row; rows that run a whole pipeline get more), and that the run directory holds no temporary file, no
# lock and no file the failed run added (so a later run cannot accept a partial output).
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/micro.bash"
CASE_TIMEOUT=${CASE_TIMEOUT:-10}
MODEL=$CIRCAL_SOURCE_DIR/data/models/manpages-llama-5m
micro_setup "$WORK/m"
CFG=$WORK/m/micro.yaml
F=$WORK/fixtures
mkdir -p "$F"

# --- fixtures, built once -------------------------------------------------------------------
# Model folders that differ from the bundled teacher in one file (the rest are symlinks).
model_variant() {  # model_variant NAME: prints the folder
  local dir=$F/model-$1 file
  mkdir -p "$dir"
  for file in config.json model.safetensors tokenizer.model; do [ -e "$dir/$file" ] || ln -s "$MODEL/$file" "$dir/$file"; done
  echo "$dir"
}
edit_model() {  # edit_model NAME FILE PYTHON: PYTHON edits bytes `data` of FILE (a copy)
  local dir; dir=$(model_variant "$1")
  rm -f "$dir/$2"
  python3 - "$MODEL/$2" "$dir/$2" "$3" <<'PY'
import json, struct, sys
source, target, code = sys.argv[1:]
data = open(source, "rb").read()
def header():
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]
def with_header(h, body):
    text = json.dumps(h).encode()
    return struct.pack("<Q", len(text)) + text + body
exec(code)
open(target, "wb").write(data)
PY
}
edit_model no-config config.json 'pass' && rm "$F/model-no-config/config.json"
edit_model gpt2 config.json 'c = json.loads(data); c["model_type"] = "gpt2"; c["architectures"] = ["GPT2LMHeadModel"]; data = json.dumps(c).encode()'
edit_model bad-json config.json 'data = data[: len(data) // 2]'
edit_model no-hidden config.json 'c = json.loads(data); del c["hidden_size"]; data = json.dumps(c).encode()'
edit_model truncated model.safetensors 'data = data[: len(data) // 2]'
edit_model offsets model.safetensors '
h, body = header(); h["model.norm.weight"]["data_offsets"] = [len(body) - 512, len(body) + 512]; data = with_header(h, body)'
edit_model huge-header model.safetensors 'data = struct.pack("<Q", 1 << 40) + data[8:]'
edit_model dtype model.safetensors '
h, body = header(); h["model.norm.weight"]["dtype"] = "I64"; h["model.norm.weight"]["shape"] = [128]; data = with_header(h, body)'
edit_model missing-tensor model.safetensors '
h, body = header(); h["model.layers.3.mlp.up_proj.weightX"] = h.pop("model.layers.3.mlp.up_proj.weight"); data = with_header(h, body)'
edit_model misshaped model.safetensors '
h, body = header(); h["model.layers.3.mlp.up_proj.weight"]["shape"] = [256, 768]; data = with_header(h, body)'
edit_model no-tokenizer tokenizer.model 'pass' && rm "$F/model-no-tokenizer/tokenizer.model"
edit_model bad-tokenizer tokenizer.model 'data = b"this is not a sentencepiece model\n" * 20'
# A tokenizer.json beside tokenizer.model is the one read (as AutoTokenizer): here not BPE.
echo '{"model": {"type": "Unigram", "vocab": []}}' > "$(model_variant unigram-json)/tokenizer.json"
edit_model other-eps config.json 'c = json.loads(data); c["rms_norm_eps"] = 1e-6; data = json.dumps(c).encode()'

# Prompt files.
P=$F/prompts && mkdir -p "$P"
: > "$P/empty.txt"
printf 'Complete the sentence: caf\xe9 au lait is\nDescribe a cat\n' > "$P/latin1.txt"
python3 -c "print(' '.join(['word'] * 3000))" > "$P/long.txt"
{ head -n 1 "$WORK/m/calibration.txt"; cat "$WORK/m/validation.txt"; } > "$P/overlap.txt"
head -n 1 "$WORK/m/calibration.txt" > "$P/one.txt"
mkdir -p "$P/a-directory"

# Corpus files (data.source = corpus).
C=$F/corpus && mkdir -p "$C"
printf '{"text": "The kill() system call sends a signal."}\n{"text": "unterminated\n' > "$C/broken.jsonl"
printf '{"text": "The kill() system call sends a signal."}\n{"body": "no text here"}\n' > "$C/notext.jsonl"
for i in 1 2 3 4 5; do printf '{"text": "The kill() system call sends a signal to a process."}\n'; done > "$C/small.jsonl"
CORPUS=(--set data.source=corpus --set data.window_tokens=8)

# Config files.
printf 'calibrate:\n  lrate: 0.1\n' > "$F/unknown-key.yaml"
printf 'calibrate: [steps: 1\n' > "$F/unparseable.yaml"

# A finished micro run, and its checkpoints broken in each way a reader must refuse.
circal_np 2 run --config "$CFG" --run-dir "$F/good" > "$F/good.log" 2>&1 || { cat "$F/good.log"; exit 1; }
mkdir -p "$F/b32" && cp "$F/good/capture.h5" "$F/b32/"
circal_np 2 project --config "$CFG" --run-dir "$F/b32" --set project.block_size=32 > "$F/b32.log" 2>&1 \
  || { cat "$F/b32.log"; exit 1; }
circal_np 2 capture --config "$CFG" --run-dir "$F/other-model" --set model.path="$(model_variant other-eps)" \
  > "$F/other.log" 2>&1 || { cat "$F/other.log"; exit 1; }
checkpoint_variant() {  # checkpoint_variant NAME: a run dir holding capture.h5 and project.h5 of the good run
  mkdir -p "$F/ck-$1" && cp "$F/good/capture.h5" "$F/good/project.h5" "$F/ck-$1/" && echo "$F/ck-$1"
}
d=$(checkpoint_variant truncated) && truncate -s $(($(stat -c %s "$d/project.h5") / 2)) "$d/project.h5"
d=$(checkpoint_variant garbage) && head -c 4096 /dev/urandom > "$d/capture.h5"
d=$(checkpoint_variant stage) && cp "$d/capture.h5" "$d/project.h5"
d=$(checkpoint_variant fingerprint) && cp "$F/b32/project.h5" "$d/project.h5"
d=$(checkpoint_variant model) && cp "$F/other-model/capture.h5" "$d/capture.h5"
d=$(checkpoint_variant missing) && rm "$d/project.h5"
# Incomplete: the same file with its `complete` attribute back at 0, as a writer that died
# before commit() leaves it (HDF5's tools cannot set an attribute, so patch the stored value).
d=$(checkpoint_variant incomplete)
python3 - "$d/project.h5" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
one = (1).to_bytes(8, "little")
at = data.find(b"complete\0")
while at >= 0:
    window = data[at:at + 64]
    hit = window.rfind(one)  # the value follows the name, datatype and (scalar) dataspace
    if hit > 0: data[at + hit] = 0
    at = data.find(b"complete\0", at + 1)
open(path, "wb").write(data)
PY
h5dump -a /complete "$d/project.h5" | grep -q '(0): 0' || { echo "FAILED: could not make an incomplete project.h5"; exit 1; }

# --- the table --------------------------------------------------------------------------------
tried=0 passed=0 not_run=0
failures=()
row() {  # row NAME CODE REGEX ARGS...: ARGS of circal; RUN becomes this row's run directory
  # Optional per row: FROM=DIR (copied into the run directory first), DIR=PATH (the run
  # directory when ARGS name it themselves), PREFIX=COMMAND (runs mpirun, e.g. as another user), RANK_PREFIX=COMMAND (runs each rank),
  # BIN=PATH and CWD=DIR (another circal binary, another working directory), NP=N (ranks, default 2).
  local name=$1 code=$2 regex=$3; shift 3
  tried=$((tried + 1))
  local rd=${DIR:-$WORK/case-$tried/run} args=() arg
  mkdir -p "$rd" 2>/dev/null || true
  [ -n "${FROM:-}" ] && cp -r "$FROM"/. "$rd"/
  for arg in "$@"; do args+=("${arg//RUN/$rd}"); done
  local before; before=$(cd "$rd" 2>/dev/null && find . -type f | sort || true)
  local log=$WORK/case-$tried.log started=$SECONDS got launch=(mpirun -np "${NP:-2}")
  # One rank runs as a singleton: under `mpirun -np 1` a rank that exits non-zero keeps mpirun
  # about 2 s longer (0.5 s in all), which across the table would be minutes.
  [ "${NP:-2}" != 1 ] || launch=()
  set +e
  (cd "${CWD:-$CIRCAL_SOURCE_DIR}" && ${PREFIX:-} timeout -k 2 "${TIMEOUT:-$CASE_TIMEOUT}" "${launch[@]}" ${RANK_PREFIX:-} "${BIN:-$CIRCAL_BIN}" "${args[@]}") \
    > "$log" 2>&1
  got=$?
  set -e
  local problems=()
  if [ "$got" = 124 ] || [ "$got" = 137 ]; then problems+=("did not finish within ${TIMEOUT:-$CASE_TIMEOUT}s")
  elif [ "$got" != "$code" ]; then problems+=("exit $got, expected $code")
  fi
  local messages; messages=$(grep -E '^circal: error: ' "$log" | sed -E 's/^circal: error: (\[rank [0-9]+\] )?//' | sort -u || true)
  if [ "$code" = 0 ]; then
    [ -z "$messages" ] || problems+=("unexpected error: $messages")
    [ -f "$rd/metrics.json" ] || problems+=("no metrics.json")
    before=$(cd "$rd" && find . -type f | sort)  # a run that works adds its outputs
  elif [ -z "$messages" ]; then problems+=("no 'circal: error:' line")
  elif [ "$(wc -l <<< "$messages")" -ne 1 ]; then problems+=("ranks disagree on the message")
  elif ! grep -Eq -- "$regex" <<< "$messages"; then problems+=("message does not match /$regex/")
  fi
  grep -q 'internal error' "$log" && problems+=("reported as an internal error")
  # A rank seen right after mpirun returned may still be on its way out: look again after a moment.
  if pgrep -f -- "${BIN:-$CIRCAL_BIN} .*$rd" > /dev/null && sleep 0.2 && pgrep -f -- "${BIN:-$CIRCAL_BIN} .*$rd" > /dev/null; then
    problems+=("a rank is still running")
    pkill -9 -f -- "${BIN:-$CIRCAL_BIN} .*$rd" || true
  fi
  local leftovers; leftovers=$(cd "$rd" 2>/dev/null && find . \( -name '*.tmp' -o -name '.circal.*' \) | head -3 || true)
  [ -z "$leftovers" ] || problems+=("left behind: $leftovers")
  local added; added=$(comm -13 <(echo "$before") <(cd "$rd" 2>/dev/null && find . -type f | sort) | head -3 || true)
  [ -z "$added" ] || problems+=("the failed run added: $added")
  if [ ${#problems[@]} -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok ($((SECONDS - started))s): $name -> $got: $messages"
  else
    failures+=("$name")
    echo "FAILED: $name: $(IFS=';'; echo "${problems[*]}")"
    sed 's/^/    | /' "$log" | tail -n 8
  fi
}
# 1 MiB: the micro run's capture.h5 needs more. On the ranks only: mpirun's own files grow past it.
printf '#!/bin/bash\nulimit -f 1024\nexec "$@"\n' > "$F/file-limit.sh" && chmod +x "$F/file-limit.sh"
# skip ROW WHY INSTALL: a row this machine cannot run; under CI=true a failure (unavailable).
skip() { unavailable "row '$1': $2" "$3" || true; tried=$((tried + 1)); not_run=$((not_run + 1)); }

# Config and command line: exit 2, naming the key or option.
row "unknown key (--set)"        2 'calibrate\.lrate.*unknown key'        run --config "$CFG" --run-dir RUN --set calibrate.lrate=0.1
row "unknown key (config file)"  2 'calibrate\.lrate.*unknown key.*unknown-key\.yaml' run --config "$F/unknown-key.yaml" --run-dir RUN
row "wrong type"                 2 'calibrate\.steps.*abc'                run --config "$CFG" --run-dir RUN --set calibrate.steps=abc
row "negative learning rate"     2 'calibrate\.lr: must be > 0 \(got -1\)' run --config "$CFG" --run-dir RUN --set calibrate.lr=-1
row "zero learning rate"         2 'calibrate\.lr: must be > 0 \(got 0\)' run --config "$CFG" --run-dir RUN --set calibrate.lr=0
row "node memory budget too small" 2 'runtime\.node_memory_gb: the (capture|calibrate) stage needs about .* more than the 0\.0 GB budget; raise runtime\.node_memory_gb' \
  run --config "$CFG" --run-dir RUN --set runtime.node_memory_gb=0.001
row "block size 0"               2 'project\.block_size.*0'               run --config "$CFG" --run-dir RUN --set project.block_size=0
row "odd block size"             2 'project\.block_size.*(even|odd).*15|project\.block_size.*15.*(even|odd)' run --config "$CFG" --run-dir RUN --set project.block_size=15
row "block larger than a matrix" 2 'project\.block_size.*1024.*(larger|exceeds)|1024.*larger than' run --config "$CFG" --run-dir RUN --set project.block_size=1024
row "layer out of range"         2 'patch\.layers.*7.*(out of range|model has 4)' run --config "$CFG" --run-dir RUN --set 'patch.layers=[7]'
row "negative layer"             2 'patch\.layers.*-1'                    run --config "$CFG" --run-dir RUN --set 'patch.layers=[-1]'
row "unknown projection"         2 'patch\.projections.*gate\b|gate.*(unknown|expected)' run --config "$CFG" --run-dir RUN --set 'patch.projections=[gate]'
row "empty layer list"           2 'patch\.layers.*empty'                 run --config "$CFG" --run-dir RUN --set 'patch.layers=[]'
row "empty projection list"      2 'patch\.projections.*empty'            run --config "$CFG" --run-dir RUN --set 'patch.projections=[]'
row "missing config file"        2 'no-such\.yaml'                        run --config "$F/no-such.yaml" --run-dir RUN
row "unparseable config file"    2 'unparseable\.yaml'                    run --config "$F/unparseable.yaml" --run-dir RUN
row "--set without ="            2 'calibrate\.lr.*key=value|key=value.*calibrate\.lr' run --config "$CFG" --run-dir RUN --set calibrate.lr
row "unknown option"             2 '--frobnicate'                         run --config "$CFG" --run-dir RUN --frobnicate
row "unknown --from stage"       2 "--from: unknown stage 'prepare'"      run --config "$CFG" --run-dir RUN --from prepare

# Prompt files: exit 3, naming the file (and line or prompt), from every command that reads one:
# run and capture (calibration and validation files), evaluate (test), logits and bench model
# (--prompts), split (prompts.source) where it applies. `run` at 2 ranks shows every rank refuses
# alike; the other commands at 1, which is all they need to reach the same check.
LONG="prompt 1 has 3001 tokens, more than the model.s max_position_embeddings 512"
prompt_rows() {  # prompt_rows NAME REGEX FILE SPLIT: SPLIT = the key `run` reads FILE as; then `split` if it applies
  local name=$1 regex=$2 file=$3 key=$4 also=${5:-}
  row "$name (run, $key)"     3 "$regex" run --config "$CFG" --run-dir RUN --set prompts.$key="$file"
  NP=1 row "$name (capture)"  3 "$regex" capture --config "$CFG" --run-dir RUN --set prompts.$key="$file"
  FROM=$F/good NP=1 row "$name (evaluate, test)" 3 "$regex" evaluate --config "$CFG" --run-dir RUN --set prompts.test="$file"
  NP=1 row "$name (logits)"   3 "$regex" logits --model "$MODEL" --prompts "$file" --out RUN/logits.h5
  NP=1 row "$name (bench model)" 3 "$regex" bench model --model "$MODEL" --prompts "$file" --repeats 1 --decode-tokens 2
  [ "$also" != split ] || NP=1 row "$name (split)" 3 "$regex" split --config "$CFG" --set prompts.source="$file" --set split.output_dir=RUN
}
prompt_rows "missing prompt file"        'no-such\.txt: missing'                  "$P/no-such.txt" calibration split
prompt_rows "prompt file is a directory" 'a-directory: not a regular file'        "$P/a-directory" validation split
prompt_rows "empty prompt file"          'empty\.txt.*(no prompts|empty)'         "$P/empty.txt"   calibration split
prompt_rows "prompt file not UTF-8"      'latin1\.txt:1.*invalid UTF-8'           "$P/latin1.txt"  validation split
prompt_rows "prompt too long"            "long\.txt: $LONG"                       "$P/long.txt"    validation
NP=1 row "prompt too long (generate --prompt)" 3 "--prompt: $LONG" generate --model "$MODEL" --prompt "$(cat "$P/long.txt")" --tokens 2
NP=1 row "prompt not UTF-8 (generate --prompt)" 3 "--prompt: invalid UTF-8" generate --model "$MODEL" --prompt "$(printf 'caf\xe9')" --tokens 2
row "prompt in two splits"       3 'in both .*calibration\.txt.* and .*overlap\.txt' run --config "$CFG" --run-dir RUN --set prompts.validation="$P/overlap.txt"
NP=1 row "prompt in two splits (capture)" 3 'in both .*calibration\.txt.* and .*overlap\.txt' capture --config "$CFG" --run-dir RUN --set prompts.validation="$P/overlap.txt"
TIMEOUT=120 row "fewer prompts than ranks (works)" 0 ''                           run --config "$CFG" --run-dir RUN --set prompts.calibration="$P/one.txt"
row "empty test split"           3 'empty\.txt.*(no prompts|empty)'       run --config "$CFG" --run-dir RUN --set prompts.test="$P/empty.txt"

# Corpus windows: exit 3 naming the corpus file (and line), exit 2 for a window the model cannot take.
row "missing corpus file"        3 'no-such\.jsonl: missing'  run --config "$CFG" --run-dir RUN "${CORPUS[@]}" --set "data.corpus=[$C/no-such.jsonl]"
row "corpus line not JSON"       3 'broken\.jsonl:2: not valid JSON' run --config "$CFG" --run-dir RUN "${CORPUS[@]}" --set "data.corpus=[$C/broken.jsonl]"
row "corpus line without text"   3 'notext\.jsonl:2: no "text" field' run --config "$CFG" --run-dir RUN "${CORPUS[@]}" --set "data.corpus=[$C/notext.jsonl]"
row "corpus too small"           3 'calibration/validation documents hold only [0-9]+ disjoint windows of 8 tokens, fewer than the 80 requested' run --config "$CFG" --run-dir RUN "${CORPUS[@]}" --set "data.corpus=[$C/small.jsonl]"
row "window longer than context" 2 'data\.window_tokens: 600 is more than the model.s max_position_embeddings 512' run --config "$CFG" --run-dir RUN "${CORPUS[@]}" --set data.window_tokens=600
row "empty corpus list"          2 'data\.corpus: must list at least one corpus file' run --config "$CFG" --run-dir RUN "${CORPUS[@]}" --set 'data.corpus=[]'

# Model folder: exit 3, naming the file and what is wrong with it, from every command that reads
# one (all open it with open_teacher): run (2 ranks), capture, logits, generate, bench model (1).
# project, calibrate and evaluate load the folder as run does; the tokenizer rows run against
# each of them too: only capture and evaluate tokenize, yet every stage must refuse the folder.
model_rows() {  # model_rows NAME REGEX FOLDER [stages]
  local name=$1 regex=$2 folder=$3 stage
  row "$name (run)"               3 "$regex" run --config "$CFG" --run-dir RUN --set model.path="$folder"
  NP=1 row "$name (capture)"      3 "$regex" capture --config "$CFG" --run-dir RUN --set model.path="$folder"
  NP=1 row "$name (logits)"       3 "$regex" logits --model "$folder" --prompts "$P/one.txt" --out RUN/logits.h5
  NP=1 row "$name (generate)"     3 "$regex" generate --model "$folder" --prompt "Describe a cat" --tokens 2
  NP=1 row "$name (bench model)"  3 "$regex" bench model --model "$folder" --prompts "$P/one.txt" --repeats 1 --decode-tokens 2
  [ "${4:-}" = stages ] || return 0
  for stage in project calibrate evaluate; do
    FROM=$F/good NP=1 row "$name ($stage)" 3 "$regex" $stage --config "$CFG" --run-dir RUN --set model.path="$folder" --force
  done
}
m() { echo "$F/model-$1"; }
model_rows "model folder missing"         'nowhere.*model folder does not exist' "$F/nowhere"
model_rows "config.json missing"          'model-no-config/config\.json.*(missing|cannot)' "$(m no-config)"
model_rows "unsupported architecture"     'model-gpt2/config\.json.*(gpt2|llama)' "$(m gpt2)"
model_rows "config.json not JSON"         'model-bad-json/config\.json.*(JSON|parse)' "$(m bad-json)"
model_rows "config.json lacks a key"      'model-no-hidden/config\.json.*hidden_size' "$(m no-hidden)"
model_rows "truncated safetensors"        'model-truncated/model\.safetensors.*(truncated|beyond|out of range|end of file)' "$(m truncated)"
model_rows "offsets out of range"         'model-offsets/model\.safetensors.*model\.norm\.weight' "$(m offsets)"
model_rows "header length out of range"   'model-huge-header/model\.safetensors.*header' "$(m huge-header)"
model_rows "unsupported dtype"            'model-dtype/model\.safetensors.*model\.norm\.weight.*I64' "$(m dtype)"
model_rows "missing tensor"               'model-missing-tensor/model\.safetensors.*missing tensor model\.layers\.3\.mlp\.up_proj\.weight' "$(m missing-tensor)"
model_rows "misshaped tensor"             'model-misshaped/model\.safetensors.*up_proj\.weight has shape \[256, 768\]' "$(m misshaped)"
model_rows "tokenizer.model missing"      'model-no-tokenizer/tokenizer\.model: missing' "$(m no-tokenizer)" stages
model_rows "tokenizer not SentencePiece"  'model-bad-tokenizer/tokenizer\.model.*not a SentencePiece model' "$(m bad-tokenizer)" stages
model_rows "tokenizer.json not BPE"       'model-unigram-json/tokenizer\.json: model\.type Unigram is not supported' "$(m unigram-json)" stages

# Checkpoints: exit 4, naming the file and why it is refused (single stages do not recompute),
# from every command that reads it: project.h5 by calibrate, evaluate (calibrate.enabled=false:
# project.h5 is then the student it reads) and, as a student, logits and generate; capture.h5 by
# project and calibrate. The first command at 2 ranks, the others at 1 (a singleton, see row).
checkpoint_rows() {  # checkpoint_rows NAME REGEX VARIANT COMMAND...: $F/ck-VARIANT holds the files
  local name=$1 regex=$2 from=$F/ck-$3 command np=2; shift 3
  for command in "$@"; do
    case $command in
      project | calibrate) FROM=$from NP=$np row "$name ($command)" 4 "$regex" $command --force --config "$CFG" --run-dir RUN ;;
      evaluate) FROM=$from NP=$np row "$name (evaluate)" 4 "$regex" evaluate --force --config "$CFG" --run-dir RUN \
        --set calibrate.enabled=false ;;
      logits) NP=$np row "$name (logits --student)" 4 "$regex" logits --model "$MODEL" --prompts "$P/one.txt" \
        --out RUN/logits.h5 --student "$from/project.h5" ;;
      generate) NP=$np row "$name (generate --student)" 4 "$regex" generate --model "$MODEL" --prompt "Describe a cat" \
        --tokens 2 --student "$from/project.h5" ;;
    esac
    np=1
  done
}
checkpoint_rows "truncated checkpoint"       'project\.h5.*truncated'        truncated   calibrate evaluate logits generate
checkpoint_rows "not an HDF5 file"           'capture\.h5.*not an HDF5 file' garbage     project calibrate
checkpoint_rows "incomplete checkpoint"      'project\.h5.*incomplete'       incomplete  calibrate evaluate logits generate
checkpoint_rows "another stage's checkpoint" "project\.h5.*'capture' checkpoint, expected 'project'" stage calibrate evaluate logits generate
checkpoint_rows "another fingerprint's"      'project\.h5: made for another run \(made with project\.block_size 32, now 16\)' fingerprint calibrate evaluate
checkpoint_rows "another model's"            'capture\.h5: made for another run \(made with model\.path .*model-other-eps' model project calibrate
checkpoint_rows "missing checkpoint"         'project\.h5.*missing'          missing     calibrate evaluate logits generate

# Run directory: exit 5 when it cannot be written.
touch "$F/plain-file"
DIR=$F/plain-file/run row "run dir under a regular file" 5 'plain-file/run.*cannot create run directory' run --config "$CFG" --run-dir RUN
if mount -t tmpfs -o size=64k,mode=0755 tmpfs "$F/full" 2>/dev/null || { mkdir -p "$F/full" && mount -t tmpfs -o size=64k tmpfs "$F/full" 2>/dev/null; }; then
  at_exit 'umount "$F/full" "$F/ro" 2>/dev/null'
  DIR=$F/full/run row "disk full (64 KiB tmpfs)" 5 'full/run/capture\.h5\.tmp: .*\((No space left on device|disk full: [0-9]+ KiB free)\)' run --config "$CFG" --run-dir RUN
  mkdir -p "$F/ro" && mount -t tmpfs -o size=64k,ro tmpfs "$F/ro"
  DIR=$F/ro/run row "read-only run dir (ro mount)" 5 'ro/run.*(cannot create|not writable|Read-only)' run --config "$CFG" --run-dir RUN
else
  skip "disk full (tmpfs)" "mount -t tmpfs is not permitted here" "run the tests as root with CAP_SYS_ADMIN (a privileged container)"
  skip "read-only run dir (ro mount)" "mount -t tmpfs is not permitted here" "run the tests as root with CAP_SYS_ADMIN (a privileged container)"
fi
RANK_PREFIX=$F/file-limit.sh row "file-size limit (ulimit -f, ranks only)" 5 'capture\.h5\.tmp: .*\((File too large|file-size limit of [0-9]+ KiB reached)\)' run --config "$CFG" --run-dir RUN
if command -v setpriv > /dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
  # The checkout may sit in a directory only root can enter (CI clones into a mktemp -d), so the
  # unprivileged user gets its own copy of the binary and the model, beside the fixtures.
  mkdir -p "$F/root-only" "$F/world/model" && chmod 0755 "$WORK" "$F" "$F/root-only"
  cp "$CIRCAL_BIN" "$F/world/circal" && cp "$MODEL"/{config.json,model.safetensors,tokenizer.model} "$F/world/model/"
  chmod -R a+rX "$WORK/m" "$F/world"
  PREFIX="setpriv --reuid=65534 --regid=65534 --clear-groups" BIN=$F/world/circal CWD=$F/world \
  DIR=$F/root-only/run row "run dir not writable (unprivileged user)" 5 'root-only/run.*(cannot create|Permission denied|not writable)' \
      run --config "$CFG" --set model.path="$F/world/model" --run-dir RUN
else
  skip "run dir not writable (unprivileged user)" "setpriv cannot drop to uid 65534 here" "run the tests as root, with setpriv (apt-get install util-linux)"
fi

echo "bad inputs: $tried cases tried, $passed passed, $not_run not runnable here"
if [ ${#failures[@]} -gt 0 ]; then printf 'FAILED: %s\n' "${failures[@]}"; exit 1; fi
