#!/usr/bin/env bash
# GRPO variants from one shared warm-start (docs/experiments.md, "Why GRPO moves held-out accuracy so little").
# usage: tools/grpo-variants.sh <out-dir> name "key=value key=value" [name "..." ...]
# The first call makes <out-dir>/warm-start (pipeline train --set grpo.steps=0); each variant copies it and resumes with
# 100 GRPO steps (unless it sets grpo.steps) and its overrides, then appends its final held-out row to <out-dir>/results.txt.
set -euo pipefail
out=$(realpath -m "$1"); shift
pipeline=${PIPELINE:-"dotnet run --project src/Pipeline.Cli -c Release --"}
mkdir -p "$out"
if [ ! -d "$out/warm-start" ]; then
  $pipeline train --set grpo.steps=0 --set "run-dir=\"$out/warm\"" > "$out/warm-start.log" 2>&1
  mv "$(ls -d "$out"/warm/*/ | head -1)" "$out/warm-start"
fi
while [ $# -gt 1 ]; do
  name=$1; overrides=$2; shift 2
  run="$out/v-$name"
  rm -rf "$run"; cp -r "$out/warm-start" "$run"; rm -rf "$run/checkpoints"
  args=(--set eval.every-steps=0 --set grpo.steps=100)
  for o in $overrides; do args+=(--set "$o"); done
  start=$(date +%s)
  $pipeline train --resume "$run" "${args[@]}" > "$out/$name.log" 2>&1
  echo "$name ($overrides): $(( $(date +%s) - start )) s, $(grep -E '│ all' "$out/$name.log" | tail -1)" >> "$out/results.txt"
done
