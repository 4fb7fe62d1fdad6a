#!/usr/bin/env bash
# Prints lomo-iso's image-writing figures in one run on this machine (warm
# cache, best of 3): into a pipe next to genisoimage and xorriso, into a file
# next to `cat` of the same files into one file, and lomob's peak RSS.
# Targets (issue #4): at least genisoimage's speed into a pipe, >= 0.9 x cat
# into a file, peak RSS <= 64 MB. Usage: benches/iso-figures.sh [WORKDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-${TMPDIR:-/tmp}/lomob-iso-bench}"
mkds="${LOMOB_MKDATASET:-$here/../shared/tools/mkdataset.py}"
mkdir -p "$work"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"
tree="$work/big2g"
[ -e "$tree/.done" ] || { rm -rf "$tree"; python3 "$mkds" "$tree" --photos 800 --photo-mb 2 --videos 12 --video-mb 35; touch "$tree/.done"; }
rm -f "$tree/.done.keep"
bytes=$(du -sb "$tree" | cut -f1)
find "$tree" -type f -print0 | xargs -0 cat >/dev/null # warm the page cache

best() { # LABEL CMD: best wall time of 3 and peak RSS (KB) of the runs
    local label="$1" cmd="$2" tf="$work/.time" b="" rss=0
    for _ in 1 2 3; do
        rm -f "$work"/out.iso "$work"/cat.out
        /usr/bin/time -o "$tf" -f '%e %M' bash -c "$cmd" >/dev/null 2>&1
        read -r s m < <(tail -n1 "$tf")
        if [ -z "$b" ] || [ "$(echo "$s < $b" | bc -l)" = 1 ]; then b=$s; fi
        [ "$m" -gt "$rss" ] && rss=$m
    done
    printf '%-42s %6.2f s  %7.0f MB/s  peak RSS %5.1f MB\n' "$label" "$b" "$(echo "$bytes/1000000/$b" | bc -l)" "$(echo "$rss/1024" | bc -l)"
    last=$b
}

echo "ISO figures — $(nproc) cores, $(date -u +%F), tree $(echo "$bytes/1000000000" | bc -l | cut -c1-4) GB"
best "lomob iso build | cat >/dev/null" "'$lomob' --no-progress iso build '$tree' -o - | cat >/dev/null"; lp=$last
best "genisoimage -R -J ... | cat >/dev/null" "genisoimage -quiet -R -J -joliet-long -iso-level 3 '$tree' | cat >/dev/null"; gp=$last
best "xorriso -as mkisofs ... | cat >/dev/null" "xorriso -as mkisofs -quiet -R -J -joliet-long -iso-level 3 -o - '$tree' | cat >/dev/null"; xp=$last
best "lomob iso build -o FILE" "'$lomob' --no-progress iso build '$tree' -o '$work/out.iso'"; lf=$last
best "cat of the files > FILE" "find '$tree' -type f -print0 | xargs -0 cat > '$work/cat.out'"; cf=$last
# lomob fsyncs the image before moving it into place (it must be on disk before
# the catalog records it); the fair yardstick does the same
best "cat of the files > FILE && sync FILE" "find '$tree' -type f -print0 | xargs -0 cat > '$work/cat.out' && sync '$work/cat.out'"; cfs=$last
rm -f "$work"/out.iso "$work"/cat.out
echo
printf 'into a pipe: lomob is %.2f x genisoimage, %.2f x xorriso (target >= 1.0 x genisoimage)\n' "$(echo "$gp/$lp" | bc -l)" "$(echo "$xp/$lp" | bc -l)"
printf 'into a file: lomob is %.2f x cat, %.2f x cat followed by fsync (target >= 0.9)\n' "$(echo "$cf/$lf" | bc -l)" "$(echo "$cfs/$lf" | bc -l)"
echo "for comparison: the Go lomob builds ISOs at about 0.2 x cat (temp copy, mkisofs, re-read to hash)"
