#!/usr/bin/env bash
# Prints lomo-crypt's stream figures next to openssl's ChaCha20-Poly1305 in one
# run on this machine: 1 GiB encrypt and decrypt on one core and on all cores
# (best of seven alternating rounds), per-object cost.
# Targets (issues #5, #18): one core >= 1.5 GB/s and >= 0.35 x openssl;
# all cores on a 2-core machine >= 1.8 x one core.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release -q --manifest-path "$here/Cargo.toml" -p lomob-benches --bin crypt-figures
bin="${CARGO_TARGET_DIR:-$here/target}/release/crypt-figures"
echo "lomo-crypt figures — $(date -u +%F), $(nproc) cores"
out=$("$bin")
echo "$out" | grep -v '^ENC_GBPS'
eval "$(echo "$out" | grep '^ENC_GBPS')"
ossl=$(taskset -c 0 openssl speed -evp chacha20-poly1305 -bytes 65536 -seconds 3 2>/dev/null | awk '/^ChaCha20-Poly1305/ {sub(/k$/, "", $2); print $2 * 1000 / 1e9}')
printf 'openssl speed chacha20-poly1305, 64 KiB blocks, one core: %.2f GB/s\n' "$ossl"
printf 'lomob/openssl on one core: encrypt %.2f x, decrypt %.2f x (target >= 0.35 x, >= 1.5 GB/s)\n' \
    "$(echo "$ENC_GBPS/$ossl" | bc -l)" "$(echo "$DEC_GBPS/$ossl" | bc -l)"
printf 'all %d cores / one core: encrypt %.2f x, decrypt %.2f x (target >= 1.8 x on 2 cores)\n' \
    "$(nproc)" "$(echo "$ALL_ENC/$ENC_GBPS" | bc -l)" "$(echo "$ALL_DEC/$DEC_GBPS" | bc -l)"
echo "for comparison: the Go lomob encrypts at ~0.3 GB/s and spends ~40 ms of Argon2 per file"
