#!/usr/bin/env bash
# Behaviour unchanged? Compares two nasc builds on every valid spec: the IR
# after every stage (dump-ir --after verify|autodiff|train|optimize|fuse|plan)
# and the LLVM text of the forward graph and the training step (--emit llvm).
# Prints each difference and a count; exit status 1 if any differ.
#
#   git worktree add /tmp/base HEAD~3 && (cd /tmp/base && swift build)
#   Tests/Benchmarks/compare_builds.sh /tmp/base/.build/debug/nasc .build/debug/nasc
set -u
old=$1 new=$2 diffs=0 n=0
cd "$(dirname "$0")/../.."
for f in $(find ir-specs -name '*.nasir' | sort); do
  "$old" verify "$f" >/dev/null 2>&1 || continue   # specs the old build cannot read
  for stage in verify autodiff train optimize fuse plan; do
    n=$((n + 1))
    if ! cmp -s <("$old" dump-ir "$f" --after $stage 2>&1) <("$new" dump-ir "$f" --after $stage 2>&1); then
      echo "differs: $f after $stage"; diffs=$((diffs + 1))
    fi
  done
  for stage in verify train; do
    n=$((n + 1))
    if ! cmp -s <("$old" dump-ir "$f" --after $stage --emit llvm 2>&1) <("$new" dump-ir "$f" --after $stage --emit llvm 2>&1); then
      echo "differs: $f after $stage (LLVM)"; diffs=$((diffs + 1))
    fi
  done
done
echo "$n comparisons, $diffs differ"
[ $diffs -eq 0 ]
