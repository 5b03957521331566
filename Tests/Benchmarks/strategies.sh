#!/usr/bin/env bash
# Which strategy wins at equal budget? Runs REINFORCE, regularized evolution
# and random search with the same settings (the same number of children,
# ASHA, the same space and data) for several seeds each, then prints every
# run's best re-evaluated validation accuracy (the winner's accuracy on the
# re-evaluation split: up to 10,000 images no child trained or was rewarded
# on) and, per strategy, its mean, standard deviation and range.
#
# Each run is a search folder under OUT; running the script again continues
# the runs it did not finish and reuses the finished ones, so it can be
# split across sittings.
#
#   make release && Tests/Benchmarks/strategies.sh [NASC] [CHILDREN] [SEEDS] [OUT] [-- extra search flags]
#   e.g. Tests/Benchmarks/strategies.sh .build/release/nasc 60 "1 2 3" runs/strategies
set -u
nasc=${1:-.build/release/nasc} children=${2:-60} seeds=${3:-1 2 3} out=${4:-runs/strategies}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
mkdir -p "$out"
for strategy in reinforce evolution random; do
  for seed in $seeds; do
    run="$out/$strategy-$seed"
    if [ -n "$(sqlite3 "$run/trials.db" 'select 1 from reevaluations limit 1' 2>/dev/null)" ] && [ -f "$run/best.nasir" ]; then
      continue  # finished earlier
    fi
    echo "== $strategy, seed $seed: $run" >&2
    "$nasc" search --strategy "$strategy" --seed "$seed" --children "$children" --fidelity asha \
      --reevaluate 3 --out "$run" "${extra[@]}" > "$run.log" 2>&1 || { echo "search failed: see $run.log" >&2; exit 1; }
  done
done

echo "strategy   seed  children  trained images  best rung reward  best re-evaluated accuracy"
for strategy in reinforce evolution random; do
  for seed in $seeds; do
    db="$out/$strategy-$seed/trials.db"
    # A trial at rung r has trained min-budget * eta^r images in all,
    # continuing rung r-1's checkpoint, so it adds its budget minus the
    # previous rung's; a repeated child (train_s 0) adds nothing.
    read -r min eta < <(sqlite3 -separator ' ' "$db" "select json_extract(value, '$.min_budget'), json_extract(value, '$.eta') from settings where key = 'search'")
    sqlite3 -separator ' ' "$db" "
      select (select count(distinct hash) from trials where rung = 0 and status = 'ok'),
             (select sum(case when rung = 0 then ${min:-1000} else ${min:-1000} * (power(${eta:-3}, rung) - power(${eta:-3}, rung - 1)) end) from trials where status = 'ok' and train_s > 0),
             (select printf('%.4f', max(reward)) from trials where status = 'ok'),
             (select printf('%.4f', max(accuracy)) from reevaluations)" |
      while read -r n images reward acc; do
        printf "%-9s  %4s  %8s  %14.0f  %16s  %26s\n" "$strategy" "$seed" "$n" "$images" "$reward" "$acc"
        echo "$strategy $acc" >> "$out/.summary.$$"
      done
  done
done
echo
echo "strategy   runs  mean accuracy  std dev  min     max"
awk '{ n[$1]++; s[$1] += $2; q[$1] += $2 * $2; if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2; if ($2 > hi[$1]) hi[$1] = $2 }
     END { for (k in n) { m = s[k] / n[k]; v = n[k] > 1 ? (q[k] - n[k] * m * m) / (n[k] - 1) : 0; if (v < 0) v = 0
           printf "%-9s  %4d  %13.4f  %7.4f  %.4f  %.4f\n", k, n[k], m, sqrt(v), lo[k], hi[k] } }' "$out/.summary.$$" | sort
rm -f "$out/.summary.$$"
