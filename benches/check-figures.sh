#!/usr/bin/env bash
# What `lomob check --archives` proves and costs, and parity, in one run:
#  - a folder site: every archive read back and each chunk's tag checked,
#    next to `cat` of the same archive files (warm cache both);
#  - a cold S3 site (moto, DEEP_ARCHIVE): the requests and bytes the check
#    costs (no archive byte is read);
#  - 5 % parity on a ~1 GB archive: its size, the time it adds to the
#    backup, and the time `lomob repair` takes to rebuild damaged chunks.
# Targets (issue 20): check >= 0.8 x cat; 0 archive bytes from a cold tier.
# Usage: benches/check-figures.sh [GB]   (default 2)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
gb="${1:-2}"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"
work=$(mktemp -d "${TMPDIR:-/tmp}/lomob-check.XXXXXX")
trap 'rm -rf "$work"; [ -n "${moto:-}" ] && kill "$moto" 2>/dev/null || true' EXIT
mkds="${LOMOB_MKDATASET:-$here/../shared/tools/mkdataset.py}"
python3 "$mkds" "$work/Pictures" --photos $((gb * 100)) --photo-mb 4 --videos $((gb * 3)) --video-mb 200 --small 100 >/dev/null
export LOMOB_PASSPHRASE=bench XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
secs() { echo "$(date +%s.%N) - $1" | bc -l; }
L() { "$lomob" --db "$work/$1.db" --config "$work/$1.toml" --no-progress "${@:2}"; }

# --- a folder site, read back whole -------------------------------------------
L usb site add usb "file://$work/usb" --role archive >/dev/null
L usb backup "$work/Pictures" --pack-size 500MB >/dev/null 2>&1
printf '\n[schedule]\narchive_verify = "0s"\n' >>"$work/usb.toml"
arch=$(du -sb "$work/usb/lomob/archives" | cut -f1)
n=$(find "$work/usb/lomob/archives" -type f | wc -l)
echo "check --archives of $n archives, $(numfmt --to=si "$arch")B on a folder site — $(date -u +%F), $(nproc) cores"
cat "$work/usb/lomob/archives"/* >/dev/null
t=$(date +%s.%N); cat "$work/usb/lomob/archives"/* >/dev/null; cat_s=$(secs "$t")
printf 'cat of the archives: %.2f s, %.0f MB/s\n' "$cat_s" "$(echo "$arch / $cat_s / 1000000" | bc -l)"
t=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$lomob" --db "$work/usb.db" --config "$work/usb.toml" --no-progress check --archives >/dev/null
check_s=$(secs "$t")
printf 'lomob check --archives (every chunk authenticated, key unlock included), warm cache: %.2f s, %.0f MB/s = %.2f x cat; peak RSS %d MB\n' \
    "$check_s" "$(echo "$arch / $check_s / 1000000" | bc -l)" "$(echo "$cat_s / $check_s" | bc -l)" "$(( $(cat "$work/rss") / 1024 ))"
# From the disk (page cache dropped before each), where we are allowed to.
if sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    t=$(date +%s.%N); cat "$work/usb/lomob/archives"/* >/dev/null; ccat_s=$(secs "$t")
    sync; echo 3 >/proc/sys/vm/drop_caches
    t=$(date +%s.%N); L usb check --archives >/dev/null; ccheck_s=$(secs "$t")
    printf 'cold cache (from the disk): cat %.2f s (%.0f MB/s), lomob check %.2f s (%.0f MB/s) = %.2f x cat\n' \
        "$ccat_s" "$(echo "$arch / $ccat_s / 1000000" | bc -l)" "$ccheck_s" "$(echo "$arch / $ccheck_s / 1000000" | bc -l)" "$(echo "$ccat_s / $ccheck_s" | bc -l)"
fi

# --- a cold S3 site: metadata only ----------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 & moto=$!
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port" >/dev/null && break; sleep 0.2; done
curl -s -X PUT "http://127.0.0.1:$port/cold" >/dev/null
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
L s3 site add cold "s3://cold/p?region=us-east-1&endpoint=http://127.0.0.1:$port" --role archive --storage-class DEEP_ARCHIVE >/dev/null
python3 "$mkds" "$work/Small" --photos 60 --photo-mb 1 --videos 0 --small 20 >/dev/null
L s3 backup "$work/Small" --pack-size 5MB >/dev/null 2>&1
ledger() {
    python3 - "$work/s3.db" <<'PY'
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute(
    "SELECT coalesce(sum(class_a),0), coalesce(sum(class_b),0), coalesce(sum(bytes_received),0) FROM request_ledger WHERE site='cold'"
).fetchone()
print(*r)
PY
}
read -r a0 b0 r0 < <(ledger)
L s3 check --archives >/dev/null
read -r a1 b1 r1 < <(ledger)
narch=$(L s3 --json iso list | wc -l)
echo "check --archives of $narch archives on a DEEP_ARCHIVE site: $((a1 - a0)) LIST-class + $((b1 - b0)) HEAD-class requests, $((r1 - r0)) bytes received (no archive byte read)"

# --- 5 % parity on a ~1 GB archive ---------------------------------------------
python3 "$mkds" "$work/Big" --photos 50 --photo-mb 4 --videos 4 --video-mb 200 --small 0 >/dev/null
for s in plain par; do
    extra=(); [ "$s" = par ] && extra=(--parity 5%)
    L "$s" site add usb "file://$work/$s-usb" --role archive "${extra[@]}" >/dev/null
    t=$(date +%s.%N); L "$s" backup "$work/Big" --pack-size 1GB >/dev/null 2>&1; eval "${s}_s=$(secs "$t")"
done
obj=$(find "$work/par-usb/lomob/archives" -name '*.lomo' | head -1)
osize=$(stat -c %s "$obj"); psize=$(stat -c %s "$obj.par")
printf '5%% parity on a %s archive: %s of parity (%.1f %%); backup %.1f s with parity, %.1f s without (+%.1f s to read it back and encode)\n' \
    "$(numfmt --to=si "$osize")B" "$(numfmt --to=si "$psize")B" "$(echo "100 * $psize / $osize" | bc -l)" "$par_s" "$plain_s" "$(echo "$par_s - $plain_s" | bc -l)"
printf '\n[schedule]\narchive_verify = "0s"\n' >>"$work/par.toml"
python3 - "$obj" <<'PY'
import os, sys
p = sys.argv[1]; n = os.path.getsize(p)
with open(p, "r+b") as f:
    for i in range(1, 41):              # 40 damaged chunks, spread out
        f.seek(n * i // 42); b = f.read(1); f.seek(n * i // 42); f.write(bytes([b[0] ^ 1]))
PY
rm -rf "$work/Big"
t=$(date +%s.%N); L par repair >/dev/null; rep_s=$(secs "$t")
printf 'lomob repair from parity alone (40 damaged chunks, the files gone): %.1f s, check included\n' "$rep_s"
L par check --archives >/dev/null && echo "check after the repair: all authentic"
