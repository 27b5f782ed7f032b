#!/usr/bin/env bash
# The real runs behind docs/simulation.md's calibration errors: a base run (A), group size doubled (B), a critic 10x
# slower (C), and the 3-process loopback cluster on A's settings (D, through `bench cluster --parts throughput`, which
# also repeats A as its local run). Each real configuration runs once; a simulated judge (critic-sim) stands in for the critic.
# Usage: tools/calibration-runs.sh [OUT] [A|B|C|D ...]   (default: runs/calibration, all four)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-runs/calibration}"); shift || true
WHICH=${*:-A B C D}
P="dotnet src/Pipeline.Cli/bin/Debug/net10.0/pipeline.dll"
PORT=18391
COMMON=(--set warm-start.enabled=off --set grpo.steps=40 --set eval.every-steps=0 --set checkpoint.every-steps=0
  --set generation.generators=2 --set rewards=execution,rubric,critic --set rewards.sources.critic.required=on
  --set "rewards.critic.base-url=\"http://127.0.0.1:$PORT/v1\"" --set "run-dir=$OUT")
mkdir -p "$OUT"
critic() {  # $1: latency in ms
  $P critic-sim --task sql --latency "$1" --latency-spread 0 --port $PORT > "$OUT/critic-sim-$1.log" 2>&1 &
  CRITIC=$!
  for _ in $(seq 60); do curl -s "http://127.0.0.1:$PORT/v1/models" > /dev/null && return; sleep 1; done
  echo "critic-sim did not start"; exit 1
}
stop() { kill "$CRITIC"; wait "$CRITIC" 2> /dev/null || true; }
for w in $WHICH; do
  echo "== $w $(date -u +%H:%M:%S)"
  case $w in
    A) critic 100; /usr/bin/time -f "%e s wall" $P train "${COMMON[@]}" --set run-name=A-base; stop ;;
    B) critic 100; /usr/bin/time -f "%e s wall" $P train "${COMMON[@]}" --set run-name=B-group16 --set generation.group-size=16; stop ;;
    C) critic 1000; /usr/bin/time -f "%e s wall" $P train "${COMMON[@]}" --set run-name=C-critic1000ms; stop ;;
    D) critic 100; /usr/bin/time -f "%e s wall" $P bench cluster --parts throughput --steps 40 --out "$OUT/D-cluster" "${COMMON[@]}"; stop ;;
  esac
done
