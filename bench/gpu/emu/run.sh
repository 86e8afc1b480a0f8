#!/usr/bin/env bash
# Checks the CUDA kernels without a GPU: compiles src/main/cuda/*.cu as C++ against the host
# emulation (src/main/cuda/emu/cuda_emu.h), links them with the CPU kernels they must agree
# with, and runs emu_check (every kernel against its CPU twin; "N passed, M failed" last).
#   bench/gpu/emu/run.sh [BUILD_DIR]      (default target/cuda-emu)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:-$root/target/cuda-emu}
mkdir -p "$out"
inc=(-I"$root/src/main/cpp/include" -I"$root/src/main/cpp" -I"$root/src/main/cuda")
flags=(-std=c++20 -O1 -g0 -ffp-contract=off -pthread -fopenmp -DBASQ_CUDA_EMU -w)
objs=()
pids=()
for f in "$root"/src/main/cuda/*.cu "$root"/bench/gpu/emu/emu_check.cpp \
         "$root"/src/main/cpp/{quant,elementwise,norm,fused,pool,loss,optim}.cpp; do
  o="$out/$(basename "$f").o"
  objs+=("$o")
  if [ ! -e "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find "$root/src/main/cuda" "$root/src/main/cpp" \
        -newer "$o" -name '*.*h' 2>/dev/null | head -1)" ]; then
    lang=c++
    g++ "${flags[@]}" "${inc[@]}" -x "$lang" -c "$f" -o "$o" &
    pids+=($!)
  fi
done
for p in "${pids[@]}"; do wait "$p"; done
g++ "${flags[@]}" "${objs[@]}" -o "$out/emu_check"
"$out/emu_check"
