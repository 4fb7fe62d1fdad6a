#!/usr/bin/env bash
# Prints the scan figures of issue #3, in one run on this machine:
#   first scan of 20,000 and 100,000 small files, rescan of the 100,000 unchanged,
#   first scan of a ~2 GB photo/video tree vs `cat` of the same files (warm cache),
#   peak RSS of each run.
# Usage: benches/scan-figures.sh [WORKDIR]   (needs ~3 GB free; WORKDIR is kept)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-${TMPDIR:-/tmp}/lomob-scan-bench}"
mkds="${LOMOB_MKDATASET:-$here/../shared/tools/mkdataset.py}"
mkdir -p "$work"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"

make() { # DIR ARGS...: make a dataset once
    local dir="$1"; shift
    [ -e "$dir/.done" ] || { rm -rf "$dir"; python3 "$mkds" "$dir" "$@"; touch "$dir/.done"; }
}
make "$work/small20k" --photos 0 --videos 0 --small 20000
make "$work/small100k" --photos 0 --videos 0 --small 100000
make "$work/big2g" --photos 800 --photo-mb 2 --videos 12 --video-mb 35

# run LABEL CMD...: best wall time of 3 runs (the catalog is reset before each
# by $reset, if set) and the peak RSS of the slowest.
run() {
    local label="$1"; shift
    local tf="$work/.time" best="" rss=0
    for _ in 1 2 3; do
        [ -z "${reset:-}" ] || rm -f $reset
        /usr/bin/time -o "$tf" -f '%e %M' "$@" >/dev/null
        read -r s m < <(tail -n1 "$tf")
        if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; fi
        [ "$m" -gt "$rss" ] && rss=$m
    done
    printf '%-44s %8.2f s  %7.1f MB RSS\n' "$label" "$best" "$(echo "$rss/1024" | bc -l)"
    last_s=$best
}
catall() { find "$1" -type f -print0 | xargs -0 cat; }
export -f catall
bytes() { du -sb --exclude=.done "$1" | cut -f1; }

echo "lomob scan figures — $(nproc) cores, $(date -u +%F)"
for ds in small20k small100k big2g; do
    catall "$work/$ds" >/dev/null # warm the page cache
done

rm -f "$work"/*.db*
reset="$work/s20k.db*" run "first scan, 20,000 small files" "$lomob" --db "$work/s20k.db" --no-progress scan "$work/small20k"
reset="$work/s100k.db*" run "first scan, 100,000 small files" "$lomob" --db "$work/s100k.db" --no-progress scan "$work/small100k"
reset="" run "rescan, 100,000 unchanged files" "$lomob" --db "$work/s100k.db" --no-progress scan "$work/small100k"
reset="" run "cat of the 100,000 small files" bash -c "catall '$work/small100k'"

b=$(bytes "$work/big2g")
reset="" run "cat of the 2 GB tree" bash -c "catall '$work/big2g'"
cat_s=$last_s
reset="" run "b3sum of the 2 GB tree (BLAKE3 ceiling)" bash -c "find '$work/big2g' -type f -print0 | xargs -0 b3sum"
b3_s=$last_s
reset="$work/big.db*" run "first scan, 2 GB tree" "$lomob" --db "$work/big.db" --no-progress scan "$work/big2g"
scan_s=$last_s
echo
printf 'big tree: %.2f GB; cat %.0f MB/s, lomob scan %.0f MB/s: %.2f x cat (target >= 0.8)\n' \
    "$(echo "$b/1000000000" | bc -l)" "$(echo "$b/1000000/$cat_s" | bc -l)" "$(echo "$b/1000000/$scan_s" | bc -l)" \
    "$(echo "$cat_s/$scan_s" | bc -l)"
printf 'b3sum (mmap, all cores) %.0f MB/s: lomob scan is %.2f x b3sum\n' \
    "$(echo "$b/1000000/$b3_s" | bc -l)" "$(echo "$b3_s/$scan_s" | bc -l)"
echo "targets: 20,000 first scan <= 1.5 s; 100,000 rescan <= 2 s; peak RSS <= 256 MB"
