#!/bin/sh
# Regenerate data/corpus/en.jsonl and data/corpus/de.jsonl from pinned Debian 12
# packages (see README.md in this directory for provenance and licences).
#
#   data/corpus/make_corpus.sh            # fetch the .debs with apt-get download
#   DEBDIR=/path/to/debs data/corpus/make_corpus.sh   # use .debs you already have
#
# Needs: apt (only without DEBDIR), dpkg-deb, man-db, groff-base, bsdextrautils (col),
# /usr/bin/python3. The .deb files are checked against the SHA-256 sums below, so
# the input is exactly what README.md describes. Output is written next to this
# script; sha256sum of the outputs is printed at the end.
set -eu
export LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC
unset MANOPT MANPATH MANSECT MANROFFOPT MAN_KEEP_FORMATTING GROFF_TMAC_PATH GROFF_FONT_PATH 2>/dev/null || true

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# package version sha256-of-.deb
PINS="manpages 6.03-2 efa1ba4cd19ad7baeae959c9209a7eb74be2ebb858bcabb412597bfc9f588c91
manpages-dev 6.03-2 96f55cb5e26231d5567c89b692bced63825a14a2d5bd18fdf16ea2ed44eb9838
manpages-de 4.18.1-1 37d2e7ee51f22952aecec3af93647ff59194a3c74bb7a694560f49c7f7ab3978
manpages-de-dev 4.18.1-1 cb3d7c10977dd3c811065d89e0d912196ec5e6f2551308edb0ba72e02da838d7"

# Rendering tools the published files were made with; other versions may render
# slightly differently (the script still runs, but warns).
TOOLS="man-db 2.11.2-2
groff-base 1.22.4-10
bsdextrautils 2.38.1-5+deb12u3"
echo "$TOOLS" | while read -r p v; do
    have=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo none)
    [ "$have" = "$v" ] || echo "warning: $p is $have, the corpus was made with $v" >&2
done

mkdir -p "$work/debs" "$work/x"
echo "$PINS" | while read -r p v sum; do
    deb="${p}_${v}_all.deb"
    if [ -n "${DEBDIR:-}" ]; then
        cp "$DEBDIR/$deb" "$work/debs/$deb"
    else
        (cd "$work/debs" && apt-get download -q "$p=$v" >/dev/null 2>&1) ||
            { echo "apt-get download $p=$v failed (try DEBDIR=..., or snapshot.debian.org)" >&2; exit 1; }
    fi
    echo "$sum  $work/debs/$deb" | sha256sum -c --quiet - || { echo "checksum mismatch: $deb" >&2; exit 1; }
    dpkg-deb -x "$work/debs/$deb" "$work/x/${p}_${v}_all"
done

/usr/bin/python3 "$here/make_corpus.py" "$work/x" "$here"
cd "$here" && sha256sum en.jsonl de.jsonl
