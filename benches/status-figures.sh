#!/usr/bin/env bash
# `lomob status` on a catalog of a million files (issue 21): time and peak
# RSS of `status --json` and of `status --prometheus`, three runs each.
# The catalog is made by `lomob` (schema, root, sites) and filled with
# Python's sqlite3: 1,000,000 live files in 1,000 folders, 200,000 staged
# on a Drive site, 800,000 in 160 archives on a cold S3 site, half of those
# also on a folder site, 10,000 deleted versions, a few checks.
# Target: under a second, peak RSS <= 256 MB.
# Usage: benches/status-figures.sh [FILES]   (default 1000000)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
cargo build --release -q --manifest-path "$here/Cargo.toml" --bin lomob
lomob="${CARGO_TARGET_DIR:-$here/target}/release/lomob"
work=$(mktemp -d "${TMPDIR:-/tmp}/lomob-status.XXXXXX")
trap 'rm -rf "$work"' EXIT
export LOMOB_PASSPHRASE=bench XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
L() { "$lomob" --db "$work/c.db" --config "$work/c.toml" --no-progress "$@"; }
mkdir -p "$work/Pictures" "$work/nas"
L site add drive "gdrive://lomorage" --role staging >/dev/null
L site add cold "s3://bucket?region=us-east-1&storage_class=DEEP_ARCHIVE" --role archive >/dev/null
L site add nas "file://$work/nas" --role archive >/dev/null
L scan "$work/Pictures" >/dev/null
t=$(date +%s.%N)
python3 - "$work/c.db" "$n" <<'PY'
import os, sqlite3, sys, random
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=OFF")
import time
now = int(time.time())
root = c.execute("SELECT id FROM roots").fetchone()[0]
c.executemany("INSERT INTO dirs (id, root_id, rel, mtime_ns, first_seen) VALUES (?,?,?,?,?)",
              ((d, root, f"{2000 + d // 50}/{d:04d}".encode(), 0, now - 400 * 86400) for d in range(10, 1010)))
rnd = random.Random(7)
c.executemany("INSERT INTO contents (id, hash, size, first_seen) VALUES (?,?,?,?)",
              ((i, rnd.randbytes(32), 2_000_000 + i % 5_000_000, now - 300 * 86400) for i in range(1, n + 1)))
c.executemany("INSERT INTO files (dir_id, name, kind, size, mtime_ns, mode, inode, dev, content_id, first_seen) VALUES (?,?,0,?,0,33188,?,1,?,?)",
              ((10 + i % 1000, f"IMG_{i:07d}.jpg".encode(), 2_000_000 + i % 5_000_000, i, i, now - (i % 300) * 86400) for i in range(1, n + 1)))
c.executemany("INSERT INTO files (dir_id, name, kind, size, mtime_ns, mode, inode, dev, content_id, first_seen, deleted_at) VALUES (?,?,0,1,0,33188,?,1,?,?,?)",
              ((10 + i % 1000, f"IMG_{i:07d}.jpg".encode(), n + i, i, now - 400 * 86400, now - 350 * 86400) for i in range(1, n // 100 + 1)))
archived = n * 4 // 5
per = max(1, archived // 160)
for a in range(1, 161):
    c.execute("INSERT INTO archives (id, name, size, files, blake3, created_at) VALUES (?,?,?,?,?,?)",
              (a, f"a{a:03d}.iso", 5_000_000_000, per, os.urandom(32), now - 200 * 86400))
    for site in (["cold", "nas"] if a % 2 else ["cold"]):
        c.execute("INSERT INTO archive_copies (archive_id, site, key, header, size, done_at) VALUES (?,?,?,?,?,?)",
                  (a, site, f"lomob/archives/a{a:03d}.iso.lomo", b"h", 5_000_100_000, now - 200 * 86400))
c.executemany("INSERT INTO archive_members (archive_id, content_id, path, offset) VALUES (?,?,?,?)",
              ((1 + (i - 1) // per if (i - 1) // per < 160 else 160, i, f"/p/{i}".encode(), i * 4096) for i in range(1, archived + 1)))
c.executemany("INSERT INTO staged (content_id, site, key, size, staged_at) VALUES (?,?,?,?,?)",
              ((i, "drive", f"lomob/staging/{i % 256:02x}/{i:016x}", 2_000_100, now - 3 * 86400) for i in range(archived + 1, n + 1)))
for kind, site in (("staging", "drive"), ("archives", "cold"), ("archives", "nas")):
    c.execute("INSERT INTO checks (kind, site, started_at, finished_at, checked, problems, report) VALUES (?,?,?,?,?,0,'')",
              (kind, site, now - 3600, now - 3000, 1000))
c.commit()
PY
printf 'catalog: %s files (%s MB) filled in %.0f s\n' "$n" "$(( $(stat -c %s "$work/c.db") / 1000000 ))" "$(echo "$(date +%s.%N) - $t" | bc -l)"
echo "lomob status on it — $(date -u +%F), $(nproc) cores"
run() {
    for i in 1 2 3; do
        t=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$work/rss" "$lomob" --db "$work/c.db" --config "$work/c.toml" --no-progress "$@" >"$work/out" || true
        printf '  %-34s run %d: %.2f s, peak RSS %d MB\n' "$*" "$i" "$(echo "$(date +%s.%N) - $t" | bc -l)" "$(( $(tail -1 "$work/rss") / 1024 ))"
    done
}
run --json status
run status --prometheus "$work/lomob.prom"
head -c 300 "$work/out"; echo " …"
echo "prometheus file: $(wc -l <"$work/lomob.prom") lines"
