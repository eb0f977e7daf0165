#!/bin/bash
# The agent's write of a release into a slot against dd of the same usr image to the
# same partition (issue 11: apply should reach at least 80 % of dd's throughput). Both
# run on the host, each on a fresh (sparse) copy of the default image's disk, one after
# the other in each round, with the page cache dropped before each and an fsync at the
# end of each:
# `stela update apply --disk` reads the usr target from a local TUF repository (zstd
# frames), checks its hash, decompresses and writes it (its `usr_seconds`); dd copies the
# build's uncompressed usr.erofs with `conv=fsync`. Prints each round, the minimum of
# each, and the throughput ratio apply / dd.
#
#   bench/apply.sh [ROUNDS]     (default 3; run as root)
#
# Work files: /tmp/stela-bench-apply (STELA_BENCH_WORK).
set -euo pipefail
cd "$(dirname "$0")/.."
{
rounds=${1:-3}
work=${STELA_BENCH_WORK:-/tmp/stela-bench-apply}
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup
cargo build --release --locked -q -p stela-cli
stela=$PWD/target/release/stela
mkdir -p "$work"
keys=$work/keys
[ -f "$keys/db.key" ] || "$stela" keys init --common-name "stela bench" "$keys" >/dev/null
recipe=crates/stela-recipe/default-recipe.toml
sed 's/^version = .*/version = "2"/' "$recipe" >"$work/v2.toml"
grep -q '^version = "2"' "$work/v2.toml" || { echo "apply: no version line in $recipe" >&2; exit 1; }
"$stela" build "$recipe" --keys "$keys" --out "$work/out1" --json >"$work/out1.json"
"$stela" build "$work/v2.toml" --keys "$keys" --out "$work/out2" --json >"$work/out2.json"
rm -rf "$work/repo" "$work/tuf-keys"
"$stela" repo init "$work/repo" --keys "$work/tuf-keys" >/dev/null
for out in "$work/out1" "$work/out2"; do
    "$stela" publish "$out" --repo "$work/repo" --keys "$work/tuf-keys" >/dev/null
done
image=$work/out1/$(jq -r .image "$work/out1/manifest.json")
label2=$(jq -r '.name + "_" + .version' "$work/out2/manifest.json")
disk=$work/disk.raw

now() { date +%s.%N; }
best_apply=""; best_dd=""
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
for r in $(seq 1 "$rounds"); do
    rm -f "$disk"
    cp --sparse=always "$image" "$disk"
    sync; echo 3 >/proc/sys/vm/drop_caches
    "$stela" update apply --disk "$disk" --repo "$work/repo" \
        --root "$work/repo/metadata/1.root.json" --json >"$work/apply.json"
    apply=$(jq .usr_seconds "$work/apply.json")
    bytes=$(jq .usr_bytes "$work/apply.json")
    # Slot B's usr partition, now labelled with v2: its first sector.
    first=$(sgdisk -p "$disk" | awk -v l="$label2" '$NF == l {print $2; exit}')
    [ -n "$first" ] || { echo "apply: no partition $label2 on $disk" >&2; exit 1; }
    # dd on a fresh copy too: the sparse file's blocks there are not allocated yet, as
    # they were not for apply (writing over the blocks apply allocated is faster).
    rm -f "$disk"
    cp --sparse=always "$image" "$disk"
    sync; echo 3 >/proc/sys/vm/drop_caches
    s=$(now)
    dd if="$work/out2/usr.erofs" of="$disk" bs=4M seek=$((first * 512)) oflag=seek_bytes \
        conv=notrunc,fsync status=none
    dd_secs=$(echo "$(now) - $s" | bc)
    printf 'round %s: apply %.2f s, dd %.2f s for %s MiB\n' "$r" "$apply" "$dd_secs" $((bytes >> 20))
    best_apply=$(min "$best_apply" "$apply")
    best_dd=$(min "$best_dd" "$dd_secs")
done
mib=$(echo "scale=1; $bytes / 1048576" | bc)
printf '\n== minimum over %s rounds, %s MiB of usr\n' "$rounds" "$mib"
printf 'apply %.2f s (%.0f MiB/s), dd %.2f s (%.0f MiB/s), throughput apply / dd %s\n' \
    "$best_apply" "$(echo "$mib / $best_apply" | bc -l)" "$best_dd" "$(echo "$mib / $best_dd" | bc -l)" \
    "$(echo "scale=2; $best_dd / $best_apply" | bc)"
exit 0
}
