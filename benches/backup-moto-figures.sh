#!/usr/bin/env bash
# The whole `lomob backup` job against moto (a local S3 server): one bucket
# as a site for both roles, a second as an archive site in DEEP_ARCHIVE, next
# to `rclone copy` of the plain files to moto, in one run; with lomob's peak
# RSS and the PUT-class requests it spent (from its own request ledger),
# scaled to 5 GB of archive. Targets (issue 8): not slower than rclone, peak
# RSS <= 256 MB, <= 100 PUT-class requests per 5 GB of archive.
# Needs moto_server and rclone (apt install rclone).
# rclone copies the files to both buckets, as lomob sends archives to both;
# SITES=1 compares one site (both roles) with one rclone copy instead.
# Usage: benches/backup-moto-figures.sh [GB] [PACK]   (defaults 1 and 256MB;
# tree from mkdataset.py; 6 5G measures a real 5 GB image, moto holding ~12 GB)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
gb="${1:-1}"
pack="${2:-256MB}"
sites="${SITES:-2}"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"
work=$(mktemp -d "${TMPDIR:-/tmp}/lomob-bench.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -u AWS_CA_BUNDLE moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port" >/dev/null && break; sleep 0.1; done
for b in hot cold plain1 plain2; do curl -s -X PUT "http://127.0.0.1:$port/$b" >/dev/null; done
mkds="${LOMOB_MKDATASET:-$here/../shared/tools/mkdataset.py}"
python3 "$mkds" "$work/Pictures" --photos $((gb * 100)) --photo-mb 4 --videos $((gb * 3)) --video-mb 200 --small 200 >/dev/null
bytes=$(du -sb "$work/Pictures" | cut -f1)
files=$(find "$work/Pictures" -type f | wc -l)
find "$work/Pictures" -type f -print0 | xargs -0 cat >/dev/null   # warm the cache
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
echo "backup of $(numfmt --to=si "$bytes")B ($files files) to moto on 127.0.0.1 — $(date -u +%F), $(nproc) cores"

export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other \
    RCLONE_CONFIG_MOTO_ENDPOINT="http://127.0.0.1:$port" \
    RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=testing RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=testing
start=$(date +%s.%N)
buckets="plain1 plain2"; [ "$sites" = 1 ] && buckets="plain1"
for b in $buckets; do
    env -u AWS_CA_BUNDLE rclone copy "$work/Pictures" "moto:$b/Pictures" 2>"$work/rclone.log" || { cat "$work/rclone.log"; exit 1; }
done
rclone_s=$(echo "$(date +%s.%N) - $start" | bc -l)
printf 'rclone copy of the plain files to %s bucket(s) (defaults): %.2f s, %.0f MB/s of files\n' "$sites" "$rclone_s" "$(echo "$bytes / $rclone_s / 1000000" | bc -l)"

export LOMOB_PASSPHRASE=bench XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
mkdir -p "$work/config/lomob"
ep="region=us-east-1&endpoint=http://127.0.0.1:$port"
cat >"$work/config/lomob/config.toml" <<TOML
[[site]]
name = "hot"
url = "s3://hot/lomob?$ep"
role = "both"
TOML
[ "$sites" = 1 ] || cat >>"$work/config/lomob/config.toml" <<TOML

[[site]]
name = "cold"
url = "s3://cold/lomob?$ep"
role = "archive"
storage_class = "DEEP_ARCHIVE"
TOML
(cd "$work" && "$lomob" --db "$work/lomob.db" key init >/dev/null 2>&1)
start=$(date +%s.%N)
(cd "$work" && /usr/bin/time -f "%M" -o "$work/rss" "$lomob" --db "$work/lomob.db" --no-progress --json backup "$work/Pictures" --pack-size "$pack" >"$work/out.json" 2>"$work/err.log") \
    || { cat "$work/err.log"; exit 1; }
lomob_s=$(echo "$(date +%s.%N) - $start" | bc -l)
archived=$(python3 -c 'import json,sys; print(sum(json.loads(l).get("bytes", 0) for l in open(sys.argv[1]) if "packed" in l))' "$work/out.json")
read -r puts_hot puts_cold < <(python3 - "$work/lomob.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
q = lambda s: c.execute("SELECT COALESCE(SUM(class_a), 0) FROM request_ledger WHERE site = ?", (s,)).fetchone()[0]
print(q("hot"), q("cold"))
PY
)
printf 'lomob backup (%s images to %s archive site(s), the rest staged to hot, snapshots): %.2f s, %.0f MB/s of files = %.2f x rclone; peak RSS %d MB\n' \
    "$pack" "$sites" "$lomob_s" "$(echo "$bytes / $lomob_s / 1000000" | bc -l)" "$(echo "$rclone_s / $lomob_s" | bc -l)" "$(( $(cat "$work/rss") / 1024 ))"
printf '  archive copies sent: %s; PUT-class requests: hot %d (archives + staging + snapshot), cold %d (archives + snapshot)\n' \
    "$(numfmt --to=si "$archived")B" "$puts_hot" "$puts_cold"
if [ "$archived" -gt 0 ] && [ "$sites" != 1 ]; then
    printf '  cold site: %.0f PUT-class requests per 5 GB of archive\n' "$(echo "$puts_cold * 5000000000 / ($archived / 2)" | bc -l)"
fi
