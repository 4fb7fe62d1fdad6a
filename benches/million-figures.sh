#!/usr/bin/env bash
# A catalog of a million files (issue 18): time and peak RSS of the first
# scan, an unchanged rescan, backup planning (`backup --dry-run`), the backup
# itself (packed into images on a local folder archive site) and restore
# planning (`restore / --dry-run`).
# The tree: FILES small files (default 1,000,000) of distinct contents in
# 1,000 folders, made by Python. Target: every step within 256 MB peak RSS;
# the times are printed, not judged.
# Usage: benches/million-figures.sh [FILES] [PACK]   (defaults 1000000, 512MB)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
pack="${2:-512MB}"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"
work=$(mktemp -d "${TMPDIR:-/tmp}/lomob-million.XXXXXX")
trap 'rm -rf "$work"' EXIT
export LOMOB_PASSPHRASE=bench XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
t=$(date +%s.%N)
python3 - "$work/Pictures" "$n" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
for d in range(1000):
    os.makedirs(f"{top}/{2000 + d // 50}/{d:04d}", exist_ok=True)
for i in range(n):
    d = i % 1000
    with open(f"{top}/{2000 + d // 50}/{d:04d}/IMG_{i:07d}.jpg", "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + (b"%07d" % i) * (20 + i % 40))
PY
printf 'tree: %s files in 1,000 folders (%s) made in %.0f s — %s, %s cores\n' "$n" \
    "$(du -sh "$work/Pictures" | cut -f1)" "$(echo "$(date +%s.%N) - $t" | bc -l)" "$(date -u +%F)" "$(nproc)"
L() { "$lomob" --db "$work/c.db" --no-progress "$@"; }
L site add nas "file://$work/nas" --role archive >/dev/null 2>&1
(cd "$work" && L key init >/dev/null 2>&1)
step() { # label, lomob args…
    local label="$1"
    shift
    t=$(date +%s.%N)
    # exit 1 is "needs attention" (files that wait for a fuller image are
    # on no site yet): the step still ran
    local rc=0
    (cd "$work" && /usr/bin/time -f "%M" -o "$work/rss" "$lomob" --db "$work/c.db" --no-progress "$@" >"$work/out" 2>&1) || rc=$?
    if [ "$rc" -gt 1 ]; then echo "$label failed:"; tail -5 "$work/out"; exit 1; fi
    printf '  %-52s %7.1f s   peak RSS %4d MB\n' "$label" "$(echo "$(date +%s.%N) - $t" | bc -l)" \
        "$(( $(tail -1 "$work/rss") / 1024 ))"
}
step "first scan (hash every file)" scan "$work/Pictures"
step "rescan, nothing changed" scan "$work/Pictures"
step "backup planning (backup --dry-run, $pack images)" backup --dry-run --pack-size "$pack"
grep -h "would pack" "$work/out" | sed 's/^/    /'
step "backup (pack into $pack images on a folder site)" backup --pack-size "$pack"
grep -h "^archives" "$work/out" | sed 's/^/    /'
step "restore planning (restore / --dry-run)" restore / --to "$work/back" --dry-run
tail -2 "$work/out" | sed 's/^/    /'
printf 'catalog: %s MB\n' "$(( $(stat -c %s "$work/c.db") / 1000000 ))"
echo "target: every step within 256 MB peak RSS"
