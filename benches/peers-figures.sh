#!/usr/bin/env bash
# lomob next to restic and rclone (plain and crypt) in one run, on the same
# generated tree: backup, full restore and the restore of one photo, to and
# from a local folder and moto (S3 on 127.0.0.1). Prints time, MB/s, peak
# RSS and, on moto, the requests each tool made (counted in moto's request
# log). Warm cache. Installs restic and rclone (Debian's) when missing.
# Targets (issue #18): full restore >= 1.0x restic and >= 0.8x rclone copy
# back; peak RSS <= 256 MB; one photo <= 3 requests.
# Usage: benches/peers-figures.sh [GB] [PACK]   (defaults 1 and 500MB)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
gb="${1:-1}"
pack="${2:-500MB}"
if ! command -v restic >/dev/null || ! command -v rclone >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -q restic rclone >/dev/null
fi
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"
work=$(mktemp -d "${TMPDIR:-/tmp}/lomob-peers.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
mkds="${LOMOB_MKDATASET:-$here/../shared/tools/mkdataset.py}"
python3 "$mkds" "$work/Pictures" --photos $((gb * 100)) --photo-mb 4 --videos $((gb * 3)) --video-mb 200 --small 200 >/dev/null
bytes=$(du -sb "$work/Pictures" | cut -f1)
photo=$(cd "$work" && find Pictures -name '*.jpg' -size +3M | sort | head -1)
find "$work/Pictures" -type f -print0 | xargs -0 cat >/dev/null
for _ in $(seq 100); do grep -q "Running on" "$work/moto.log" && break; sleep 0.1; done
endpoint="http://127.0.0.1:$port"
python3 - "$endpoint" <<'EOF'
import sys, boto3
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
for b in ["lomob", "restic", "rclone", "rclone-crypt"]:
    c.create_bucket(Bucket=b)
EOF
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export RESTIC_PASSWORD=bench LOMOB_PASSPHRASE=bench
export RCLONE_CONFIG_LOC_TYPE=local
export RCLONE_CONFIG_M_TYPE=s3 RCLONE_CONFIG_M_PROVIDER=Other RCLONE_CONFIG_M_ENDPOINT="$endpoint" \
    RCLONE_CONFIG_M_ACCESS_KEY_ID=test RCLONE_CONFIG_M_SECRET_ACCESS_KEY=test RCLONE_CONFIG_M_REGION=us-east-1
obscured=$(rclone obscure bench)
export RCLONE_CONFIG_CF_TYPE=crypt RCLONE_CONFIG_CF_REMOTE="loc:$work/rclone-crypt" RCLONE_CONFIG_CF_PASSWORD="$obscured"
export RCLONE_CONFIG_CM_TYPE=crypt RCLONE_CONFIG_CM_REMOTE="m:rclone-crypt" RCLONE_CONFIG_CM_PASSWORD="$obscured"
echo "$(numfmt --to=si "$bytes")B ($(find "$work/Pictures" -type f | wc -l) files), one photo $photo — $(date -u +%F), $(nproc) cores"
printf '%-7s %-13s %-8s %8s %7s %7s %9s\n' where tool what seconds MB/s RSS_MB requests

# run WHERE TOOL WHAT SIZE CMD...: times CMD, prints one line (requests
# from moto's log when WHERE is moto).
run() {
    local where=$1 tool=$2 what=$3 size=$4; shift 4
    local before; before=$(grep -c '" [0-9][0-9][0-9] ' "$work/moto.log" || true)
    env -u AWS_CA_BUNDLE /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
    local s kb n=-
    read -r s kb <"$work/time"
    [ "$where" = moto ] && n=$(( $(grep -c '" [0-9][0-9][0-9] ' "$work/moto.log" || true) - before ))
    printf '%-7s %-13s %-8s %8.2f %7.0f %7.0f %9s\n' "$where" "$tool" "$what" "$s" \
        "$(echo "$size / $s / 1000000" | bc -l)" "$(echo "$kb / 1024" | bc -l)" "$n"
}
one=$(stat -c %s "$work/Pictures/${photo#Pictures/}")

for where in folder moto; do
    export XDG_DATA_HOME="$work/$where/data" XDG_CONFIG_HOME="$work/$where/config"
    case $where in
        folder) url="file://$work/lomob-site"; repo="$work/restic-repo"; plain=""; crypt=cf: ;;
        moto) url="s3://lomob/home?region=us-east-1&endpoint=$endpoint"; repo="s3:$endpoint/restic"; plain=m:rclone/; crypt=cm: ;;
    esac
    mkdir -p "$work/lomob-site"
    L=("$lomob" --db "$work/$where.db" --no-progress)
    "${L[@]}" site add "$where" "$url" --role both >/dev/null
    "${L[@]}" key init >/dev/null 2>&1
    run "$where" lomob backup "$bytes" "${L[@]}" backup "$work/Pictures" --pack-size "$pack"
    run "$where" lomob restore "$bytes" "${L[@]}" restore / --to "$work/back-lomob-$where"
    run "$where" lomob "1 photo" "$one" "${L[@]}" restore "$photo" --to "$work/one-lomob-$where"
    restic -q -r "$repo" init >/dev/null
    run "$where" restic backup "$bytes" restic -q -r "$repo" backup "$work/Pictures"
    run "$where" restic restore "$bytes" restic -q -r "$repo" restore latest --target "$work/back-restic-$where"
    run "$where" restic "1 photo" "$one" restic -q -r "$repo" restore latest --target "$work/one-restic-$where" --include "$work/$photo"
    if [ -n "$plain" ]; then
        run "$where" "rclone" backup "$bytes" rclone copy "$work/Pictures" "${plain}Pictures"
        run "$where" "rclone" restore "$bytes" rclone copy "${plain}Pictures" "$work/back-rclone-$where"
    fi
    run "$where" "rclone crypt" backup "$bytes" rclone copy "$work/Pictures" "${crypt}Pictures"
    run "$where" "rclone crypt" restore "$bytes" rclone copy "${crypt}Pictures" "$work/back-rcrypt-$where"
    run "$where" "rclone crypt" "1 photo" "$one" rclone copyto "${crypt}$photo" "$work/one-rcrypt-$where.jpg"
done
# Every file of lomob's restores back, byte for byte.
same() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
for where in folder moto; do
    diff <(same "$work/Pictures") <(same "$work/back-lomob-$where/Pictures") >/dev/null || { echo "lomob's $where restore differs"; exit 1; }
done
echo "lomob's restores are byte-identical"
