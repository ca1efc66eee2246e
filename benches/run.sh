#!/usr/bin/env bash
# Whole-process wall time and peak memory of `wardwall check` (also with
# 1,000 expectations),
# `wardwall build` (all four targets) and `wardwall diff --base` (config and
# exact traffic diff, 1% of rules changed) and `wardwall drift` (a device
# running the 1%-changed policy's rendering, on each of the four targets) on
# synthetic policies, pinned to one core: what a pre-commit hook or CI job
# sees.
#
#   benches/run.sh [SIZES...]        (default: 1000 10000 100000)
#   RUNS=5 CPU=0 benches/run.sh 10000
#
# Prints one line per command and size: median and min wall time over RUNS
# runs, and the largest peak RSS (GNU time's %M). Needs /usr/bin/time and
# taskset (util-linux) and git. Policies are generated with `wardwall-synth N 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
CPU=${CPU:-0}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 100000)

cargo build --release --quiet --bin wardwall --bin wardwall-synth
BIN=target/release/wardwall
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

measure() { # name size cmd...
    local name=$1 size=$2
    shift 2
    local times=() peak=0
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %M" -o "$WORK/time" taskset -c "$CPU" "$@" >/dev/null 2>&1 || {
            # exit 1 = findings (warnings with --deny-warnings, stale files):
            # still a complete run; anything else is a failure.
            local rc=$?
            [ "$rc" -eq 1 ] || { echo "$name $size: exit $rc" >&2; exit 1; }
        }
        # (GNU time writes "Command exited with non-zero status" first.)
        read -r wall kib < <(tail -n 1 "$WORK/time")
        times+=("$wall")
        [ "$kib" -gt "$peak" ] && peak=$kib
    done
    local sorted median min
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    median=$(echo "$sorted" | sed -n "$(((RUNS + 1) / 2))p")
    min=$(echo "$sorted" | head -1)
    printf '%-14s N=%-7s median %6.3f s  min %6.3f s  peak %6.1f MiB\n' \
        "$name" "$size" "$median" "$min" "$(echo "$peak / 1024" | bc -l)"
}

pfsense_backup() { # size fragment: a config.xml backup holding the fragment
    local ifs="" k
    for k in $(grep -o 'pfsense="[^"]*"' "$WORK/p$1.kdl" | cut -d'"' -f2 | sort -u); do
        ifs+=$'\t\t'"<$k>"$'\n\t\t\t<enable></enable>\n\t\t\t'"<if>vtnet_$k</if>"$'\n\t\t'"</$k>"$'\n'
    done
    printf '<?xml version="1.0"?>\n<pfsense>\n\t<version>22.2</version>\n\t<system>\n\t\t<ipv6allow></ipv6allow>\n\t</system>\n\t<interfaces>\n%s\t</interfaces>\n' "$ifs"
    sed '1,/^<pfsense>$/d' "$2"
}

echo "# $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; pinned to CPU $CPU; $RUNS runs"
echo "# wardwall $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for n in "${SIZES[@]}"; do
    target/release/wardwall-synth "$n" 1 >"$WORK/p$n.kdl"
    measure check "$n" "$BIN" check --date 2026-11-25 --color never "$WORK/p$n.kdl"
    measure build "$n" "$BIN" build --date 2026-11-25 --color never -o "$WORK/out$n" "$WORK/p$n.kdl"
    # check with 1,000 expectations (issue 15: under 1 s at N = 10,000),
    # each held exactly against the policy.
    target/release/wardwall-synth "$n" 1 --expectations 1000 >"$WORK/e$n.kdl"
    measure check-expect "$n" "$BIN" check --date 2026-11-25 --color never "$WORK/e$n.kdl"
    # diff --base: both versions compiled and rendered, the config diff and
    # the exact traffic diff, with 1% of the rules changed.
    repo=$WORK/repo$n
    mkdir -p "$repo"
    cp "$WORK/p$n.kdl" "$repo/policy.kdl"
    git -C "$repo" init -q
    git -C "$repo" add policy.kdl
    git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q -m base
    target/release/wardwall-synth "$n" 1 --changed $((n / 100)) >"$repo/policy.kdl"
    (cd "$repo" && measure diff "$n" "$ROOT/$BIN" diff --date 2026-11-25 --color never --base HEAD policy.kdl)
    # drift: the device runs the rendering of the 1%-changed policy and is
    # compared with the unchanged one (reading the export, the exact
    # comparison, and the baseline of the policy's own rendering).
    "$BIN" build --date 2026-11-25 --color never -o "$WORK/dev$n" "$repo/policy.kdl" >/dev/null
    measure drift-cisco "$n" "$BIN" drift --date 2026-11-25 --color never \
        --device "cisco=$WORK/dev$n/cisco/synthetic.ios" "$WORK/p$n.kdl"
    measure drift-panos "$n" "$BIN" drift --date 2026-11-25 --color never \
        --device "panos=$WORK/dev$n/panos/synthetic.xml" "$WORK/p$n.kdl"
    # pfSense reads a full config.xml backup: the rendered aliases and rules
    # (a restore fragment) inside a configuration whose interfaces are the
    # policy's pfSense bindings, enabled, with IPv6 allowed.
    pfsense_backup "$n" "$WORK/dev$n/pfsense/synthetic.xml" >"$WORK/dev$n/pfsense-backup.xml"
    measure drift-pfsense "$n" "$BIN" drift --date 2026-11-25 --color never \
        --device "pfsense=$WORK/dev$n/pfsense-backup.xml" "$WORK/p$n.kdl"
    # nftables is read as the kernel prints it: load the ruleset into a
    # scratch network namespace and dump it (needs root and nft).
    if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
        ns=wwbench$$
        ip netns add "$ns"
        ip netns exec "$ns" nft -f "$WORK/dev$n/nftables/synthetic.nft"
        ip netns exec "$ns" nft list ruleset >"$WORK/dev$n/ruleset.txt"
        # The JSON dump is one long line: its reader has its own costs.
        ip netns exec "$ns" nft -j list ruleset >"$WORK/dev$n/ruleset.json"
        ip netns del "$ns"
        measure drift-nftables "$n" "$BIN" drift --date 2026-11-25 --color never \
            --device "nftables=$WORK/dev$n/ruleset.txt" "$WORK/p$n.kdl"
        measure drift-nft-json "$n" "$BIN" drift --date 2026-11-25 --color never \
            --device "nftables=$WORK/dev$n/ruleset.json" "$WORK/p$n.kdl"
    else
        echo "drift-nftables N=$n: skipped (needs root and nft to dump a kernel ruleset)"
    fi
done
