#!/usr/bin/env bash
# The native build, called by Maven (process-classes) and usable by hand:
#   build-native/build.sh TARGET_DIR JAVACPP_JAR OPENBLAS_LINUX_JAR
# 1. libbasq4j_cpu.so from src/main/cpp (C++17, OpenMP, OpenBLAS sgemm);
# 2. libbasq4j_cuda.so from src/main/cuda when nvcc is on PATH (else says so once; BASQ4J_NVCC=off
#    skips it on purpose, e.g. for quick CPU-only builds);
# 3. the JNI glue of each binding class in io.basq4j.kernels with JavaCPP's Builder.
# Outputs land in TARGET_DIR/classes/io/basq4j/kernels/linux-x86_64/, where the jar and
# JavaCPP's Loader find them. Each step runs only when its inputs are newer than its output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: build.sh TARGET_DIR JAVACPP_JAR OPENBLAS_LINUX_JAR}
javacpp_jar=${2:?javacpp jar}
openblas_jar=${3:?openblas linux-x86_64 jar}
platform=linux-x86_64
native="$target/native/$platform"
out="$target/classes/io/basq4j/kernels/$platform"
mkdir -p "$native" "$out"

# newer_than OUT FILES...: true when OUT is missing or any FILE is newer.
stale() { local o=$1; shift; [ -e "$o" ] || return 0; for f in "$@"; do [ "$f" -nt "$o" ] && return 0; done; return 1; }

# CPU flags: AVX2/FMA (x86-64-v3) when the build machine has them; override with BASQ4J_CXXFLAGS.
arch_flags=""
if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null; then
  arch_flags="-march=x86-64-v3"
fi
cxxflags=${BASQ4J_CXXFLAGS:-"-O3 $arch_flags -fno-math-errno"}

# OpenBLAS headers and library, from the bytedeco jar (no system BLAS).
blas="$target/native/openblas"
if stale "$blas/.unpacked" "$openblas_jar"; then
  rm -rf "$blas"; mkdir -p "$blas"
  (cd "$blas" && unzip -qo "$openblas_jar" "org/bytedeco/openblas/$platform/*")
  touch "$blas/.unpacked"
fi
blas_dir="$blas/org/bytedeco/openblas/$platform"

mapfile -t cpp_src < <(find "$root/src/main/cpp" -name '*.cpp' | sort)
mapfile -t headers < <(find "$root/src/main/cpp" -name '*.h' | sort)
cpu_lib="$native/libbasq4j_cpu.so"
if stale "$cpu_lib" "${cpp_src[@]}" "${headers[@]}" "$0"; then
  echo "build-native: compiling ${#cpp_src[@]} C++ sources -> libbasq4j_cpu.so"
  g++ -std=c++17 $cxxflags -fPIC -fopenmp -fvisibility=hidden -shared \
      -I"$root/src/main/cpp/include" -I"$blas_dir/include" \
      "${cpp_src[@]}" -o "$cpu_lib.tmp" \
      -L"$blas_dir" -l:libopenblas.so.0 -Wl,-rpath,'$ORIGIN' -Wl,-soname,libbasq4j_cpu.so
  mv "$cpu_lib.tmp" "$cpu_lib"
fi
# libgomp travels in the jar so that the natives load where gcc's runtime is absent.
gomp=$(gcc -print-file-name=libgomp.so.1)
[ -e "$native/libgomp.so.1" ] || { cp -L "$gomp" "$native/libgomp.so.1.tmp" && mv -f "$native/libgomp.so.1.tmp" "$native/libgomp.so.1"; }

# CUDA kernels: only where nvcc is available.
cuda_classes=()
mapfile -t cu_src < <(find "$root/src/main/cuda" -name '*.cu' 2>/dev/null | sort)
if [ ${#cu_src[@]} -gt 0 ]; then
  if [ "${BASQ4J_NVCC:-}" = off ]; then
    echo "build-native: BASQ4J_NVCC=off; building without the CUDA kernels (CPU only)"
  elif command -v nvcc >/dev/null 2>&1; then
    cuda_lib="$native/libbasq4j_cuda.so"
    mapfile -t cu_headers < <(find "$root/src/main/cuda" -name '*.cuh' -o -name '*.h' 2>/dev/null | sort)
    if stale "$cuda_lib" "${cu_src[@]}" "${cu_headers[@]}" "${headers[@]}" "$0"; then
      echo "build-native: compiling ${#cu_src[@]} CUDA sources -> libbasq4j_cuda.so"
      # --fmad=false: a*b+c stays two roundings, as the C++ source says (the kernels are bound by
      # memory traffic, not arithmetic), so that the host emulation's exact checks carry over.
      nvcc -O3 -std=c++17 --fmad=false -Xcompiler -fPIC -shared -cudart shared \
           -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
           -gencode arch=compute_90,code=compute_90 \
           -I"$root/src/main/cpp/include" -I"$root/src/main/cuda" \
           "${cu_src[@]}" -o "$cuda_lib.tmp" -Xlinker -soname=libbasq4j_cuda.so
      mv "$cuda_lib.tmp" "$cuda_lib"
    fi
    cuda_classes=(io.basq4j.kernels.CudaKernels)
  else
    echo "build-native: nvcc not found on PATH; building without the CUDA kernels (CPU only)"
  fi
fi

# JNI glue, one library per binding class.
for cls in io.basq4j.kernels.CpuKernels "${cuda_classes[@]}"; do
  classfile="$target/classes/${cls//.//}.class"
  simple=${cls##*.}
  jni="$out/libjni$simple.so"
  [ -e "$classfile" ] || { echo "build-native: $classfile missing (compile first)" >&2; exit 1; }
  if stale "$jni" "$classfile" "$native"/*.so "${headers[@]}"; then
    echo "build-native: JavaCPP JNI glue for $simple"
    java -cp "$javacpp_jar" org.bytedeco.javacpp.tools.Builder \
      -cp "$target/classes" -d "$out" \
      -Dplatform.includepath="$root/src/main/cpp/include:$root/src/main/cuda" \
      -Dplatform.linkpath="$native" \
      "$cls" > "$target/native/javacpp-$simple.log" 2>&1 \
      || { cat "$target/native/javacpp-$simple.log" >&2; exit 1; }
  fi
done
# The kernel libraries beside the JNI glue, for the Loader (preload) and the jar.
for lib in "$native"/*.so "$native"/*.so.*; do
  [ -e "$lib" ] || continue
  b=$(basename "$lib")
  # copied beside and renamed: a running JVM that maps the old file keeps its inode.
  if stale "$out/$b" "$lib"; then cp "$lib" "$out/$b.tmp" && mv -f "$out/$b.tmp" "$out/$b"; fi
done
exit 0
