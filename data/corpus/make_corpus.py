#!/usr/bin/python3
"""Render Debian manual pages to the circal text corpus (JSON Lines).

Called by make_corpus.sh, which fetches, verifies and unpacks the pinned .deb
files and sets the fixed environment (LC_ALL=C.UTF-8, TZ=UTC, MANWIDTH=100).
Usage: make_corpus.py UNPACK_DIR OUT_DIR

Every step is deterministic: files are visited in sorted order, rendering runs
in a fixed environment, the sample is chosen by a keyed SHA-256 of each page's
source name, and the output is written in sorted source order.
"""
import concurrent.futures
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys

# package -> (version, language, man root inside the unpacked package)
PACKAGES = [
    ("manpages", "6.03-2", "en", "usr/share/man"),
    ("manpages-dev", "6.03-2", "en", "usr/share/man"),
    ("manpages-de", "4.18.1-1", "de", "usr/share/man/de"),
    ("manpages-de-dev", "4.18.1-1", "de", "usr/share/man/de"),
]
MIN_CHARS = 500        # drop rendered pages shorter than this
MAX_CHARS = 60000      # drop very long pages (bash.1, groff_*) so no page dominates
# Character budget per language (characters of normalised text, not bytes).
BUDGET = {"en": 1_500_000, "de": 1_200_000}
SAMPLE_KEY = "circal-corpus-v1"
RENDER_TIMEOUT = 60

ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "MANWIDTH": "100",
    "MANPAGER": "cat",
    "PAGER": "cat",
    "HOME": "/nonexistent",
}


def page_files(root):
    """Regular (non-symlink) gzip man pages in sections 1-9 under root, sorted."""
    out = []
    for sect in sorted(os.listdir(root)):
        if not re.fullmatch(r"man[1-9]", sect):
            continue
        d = os.path.join(root, sect)
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if name.endswith(".gz") and os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def roff_source(path):
    with gzip.open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def is_so_stub(src):
    """True if the first request that is not a comment is .so (an alias page)."""
    for line in src.splitlines():
        s = line.strip()
        if not s or s.startswith('.\\"') or s.startswith("'\\\"") or s.startswith('\\"'):
            continue
        return s.startswith(".so ")
    return True


def render(path, root):
    cache = os.environ.get("RENDER_CACHE")
    if cache:
        cp = os.path.join(cache, hashlib.sha256(path.encode()).hexdigest())
        if os.path.exists(cp):
            with open(cp, encoding="utf-8") as f:
                return f.read()
    text = _render(path, root)
    if cache:
        with open(cp, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def _render(path, root):
    cmd = "man -E UTF-8 --nh --nj -l \"$1\" 2>/dev/null | col -bx"
    r = subprocess.run(["sh", "-c", cmd, "sh", path], cwd=root, env=ENV,
                       stdout=subprocess.PIPE, timeout=RENDER_TIMEOUT, check=False)
    return r.stdout.decode("utf-8", errors="replace")


CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalise(text):
    """Teacher's normalisation: strip trailing whitespace, keep indentation,
    collapse runs of blank lines to one blank line, trim leading/trailing blank lines."""
    text = CTRL.sub("", text.replace("\r", ""))
    lines = [l.rstrip() for l in text.split("\n")]
    out, blank = [], False
    for l in lines:
        if not l:
            blank = True
            continue
        if blank and out:
            out.append("")
        blank = False
        out.append(l)
    return "\n".join(out)


def dep5_licences(copyright_path):
    """Parse a machine-readable debian/copyright: list of (patterns, licence)."""
    stanzas, cur = [], {}
    field = None
    with open(copyright_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    stanzas.append(cur)
                cur, field = {}, None
                continue
            if line[0] in " \t":
                if field:
                    cur[field] += "\n" + line.strip()
                continue
            k, _, v = line.partition(":")
            field = k
            cur[k] = v.strip()
    if cur:
        stanzas.append(cur)
    out = []
    for s in stanzas:
        if "Files" in s and "License" in s:
            out.append((s["Files"].split(), s["License"].split("\n")[0].strip()))
    return out


def glob_match(pattern, path):
    rx = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(rx, path) is not None


def licence_for(stanzas, candidates):
    """DEP-5 rule: the last stanza whose Files matches wins."""
    lic = None
    for pats, l in stanzas:
        for c in candidates:
            if any(glob_match(p, c) for p in pats):
                lic = l
    return lic


def main():
    unpack, out_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    jobs = []  # (package, lang, root, path, source-name)
    for pkg, ver, lang, rel in PACKAGES:
        pdir = os.path.join(unpack, f"{pkg}_{ver}_all")
        root = os.path.join(pdir, rel)
        for p in page_files(root):
            base = os.path.basename(p)[:-3]  # e.g. ls.1 or clockid_t.3type
            jobs.append((pkg, lang, root, p, base))

    en_lic = dep5_licences(os.path.join(unpack, "manpages_6.03-2_all/usr/share/doc/manpages/copyright"))
    de_lic = dep5_licences(os.path.join(unpack, "manpages-de_4.18.1-1_all/usr/share/doc/manpages-de/copyright"))

    stats = {"files": 0, "so_stub": 0, "short": 0, "long": 0, "dup": 0, "rendered": 0}
    key = lambda j: hashlib.sha256(f"{SAMPLE_KEY}:{j[0]}:{j[4]}".encode()).hexdigest()
    workers = int(os.environ.get("JOBS", "2"))
    seen = set()
    ex = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    for lang in ("en", "de"):
        # Candidates in keyed-hash order; pages are accepted in that order until the
        # next accepted page would overflow the budget. Rendering is done in parallel
        # batches, but decisions follow the fixed order, so the result is deterministic.
        cands = sorted((j for j in jobs if j[1] == lang), key=key)
        chosen, total, full = [], 0, False
        i = 0
        while i < len(cands) and not full:
            batch = []
            while i < len(cands) and len(batch) < 4 * workers:
                j = cands[i]
                i += 1
                stats["files"] += 1
                if is_so_stub(roff_source(j[3])):
                    stats["so_stub"] += 1
                    continue
                batch.append(j)
            for (pkg, _, root, path, base), raw in zip(batch, ex.map(lambda j: render(j[3], j[2]), batch)):
                stats["rendered"] += 1
                text = normalise(raw)
                if len(text) < MIN_CHARS:
                    stats["short"] += 1
                    continue
                if len(text) > MAX_CHARS:
                    stats["long"] += 1
                    continue
                h = hashlib.sha1(text.encode("utf-8")).hexdigest()
                if h in seen:
                    stats["dup"] += 1
                    continue
                if total + len(text) > BUDGET[lang]:
                    full = True
                    break
                seen.add(h)
                ext = base.rsplit(".", 1)[1]
                if lang == "en":
                    lic = licence_for(en_lic, [f"man{ext}/{base}", f"man{ext[0]}/{base}"])
                else:
                    lic = licence_for(de_lic, [f"po/de/man{ext}/{base}.po", f"po/de/man{ext[0]}/{base}.po"])
                chosen.append({"text": text, "source": f"{pkg}:{base}", "lang": lang,
                               "license": lic or "UNKNOWN"})
                total += len(text)
        chosen.sort(key=lambda d: d["source"])
        with open(os.path.join(out_dir, f"{lang}.jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for d in chosen:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        lics = {}
        for d in chosen:
            lics[d["license"]] = lics.get(d["license"], 0) + 1
        print(f"{lang}: {len(chosen)} documents, {total} characters; licences {sorted(lics.items())}",
              file=sys.stderr)
    ex.shutdown()
    print(f"stats: {stats}", file=sys.stderr)


if __name__ == "__main__":
    main()
