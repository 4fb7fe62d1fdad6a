#!/usr/bin/env bash
# lomob against a three-node Garage cluster on 127.0.0.1 (replication 3; the
# cluster the tests use, started by benches' garage-cluster), next to rclone
# in one run: `lomob backup` of a tree vs `rclone copy` of the same files,
# and `lomob restore /` vs `rclone copy` back; MB/s and requests for each
# (lomob's from its request ledger; rclone's counted from `--dump headers`
# in a second, untimed run). Warm cache; lomob encrypts, rclone does not.
# Needs garage (scripts/test builds it) and rclone (apt install rclone).
# Usage: benches/garage-figures.sh [GB] [PACK]   (defaults 2 and 500MB)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
gb="${1:-2}"
pack="${2:-500MB}"
export PATH="$PATH:${LOMOB_TOOLS_DIR:-$HOME/.cache/lomob/tools}/garage-2.5.0/bin"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob --bin garage-cluster
bin="${CARGO_TARGET_DIR:-$here/target}/release"
work=$(mktemp -d "${TMPDIR:-/tmp}/lomob-garage.XXXXXX")
mkfifo "$work/hold"
"$bin/garage-cluster" family plain <"$work/hold" >"$work/cluster" 2>"$work/cluster.err" &
cluster=$!
exec 3>"$work/hold"
trap 'exec 3>&-; wait $cluster 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do grep -q READY "$work/cluster" 2>/dev/null && break; sleep 0.1; done
grep -q READY "$work/cluster" || { cat "$work/cluster.err"; exit 1; }
# shellcheck disable=SC1090
. <(grep '=' "$work/cluster")
mkds="${LOMOB_MKDATASET:-$here/../shared/tools/mkdataset.py}"
python3 "$mkds" "$work/Pictures" --photos $((gb * 100)) --photo-mb 4 --videos $((gb * 3)) --video-mb 200 --small 200 >/dev/null
bytes=$(du -sb "$work/Pictures" | cut -f1)
files=$(find "$work/Pictures" -type f | wc -l)
find "$work/Pictures" -type f -print0 | xargs -0 cat >/dev/null
echo "$(numfmt --to=si "$bytes")B ($files files) to a 3-node Garage cluster on 127.0.0.1 — $(date -u +%F), $(nproc) cores"
secs() { echo "$(date +%s.%N) - $1" | bc -l; }
mbs() { echo "$bytes / $1 / 1000000" | bc -l; }

export RCLONE_CONFIG_G_TYPE=s3 RCLONE_CONFIG_G_PROVIDER=Other RCLONE_CONFIG_G_ENDPOINT="$ENDPOINT" \
    RCLONE_CONFIG_G_REGION="$REGION" RCLONE_CONFIG_G_ACCESS_KEY_ID="$KEY_ID" \
    RCLONE_CONFIG_G_SECRET_ACCESS_KEY="$SECRET"
rc() { env -u AWS_CA_BUNDLE rclone "$@" 2>>"$work/rclone.log" || { tail "$work/rclone.log"; exit 1; }; }
requests() { env -u AWS_CA_BUNDLE rclone "$@" -vv --dump headers 2>&1 | grep -c 'HTTP REQUEST'; }
t=$(date +%s.%N); rc copy "$work/Pictures" g:plain/Pictures; rc_up=$(secs "$t")
t=$(date +%s.%N); rc copy g:plain/Pictures "$work/rclone-back"; rc_down=$(secs "$t")
rc_up_n=$(requests copy "$work/Pictures" g:plain/again)
rc_down_n=$(requests copy g:plain/again "$work/rclone-again")

export LOMOB_PASSPHRASE=bench XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
export AWS_ACCESS_KEY_ID="$KEY_ID" AWS_SECRET_ACCESS_KEY="$SECRET"
mkdir -p "$work/config/lomob"
printf '[[site]]\nname = "family"\nurl = "s3://family/lomob?endpoint=%s&region=%s"\nrole = "both"\n' \
    "$ENDPOINT" "$REGION" >"$work/config/lomob/config.toml"
L() { (cd "$work" && "$bin/lomob" --db "$work/lomob.db" --no-progress "$@"); }
L key init >/dev/null 2>&1
ledger() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COALESCE(SUM(class_a+class_b+free),0) FROM request_ledger").fetchone()[0])' "$work/lomob.db"
}
t=$(date +%s.%N); L backup "$work/Pictures" --pack-size "$pack" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
up=$(secs "$t"); up_n=$(ledger)
t=$(date +%s.%N); L restore / --to "$work/back" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
down=$(secs "$t"); down_n=$(( $(ledger) - up_n ))
# Every file back, byte for byte (lomob keeps files, not empty folders).
same() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
diff <(same "$work/Pictures") <(same "$work/back/Pictures") >/dev/null || { echo "restore differs"; exit 1; }

printf 'backup:  lomob %6.2f s %5.0f MB/s %5d requests | rclone copy %6.2f s %5.0f MB/s %5d requests | %.2fx\n' \
    "$up" "$(mbs "$up")" "$up_n" "$rc_up" "$(mbs "$rc_up")" "$rc_up_n" "$(echo "$rc_up / $up" | bc -l)"
printf 'restore: lomob %6.2f s %5.0f MB/s %5d requests | rclone copy %6.2f s %5.0f MB/s %5d requests | %.2fx\n' \
    "$down" "$(mbs "$down")" "$down_n" "$rc_down" "$(mbs "$rc_down")" "$rc_down_n" "$(echo "$rc_down / $down" | bc -l)"
