#!/usr/bin/env bash
# Upload of one 1 GB file to moto (a local S3 server): lomob's multipart
# uploader vs `rclone copyto` (S3 provider Other) in one run, with MB/s and the
# requests moto logged for each. Needs moto_server and rclone (apt install rclone).
# Usage: benches/remote-figures.sh [SIZE_MB]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
size_mb="${1:-1024}"
cargo build --release -q --manifest-path "$here/Cargo.toml" -p lomob-benches --bin remote-figures
bin="${CARGO_TARGET_DIR:-$here/target}/release/remote-figures"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -u AWS_CA_BUNDLE moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port" >/dev/null && break; sleep 0.1; done
curl -s -X PUT "http://127.0.0.1:$port/bench" >/dev/null
head -c "${size_mb}M" /dev/urandom >"$work/data.bin"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
count() { grep -cE '"(PUT|POST|GET|HEAD|DELETE) ' "$work/moto.log" || true; }

echo "upload of ${size_mb} MiB to moto on 127.0.0.1 — $(date -u +%F), $(nproc) cores"
before=$(count)
"$bin" "http://127.0.0.1:$port" bench "$work/data.bin" $((32 << 20)) 4
echo "  moto saw $(( $(count) - before )) requests"

export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other \
    RCLONE_CONFIG_MOTO_ENDPOINT="http://127.0.0.1:$port" \
    RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=testing RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=testing
n=0
for opts in "" "--s3-chunk-size 32M --s3-upload-concurrency 4"; do
    n=$((n + 1))
    before=$(count)
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    env -u AWS_CA_BUNDLE rclone copyto $opts "$work/data.bin" moto:bench/rclone-$n.bin 2>"$work/rclone.log" || { cat "$work/rclone.log"; exit 1; }
    secs=$(echo "$(date +%s.%N) - $start" | bc -l)
    printf 'rclone copyto %s: %.2f s, %.0f MB/s; moto saw %d requests\n' \
        "${opts:-(defaults: 5 MiB chunks x 4)}" "$secs" "$(echo "$size_mb * 1048576 / $secs / 1000000" | bc -l)" \
        "$(( $(count) - before ))"
    grep -q "ERROR" "$work/rclone.log" && echo "  (rclone retried: $(grep -m1 -o 'Failed to copy: [^\n]*' "$work/rclone.log"))"
done
