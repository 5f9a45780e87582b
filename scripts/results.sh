#!/usr/bin/env bash
# The long runs behind docs/results/ (issues 15 and 16), in the order they depend on each
# other, as two lanes of one thread each (run `lane1` and `lane2` at once on a 2-core
# machine). Every step stores each result as it finishes and skips what is stored: rerun the
# same lanes after an interruption (a session's end, Ctrl-C, a crash) and they go on.
#
#   bash scripts/results.sh lane1 > lane1.log 2>&1 &
#   bash scripts/results.sh lane2 > lane2.log 2>&1 &
#   bash scripts/results.sh analyze      # tables and plots from whatever is stored
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
NAMED="Opt1 Opt2 Opt3 Opt4 Opt5 Opt6 Opt7 Opt8 Opt9 Opt10 A1 A2 A3 A4 A5 LR1 LR2 LR3 LR4 LR5 LR6
LR7 LR8 LR9 SGD Momentum Nesterov QHM RMSProp PowerSign-ld AddSign-ld"
PV=docs/results/proxy-validity

case "${1:-}" in
  lane1)
    # the paper's finds on the validation suite (issue 15 item 7; as committed: 3 seeds and the
    # paper's learning-rate test, the defaults then - today's defaults are 5 seeds and the
    # fair rate rule, so this reruns more), then half the drawn
    # genomes' validation for the proxy study, then the strategy comparison (issue 16 item 2)
    # shellcheck disable=SC2086
    $BIN/optevo validate $NAMED --out docs/results/validation/named --threads 1
    # (shard 1's last three tasks ran in a third process, into validation-1of2-b/)
    $BIN/python benchmarks/proxy_validity.py validate --out $PV --shard 1/2 \
      --tasks shapes-resnet docs-gru
    $BIN/python benchmarks/proxy_validity.py validate --out $PV --shard 1/2 \
      --tasks docs-transformer cancer-logreg ratings-mf --suffix=-b
    $BIN/python benchmarks/strategies.py --out docs/results/strategies --jobs 1 --part 0/2 \
      --no-analyze
    ;;
  lane2)
    # the proxy study's fitness figures and the other half of its validation
    $BIN/python benchmarks/proxy_validity.py fitness --out $PV
    $BIN/python benchmarks/proxy_validity.py validate --out $PV --shard 0/2
    $BIN/python benchmarks/strategies.py --out docs/results/strategies --jobs 1 --part 1/2 \
      --no-analyze
    ;;
  discover)
    # issue 24 item 7: the discover preset (discovery from the frontier), both cores (its two
    # worker processes; the validation stage in two processes too). Resumable.
    # (The random-started run of issue 16 is kept in docs/results/discover-cpu-random/.)
    if [ -f docs/results/discover-cpu/run/run.sqlite ]; then
      $BIN/optevo search --resume docs/results/discover-cpu/run
    else
      $BIN/optevo search --preset discover --run-dir docs/results/discover-cpu/run
    fi
    $BIN/optevo report docs/results/discover-cpu/run -o docs/results/discover-cpu/report
    $BIN/python benchmarks/discover_genes.py docs/results/discover-cpu/run
    ;;
  analyze)
    $BIN/python benchmarks/proxy_validity.py analyze --out $PV \
      --named docs/results/validation/named
    $BIN/python benchmarks/strategies.py --out docs/results/strategies --analyze-only
    ;;
  *)
    echo "usage: $0 lane1|lane2|discover|analyze" >&2
    exit 2
    ;;
esac
