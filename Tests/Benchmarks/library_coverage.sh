#!/usr/bin/env bash
# Does the kernel library cover children it was not built from? Samples
# children of the CNN space with `nasc sample` (other seeds than the
# library's own sample, every depth up to 24, with and without strides,
# pools after every 0 to 4 layers), compiles each one's training step cold
# (an empty cache folder) with the library and without it, and prints how
# many of its distinct kernels came from the library and both compile
# times, then the medians.
#
#   make release && Tests/Benchmarks/library_coverage.sh [NASC] [CHILDREN]
set -u
nasc=${1:-.build/release/nasc} count=${2:-40}
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cold() {  # the first compile's total milliseconds, from `nasc compile`'s report
  awk '/^ +total/ { print $2; exit }'
}
echo "seed  layers  pool  strides  distinct  from library  cold ms  no library ms"
for i in $(seq 0 $((count - 1))); do
  seed=$((1000 + i)) layers=$((1 + (i * 7) % 24)) pool=$((i % 5)) strides=""
  [ $((i % 3)) = 0 ] && strides=--strides
  "$nasc" sample --layers $layers --pool-every $pool $strides --seed $seed > "$work/child.nasir" || exit 1
  with=$(NASC_KERNEL_CACHE="$work/with-$i" "$nasc" compile "$work/child.nasir")
  without=$(NASC_KERNEL_CACHE="$work/without-$i" NASC_KERNEL_LIBRARY=off "$nasc" compile "$work/child.nasir")
  distinct=$(echo "$with" | head -1 | sed -E 's/.*\(([0-9]+) distinct\).*/\1/')
  linked=$(echo "$with" | head -1 | sed -E 's/.*, ([0-9]+) from the kernel library\).*/\1/')
  printf "%4d  %6d  %4d  %7s  %8d  %12d  %7s  %13s\n" $seed $layers $pool "${strides:+yes}" "$distinct" "$linked" \
    "$(echo "$with" | cold)" "$(echo "$without" | cold)"
  echo "$distinct $linked $(echo "$with" | cold) $(echo "$without" | cold)" >> "$work/rows"
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk '{ d += $1; l += $2 } END { printf "%d children: %d of %d distinct kernels from the library (%.1f%%); ", NR, l, d, 100 * l / d }' "$work/rows"
echo "median cold compile $(cut -d' ' -f3 "$work/rows" | median) ms with the library, $(cut -d' ' -f4 "$work/rows" | median) ms without"
