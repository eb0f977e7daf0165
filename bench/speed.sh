#!/bin/bash
# stela against mkosi 25.3 on the same appliance, in one run, interleaved (issue 10):
# full build with a warm package cache, the same recipe again, one added package, power-on
# to `login:` with the same QEMU command line, usr image size. Prints each figure, the
# minimum over the rounds, and the ratio stela / mkosi.
#
#   bench/speed.sh [ROUNDS]     (default 2; needs ../shared/anchors/mkosi, run as root)
#
# Work files: /tmp/stela-bench (stela's cache and outputs), /tmp/mkosi-anchor (mkosi's).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
anchor=$(cd ../shared/anchors/mkosi && pwd)
work=${STELA_BENCH_WORK:-/tmp/stela-bench}
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup
cargo build --release --locked -q -p stela-cli
stela=$PWD/target/release/stela
"$anchor/run.sh" setup >/dev/null

mkdir -p "$work"
cache=$work/cache
keys=$work/keys
[ -f "$keys/db.key" ] || "$stela" keys init --common-name "stela bench" "$keys" >/dev/null
# The default recipe, and the same with one more package.
recipe=crates/stela-recipe/default-recipe.toml
plus=$work/plus-one.toml
sed 's/^packages = \[/packages = [\n    "less",/' "$recipe" >"$plus"
grep -q '"less"' "$plus" || { echo "speed: could not add a package to $recipe" >&2; exit 1; }
# The same with a unit that prints systemd-analyze once booted (bench/analyze): the
# per-phase report of the first boot. Only this recipe has it.
analyze=$work/analyze.toml
# Recipes name overlays relative to themselves.
overlay_rel=$(realpath --relative-to="$work" "$PWD/bench/analyze")
sed "s|^version = \(.*\)|version = \1\noverlay = [\"$overlay_rel\"]|" "$recipe" >"$analyze"
grep -q '^overlay' "$analyze" || { echo "speed: could not add the overlay to $recipe" >&2; exit 1; }

declare -A best
failed=()
note() {  # note NAME SECONDS: keep the minimum; an empty SECONDS is a failed run
    if [ -z "$2" ]; then
        printf '  %-28s   failed (not counted; see the log)\n' "$1"
        failed+=("$1 (round $r)")
        return
    fi
    local cur=${best[$1]:-}
    if [ -z "$cur" ] || [ "$(echo "$2 < $cur" | bc)" = 1 ]; then best[$1]=$2; fi
    printf '  %-28s %8.1f s\n' "$1" "$2"
}
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

stela_build() {  # stela_build RECIPE OUT [ARGS...]: seconds
    local s; s=$(now)
    "$stela" build "$1" --keys "$keys" --cache "$cache" --out "$2" --json "${@:3}" >"$2.json"
    since "$s"
}
mkosi_wall() {  # mkosi_wall LOG: the "== LABEL: N s wall" figure of run.sh's output
    sed -n 's/^== [^:]*: \([0-9.]*\) s wall$/\1/p' "$1" | tail -n1
}
boot_secs() {  # boot_secs IMAGE LOG
    "$anchor/boot.sh" "$1" "$2" 900 | sed -n 's/^login after \([0-9.]*\) s$/\1/p'
}

for r in $(seq 1 "$rounds"); do
    echo "== round $r"
    # Full build, package cache warm, no cached tree or initrd.
    rm -rf "$cache/rootfs" "$cache/initrd"
    # --force: the outputs of the previous round would otherwise be found up to date as
    # soon as the tree is rebuilt, and the rest of the build skipped.
    note "stela full (warm debs)" "$(stela_build "$recipe" "$work/out" --force)"
    cp "$work/out.json" "$work/full.json"
    "$anchor/run.sh" warm 1 >"$work/mkosi-warm.log" 2>&1
    note "mkosi full (warm debs)" "$(mkosi_wall "$work/mkosi-warm.log")"
    # The same recipe again.
    # --force: everything after the cached tree and initrd is done again, as mkosi
    # --incremental does; without it, stela finds its outputs up to date.
    note "stela again" "$(stela_build "$recipe" "$work/out" --force)"
    cp "$work/out.json" "$work/again.json"
    note "stela again, up to date" "$(stela_build "$recipe" "$work/out")"
    jq -e .up_to_date "$work/out.json" >/dev/null || { echo "speed: the second build was not up to date" >&2; exit 1; }
    if [ "$r" = 1 ]; then "$anchor/run.sh" incr 0 >"$work/mkosi-incr.log" 2>&1; fi
    "$anchor/run.sh" again 1 >"$work/mkosi-again.log" 2>&1
    note "mkosi again (--incremental)" "$(mkosi_wall "$work/mkosi-again.log")"
    # One package more than the cached recipe (stela only: its own full build is the
    # reference).
    note "stela plus one package" "$(stela_build "$plus" "$work/out-plus")"
    rm -rf "$work/out-plus" "$work/out-plus.json"
    # Power-on to login:, the same QEMU command line for both.
    image=$(find "$work/out" -maxdepth 1 -name '*.raw' | head -n1)
    note "stela boot to login:" "$(boot_secs "$image" "$work/boot-stela.log")"
    mimage=$(ls /tmp/mkosi-anchor/out/mkosi-anchor*.raw | head -n1)
    note "mkosi boot to login:" "$(boot_secs "$(readlink -f "$mimage")" "$work/boot-mkosi.log")"
done

# A figure with no successful run has no minimum: say so instead of printing a ratio.
for f in "stela full (warm debs)" "mkosi full (warm debs)" "stela again" "mkosi again (--incremental)" \
         "stela again, up to date" "stela plus one package" "stela boot to login:" "mkosi boot to login:"; do
    [ -n "${best[$f]:-}" ] || { echo "speed: no successful run of \"$f\"" >&2; exit 1; }
done
usr_stela=$(stat -c %s "$work/out/usr.erofs")
usr_mkosi=$(sgdisk -p "$(readlink -f "$mimage")" | awk '$7 ~ /usr/ && $7 !~ /verity/ {print $4 $5; exit}')
ratio() { echo "scale=3; $1 / $2" | bc; }
echo
echo "== minimum over $rounds rounds (stela / mkosi)"
printf '%-34s %8s %8s %6s\n' figure stela mkosi ratio
for f in "full (warm debs)" "again" "boot to login:"; do
    key_m="mkosi $f"; [ "$f" = again ] && key_m="mkosi again (--incremental)"
    printf '%-34s %8.1f %8.1f %6s\n' "$f" "${best[stela $f]}" "${best[$key_m]}" \
        "$(ratio "${best[stela $f]}" "${best[$key_m]}")"
done
printf '%-34s %8.1f %8.1f %6s\n' "again, outputs up to date" "${best[stela again, up to date]}" \
    "${best[mkosi again (--incremental)]}" \
    "$(ratio "${best[stela again, up to date]}" "${best[mkosi again (--incremental)]}")"
printf '%-34s %8.1f %8s %6s\n' "plus one package (of stela full)" "${best[stela plus one package]}" "-" \
    "$(ratio "${best[stela plus one package]}" "${best[stela full (warm debs)]}")"
[ "${#failed[@]}" -eq 0 ] || echo "failed runs, not counted: ${failed[*]}"
echo "usr image: stela $((usr_stela / 1048576)) MiB, mkosi partition $usr_mkosi (erofs inside is smaller)"
echo "stela per step (last full build):"
jq -r '.steps[] | "  \(.step) \(.seconds*10|floor/10) s"' "$work/full.json"
echo "stela peak memory (full build): $(( $(jq .peak_rss_kib "$work/full.json") / 1024 )) MiB"
echo "stela per step (last again --force):"
jq -r '.steps[] | "  \(.step) \(.seconds*10|floor/10) s\(if .cached then " (cached)" else "" end)"' "$work/again.json"

# First boot, per phase: the analyze recipe (the default plus a unit that prints
# systemd-analyze on the console once booted).
"$stela" build "$analyze" --keys "$keys" --cache "$cache" --out "$work/out-analyze" --json >/dev/null
aimage=$(find "$work/out-analyze" -maxdepth 1 -name '*.raw' | head -n1)
"$stela" qemu "$aimage" --until STELA-ANALYZE-END --timeout 900 >"$work/boot-analyze.log" 2>&1 || true
echo
echo "== first boot of the default image, systemd-analyze (TCG)"
sed -n '/STELA-ANALYZE-BEGIN/,/STELA-ANALYZE-END/p' "$work/boot-analyze.log" | grep -v STELA-ANALYZE | tr -d '\r'
rm -rf "$work/out-analyze"
