// Hugging Face's own JavaScript tokenizers (@huggingface/tokenizers), the reference that
// circal's tokenizer.json engine must equal. Modes:
//   texts FILE...            the texts of prompt files (.txt: each line) and corpus files (.jsonl:
//                            each "text"), one JSON string a line, for both sides to read
//   ids NPM_DIR DIR OUT TEXTS...   per text: [ids as tokenizer(text) gives them, decode(ids)],
//                            into OUT/NAME for each TEXTS file NAME (the tokenizer read once)
//   compare LABEL EXPECTED ACTUAL   counts equal lines; lists the first differences
//   speed NPM_DIR DIR TEXTS PASSES  tokens/s of each pass (the texts encoded once each)
//   derive DIR OUT VARIANT   DIR's tokenizer with one part changed, for the layouts no packaged
//                            file has (VARIANTS below)
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

const [mode, ...args] = process.argv.slice(2);

function lines(path) {
  const text = readFileSync(path, "utf8");
  return text.split("\n").filter((line, i, all) => !(i === all.length - 1 && line === ""));
}

function readTokenizer(npmDir, dir) {
  const { Tokenizer } = createRequire(resolve(npmDir, "node_modules") + "/")("@huggingface/tokenizers");
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  return new Tokenizer(json, config);
}

function texts(files) {
  for (const file of files) {
    for (const line of lines(file)) {
      if (file.endsWith(".jsonl")) {
        if (line.trim() !== "") console.log(JSON.stringify(JSON.parse(line).text));
      } else if (line.trim() !== "") {
        console.log(JSON.stringify(line.trim()));  // as circal's prompt reader keeps a line
      }
    }
  }
}

function ids(npmDir, dir, outDir, textsFiles) {
  const tokenizer = readTokenizer(npmDir, dir);
  for (const textsFile of textsFiles) {
    const out = [];
    for (const line of lines(textsFile)) {
      const encoded = tokenizer.encode(JSON.parse(line)).ids;
      const decoded = encoded.length === 0 ? "" :
        tokenizer.decode(encoded, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
      out.push(JSON.stringify([encoded, decoded]));
    }
    writeFileSync(join(outDir, basename(textsFile)), out.join("\n") + "\n");
  }
}

function compare(label, expectedFile, actualFile) {
  const expected = lines(expectedFile), actual = lines(actualFile);
  let sameIds = 0, sameText = 0;
  const shown = [];
  for (let i = 0; i < expected.length; ++i) {
    const [e, a] = [JSON.parse(expected[i]), actual[i] === undefined ? [[], null] : JSON.parse(actual[i])];
    const idsEqual = JSON.stringify(e[0]) === JSON.stringify(a[0]);
    sameIds += idsEqual;
    sameText += e[1] === a[1];
    if ((!idsEqual || e[1] !== a[1]) && shown.length < 3)
      shown.push(`  text ${i + 1}: expected ${JSON.stringify(e).slice(0, 300)}\n          circal   ${JSON.stringify(a).slice(0, 300)}`);
  }
  const ok = sameIds === expected.length && sameText === expected.length && actual.length === expected.length;
  console.log(`${ok ? "ok" : "FAILED"}: ${label}: ids equal ${sameIds}/${expected.length}, decode equal ${sameText}/${expected.length}`);
  for (const s of shown) console.log(s);
  process.exitCode = ok ? 0 : 1;
}

function speed(npmDir, dir, textsFile, passes) {
  const start = process.hrtime.bigint();
  const tokenizer = readTokenizer(npmDir, dir);
  const loaded = Number(process.hrtime.bigint() - start) / 1e9;
  const all = lines(textsFile).map((line) => JSON.parse(line));
  for (let pass = 0; pass < passes; ++pass) {
    const t0 = process.hrtime.bigint();
    let tokens = 0;
    for (const text of all) tokens += tokenizer.encode(text, { add_special_tokens: false }).ids.length;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(JSON.stringify({ pass, tokens, seconds, tokens_per_s: tokens / seconds, load_s: loaded }));
  }
}

// Real layouts of other families, made from a packaged file's vocabulary and merges.
const VARIANTS = {
  // GPT-2 / SmolLM2: ByteLevel alone, with GPT-2's own regex.
  gpt2: (t) => { t.normalizer = null; t.pre_tokenizer = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true }; },
  // RoBERTa-style prefix space.
  "gpt2-prefix": (t) => { t.normalizer = null; t.pre_tokenizer = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true }; },
  // Llama 3.1: BOS by a TemplateProcessing after ByteLevel.
  "llama3-bos": (t) => {
    t.post_processor = { type: "Sequence", processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [], special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } } }] };
  },
  // Mistral v0.3 style: Metaspace pre-tokenizer and decoder instead of the normalizer.
  metaspace: (t) => {
    t.normalizer = null;
    t.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
    t.decoder = { type: "Sequence", decoders: [{ type: "ByteFallback" }, { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false }] };
  },
};

function derive(dir, out, variant) {
  const tokenizer = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  VARIANTS[variant](tokenizer);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(out, "tokenizer_config.json"), readFileSync(join(dir, "tokenizer_config.json")));
}

if (mode === "texts") texts(args);
else if (mode === "derive") derive(args[0], args[1], args[2]);
else if (mode === "ids") ids(args[0], args[1], args[2], args.slice(3));
else if (mode === "compare") compare(args[0], args[1], args[2]);
else if (mode === "speed") speed(args[0], args[1], args[2], Number(args[3]));
else { console.error("usage: hf_reference.mjs texts|ids|compare|speed ..."); process.exit(2); }
