#!/usr/bin/env bash
# Runs on the GPU machine (PyTorch + transformers in its python3, no .NET, no network), from the repository root:
#   bash deploy/gpu-check/run.sh
# 1. unpacks deploy/gpu-check/out/bundle.tar.xz (made here by pack.sh) and points LD_LIBRARY_PATH at torch's lib/;
# 2. loads the shipped libLibTorchSharp.so against that libtorch, or rebuilds it there from TorchSharp 0.107.0's sources;
# 3. (a) logits and greedy ids of tiny random Llama-3 / Qwen2 / Qwen3 folders, pipeline vs transformers (compare.py),
#        and a folder written by `pipeline model export` loaded by transformers;
#    (b) sampling and GRPO-step tokens/s of a ~0.5B Qwen2.5-shaped model in PyTorch (bench_torch.py) and, where this
#        build has it, in `pipeline bench model` on CUDA.
# Results: $OUT (set by the device tool) or deploy/gpu-check/results: summary.md, run.log, env.json, parity.json,
# export.json, bench_torch.json, bench_dotnet.txt. Exit code: 0 when every check that ran passed, 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RES=${OUT:-$HERE/results}
BUNDLE=${GPU_CHECK_BUNDLE:-$HERE/out/bundle.tar.xz}
WORK=${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu-check.XXXXXX)}
mkdir -p "$RES" "$WORK"
exec > >(tee -a "$RES/run.log") 2>&1

SECONDS=0
declare -A STATUS=()
ORDER=()
step() { echo; echo "== [${SECONDS}s] $*"; }
record() { STATUS[$1]=$2; ORDER+=("$1"); echo "-- $1: $2"; }

summary() {
  {
    echo "# GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    [[ -f $RES/env.json ]] && python3 -c "import json,sys; e=json.load(open(sys.argv[1])); print('Device: %s; torch %s (CUDA %s); transformers %s; .NET %s.' % (e.get('device'), e.get('torch'), e.get('cuda'), e.get('transformers'), e.get('dotnet')))" "$RES/env.json"
    echo
    echo "| check | result |"
    echo "|---|---|"
    for k in "${ORDER[@]}"; do echo "| $k | ${STATUS[$k]} |"; done
    for f in parity export; do
      [[ -f $RES/$f.json ]] || continue
      echo; echo "## $f"; echo
      python3 - "$RES/$f.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("| folder | device | dtype | max abs diff | tolerance | greedy equal | result |")
print("|---|---|---|---|---|---|---|")
for c in r["comparisons"]:
    d = c.get("max_abs_diff")
    print(f"| {c['folder']} | {c['device']} | {c['dtype']} | {'' if d is None else f'{d:.3g}'} | {c['tolerance']} | "
          f"{c.get('greedy_equal', '')} | {'pass' if c['passed'] else 'FAIL: ' + c.get('error', '')[:300].replace('|', '/').replace(chr(10), ' ')} |")
for t in r["tokenizers"]:
    print(f"\nAutoTokenizer on {t['folder']}: {'loads' if t['passed'] else 'FAIL: ' + t.get('error', '')[:300]}")
EOF
    done
    if [[ -f $RES/bench_torch.json ]]; then
      echo; echo "## benchmark (PyTorch, same command)"; echo
      python3 - "$RES/bench_torch.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
w = r["work"]
print(f"{r['device']}: bf16 peak {r['datasheet_bf16_peak_tflops']} TFLOP/s (datasheet), {r['measured_bf16_matmul_tflops']:.0f} TFLOP/s measured (8192^3 matmul). "
      f"Model: {r['shapes']['params'] / 1e6:.0f}M parameters; {w['groups']} x {w['group']} sequences of {w['prompt']} + {w['new_tokens']} tokens.\n")
print("| mode | sampling tokens/s | sampling TFLOP/s | GRPO step tokens/s | GRPO TFLOP/s | GRPO of datasheet peak |")
print("|---|---|---|---|---|---|")
for mode, m in r["modes"].items():
    s, g = m["sampling"], m["grpo"]
    peak = "" if g["of_datasheet_peak"] is None else f"{100 * g['of_datasheet_peak']:.1f} %"
    print(f"| {mode} | {s['tokens_per_s']:.0f} | {s['tflops']:.2f} | {g['tokens_per_s']:.0f} | {g['tflops']:.1f} | {peak} |")
EOF
    fi
    if [[ -f $RES/bench_dotnet.txt ]]; then
      echo; echo "## benchmark (pipeline bench model)"; echo; echo '```'; tail -40 "$RES/bench_dotnet.txt"; echo '```'
    fi
  } > "$RES/summary.md"
  echo; cat "$RES/summary.md"
}

finish() {
  summary
  for k in "${ORDER[@]}"; do [[ ${STATUS[$k]} == FAIL* ]] && exit 1; done
  exit 0
}

step "unpack $BUNDLE into $WORK"
if [[ ! -f $BUNDLE ]]; then
  echo "run.sh: no bundle at $BUNDLE; run deploy/gpu-check/pack.sh on the build machine and carry deploy/gpu-check/out" >&2
  exit 2
fi
# Python's lzma unpacks it where tar has no xz.
tar -xJf "$BUNDLE" -C "$WORK" 2>/dev/null \
  || python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$BUNDLE" "$WORK" \
  || { echo "run.sh: cannot unpack $BUNDLE" >&2; exit 2; }

export DOTNET_ROOT=$WORK/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Invariant culture: the GPU machine may have no libicu, and nothing checked here depends on culture data.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}
PIPELINE="$WORK/dotnet/dotnet $WORK/app/pipeline.dll"

step "environment"
TORCH_DIR=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))") \
  || { echo "run.sh: python3 cannot import torch" >&2; exit 2; }
TORCH_LIB=$TORCH_DIR/lib
# LibTorchSharp finds libtorch*.so and libc10.so here: the bundle carries none (its $ORIGIN RUNPATH would prefer them).
export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
DOTNET_VERSION=$("$WORK/dotnet/dotnet" --list-runtimes 2>&1 | grep NETCore | awk '{print $2}' | tail -1)
python3 - "$RES/env.json" "$DOTNET_VERSION" <<'EOF'
import json, subprocess, sys
import torch, transformers
e = dict(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
         device=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
         cxx11_abi=bool(torch._C._GLIBCXX_USE_CXX11_ABI), transformers=transformers.__version__, dotnet=sys.argv[2])
try:
    e["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                                     capture_output=True, text=True, timeout=20).stdout.strip()
except Exception as x:
    e["nvidia_smi"] = repr(x)
json.dump(e, open(sys.argv[1], "w"), indent=1)
print(json.dumps(e))
EOF
if [[ -z $DOTNET_VERSION ]]; then record dotnet "FAIL: the bundled .NET runtime does not start"; finish; fi
record dotnet "ok: .NET $DOTNET_VERSION from the bundle"

step "models (transformers, random weights)"
if ! timeout 300 python3 "$HERE/make_models.py" "$WORK/models" --bench; then
  record models "FAIL: make_models.py"; finish
fi
record models "ok: llama3, qwen2, qwen3 (tiny, fp32) and bench-0.5b (bf16)"

step "LibTorchSharp against torch $TORCH_DIR"
SO=$WORK/app/runtimes/linux-x64/native/libLibTorchSharp.so
probe() {
  timeout 120 $PIPELINE model logits --model "$WORK/models/qwen2" --prompt-ids "1 2 3" --device cuda --out "$WORK/probe.json" > "$WORK/probe.log" 2>&1
}
rebuild() {
  local src=$WORK/torchsharp-native/src/Native build=$WORK/native-build cxx abi
  cxx=${CXX:-$(command -v g++ || command -v c++)} || { echo "no C++ compiler"; return 1; }
  abi=$(python3 -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
  mkdir -p "$build"
  # The flags of TorchSharp's src/Native/CMakeLists.txt on Linux, without -Werror (newer libtorch deprecates APIs it uses).
  local flags="-O2 -fPIC -std=c++17 -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI=$abi -D__LINUX__ -D_NO_ASYNCRTIMP -D_NO_PPLXIMP -Wno-deprecated-declarations -I$src -I$src/LibTorchSharp -I$TORCH_DIR/include -I$TORCH_DIR/include/torch/csrc/api/include"
  export cxx flags build
  ls "$src"/LibTorchSharp/*.cpp | xargs -P "$(nproc)" -I{} sh -c '$cxx $flags -c "$1" -o "$build/$(basename "$1").o" || exit 255' _ {} || return 1
  ${CC:-cc} -O2 -fPIC -c "$src/LibTorchSharp/crc32c.c" -o "$build/crc32c.o" || return 1
  # --no-as-needed keeps libtorch_cuda.so linked: loading it registers the CUDA hooks.
  $cxx -shared -o "$build/libLibTorchSharp.so" "$build"/*.o -L"$TORCH_LIB" -Wl,--no-as-needed -ltorch -ltorch_cpu -ltorch_cuda -lc10 \
    -Wl,-rpath,"$TORCH_LIB" -Wl,-Bsymbolic -Wl,-Bsymbolic-functions || return 1
}
echo "undefined symbols of the shipped library against this libtorch: $(ldd -r "$SO" 2>&1 | grep -c 'undefined symbol' || true)"
if probe; then
  record libtorchsharp "ok: the shipped TorchSharp 0.107.0 library runs on CUDA against torch $(python3 -c 'import torch; print(torch.__version__)')"
else
  tail -15 "$WORK/probe.log"
  cp "$WORK/probe.log" "$WORK/probe.log.shipped"
  ldd -r "$SO" 2>&1 | grep 'undefined symbol' | head -5
  step "rebuild LibTorchSharp from TorchSharp 0.107.0's src/Native against this libtorch"
  cp "$SO" "$WORK/libLibTorchSharp.shipped.so"
  if rebuild && cp "$WORK/native-build/libLibTorchSharp.so" "$SO" && probe; then
    record libtorchsharp "ok: rebuilt from source ($(( SECONDS ))s into the run); the shipped library did not run: $(grep -m1 -iE 'error|exception' "$WORK/probe.log.shipped" 2>/dev/null || true)"
  else
    tail -30 "$WORK/probe.log"
    record libtorchsharp "FAIL: neither the shipped nor a rebuilt libLibTorchSharp.so runs on CUDA (see run.log)"
  fi
fi

if [[ ${STATUS[libtorchsharp]} == ok* ]]; then
  step "(a) logits and greedy ids: pipeline vs transformers"
  if timeout 420 python3 "$HERE/compare.py" --pipeline "$PIPELINE" --out "$RES/parity.json" --devices cuda cpu \
      --dtypes float32 bfloat16 "$WORK/models/llama3" "$WORK/models/qwen2" "$WORK/models/qwen3"; then
    record parity "ok: every family within tolerance with equal greedy ids (fp32 and bf16, CUDA and CPU)"
  else
    fp32=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(all(c['passed'] for c in r['comparisons'] if c['dtype']=='float32'))" "$RES/parity.json" 2>/dev/null)
    record parity "FAIL: see parity.json (float32 all passed: ${fp32:-unknown})"
  fi
else
  record parity "skipped: LibTorchSharp does not run"
fi

step "(b) benchmark, PyTorch side"
if timeout 420 python3 "$HERE/bench_torch.py" "$WORK/models/bench-0.5b" --out "$RES/bench_torch.json"; then
  record bench_torch "ok"
else
  record bench_torch "FAIL: bench_torch.py"
fi

step "(b) benchmark, pipeline side"
if [[ ${STATUS[libtorchsharp]} != ok* ]]; then
  record bench_dotnet "skipped: LibTorchSharp does not run"
elif ! $PIPELINE bench model --help > "$WORK/bench-help.txt" 2>&1; then
  record bench_dotnet "skipped: this build has no 'pipeline bench model'"
elif ! grep -q -- "--device" "$WORK/bench-help.txt"; then
  record bench_dotnet "skipped: 'pipeline bench model' has no --device option in this build (it measures the CPU only)"
else
  # shellcheck disable=SC2086
  if timeout 420 $PIPELINE bench model --device cuda ${GPU_CHECK_DOTNET_BENCH_ARGS:---size 0.5b} > "$RES/bench_dotnet.txt" 2>&1; then
    record bench_dotnet "ok: see bench_dotnet.txt"
  else
    record bench_dotnet "FAIL: see bench_dotnet.txt"
  fi
fi

step "(a) export: train --model, model export, transformers loads the folder"
if [[ ${STATUS[libtorchsharp]} != ok* ]]; then
  record export "skipped: LibTorchSharp does not run"
else
  runs=$WORK/runs
  # The run itself stays on the CPU (16 cores): this checks the exported folder, not training speed.
  if (cd "$ROOT" && timeout 300 $PIPELINE train --config hocon/smoke.conf --model "$WORK/models/llama3" \
        --set "run-dir=\"$runs\"" --set task.sql.sft-examples=40 --set warm-start.max-epochs=1 --set grpo.steps=2 \
        --set eval.limit=4 --set policy.context=256 --set metrics.plots=off --set checkpoint.every-steps=0 \
        --set device=cpu --set torch-threads=8) \
     && run=$(ls -d "$runs"/*/ | head -1) \
     && timeout 120 $PIPELINE model export --run "$run" --out "$WORK/exported" \
     && timeout 300 python3 "$HERE/compare.py" --pipeline "$PIPELINE" --out "$RES/export.json" --devices cuda \
          --dtypes float32 "$WORK/exported"; then
    record export "ok: transformers loads the exported folder and its tokenizer; logits agree with pipeline's"
  else
    record export "FAIL: see run.log and export.json"
  fi
fi

finish
