#!/usr/bin/env bash
# Here, on a machine without a GPU: builds into .gpu/ everything the GPU machine needs for
# bench/gpu/run-on-device.sh (it has no Maven, no Java, no network, and ../shared does not travel):
#   .gpu/jre.tar.xz, .gpu/device-env.sh   a jlinked Java runtime (../shared/gpu/pack-jre.sh's modules,
#                                         stored uncompressed in the image: xz then packs it to 16
#                                         MiB instead of 27 for jlink's own zip compression)
#   .gpu/basq4j-<version>.jar             the project with its natives (CUDA kernels included)
#   .gpu/basq4j-tests.jar                 the test classes (CUDA tests, CudaProbe, QuantBench)
#   .gpu/lib/*.jar                        runtime dependencies (JavaCPP, OpenBLAS, CUDA presets, ...)
#   .gpu/junit-platform-console-standalone.jar
#   .gpu/golden/*.safetensors.xz          the two golden model files, for parity (xz: half the size)
#   .gpu/BUNDLE                           what was built: commit, date, nvcc
# Then it checks: the device tool carries the working tree plus .gpu, at most 64 MiB; the bundle
# runs (its Java runtime, its class path: CUDA reported absent with a reason); the CUDA presets'
# JNI libraries are in it and need only libraries that device-env.sh puts on the library path
# (or the driver's libcuda.so.1); and run-on-device.sh, run here, stops at once with its
# "no usable GPU" line. Needs nvcc on the PATH (else the bundle would have no CUDA kernels).
#   bench/gpu/prepare.sh            then, with the device tool: run, carry [".gpu"],
#                                   command "bash bench/gpu/run-on-device.sh", timeout_s 600
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
gpu=.gpu
limit=$((64 * 1024 * 1024))
shared=${BASQ4J_SHARED:-$root/../shared}
golden=(mbv2_w0.5_a2w2_r32 mbv2_w0.5_a4w4_r32)

die() { echo "prepare: $*" >&2; exit 1; }
command -v nvcc >/dev/null 2>&1 || die "nvcc is not on the PATH; the bundle needs the CUDA kernels"
[ "${BASQ4J_NVCC:-}" != off ] || die "BASQ4J_NVCC=off would build without the CUDA kernels; unset it"
[ -f "$shared/gpu/pack-jre.sh" ] || die "$shared/gpu/pack-jre.sh not found (set BASQ4J_SHARED)"
for g in "${golden[@]}"; do
  [ -f "$shared/golden/$g.safetensors" ] || die "$shared/golden/$g.safetensors not found"
done
git check-ignore -q "$gpu/x" || die "$gpu/ is not git-ignored; add /.gpu/ to .gitignore"
mkdir -p "$gpu/lib" "$gpu/golden"

# 1. The Java runtime (only when missing, or older than its recipe or its module list).
modules=$(sed -n 's/.*--add-modules \([^ ]*\).*/\1/p' "$shared/gpu/pack-jre.sh" | head -1)
[ -n "$modules" ] || die "cannot read the module list of $shared/gpu/pack-jre.sh"
if [ ! -f "$gpu/jre.tar.xz" ] || [ "$shared/gpu/pack-jre.sh" -nt "$gpu/jre.tar.xz" ] \
   || [ "$(cat "$gpu/jre.modules" 2>/dev/null)" != "$modules" ]; then
  echo "prepare: packing a Java runtime ($modules)"
  jre_tmp=$(mktemp -d)
  jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=0 \
        --output "$jre_tmp/jre"
  tar -C "$jre_tmp" -cf - jre | xz -T0 -9 > "$gpu/jre.tar.xz.tmp"
  mv "$gpu/jre.tar.xz.tmp" "$gpu/jre.tar.xz"
  rm -rf "$jre_tmp"
  echo "$modules" > "$gpu/jre.modules"
fi
cp "$shared/gpu/device-env.sh" "$gpu/device-env.sh"

# 2. The project, its runtime dependencies and its test classes.
echo "prepare: mvn package (CUDA kernels with $(nvcc --version | tail -1))"
mvn -q -B package -DskipTests
[ -f target/classes/io/basq4j/kernels/linux-x86_64/libbasq4j_cuda.so ] || die "the build has no libbasq4j_cuda.so"
rm -f "$gpu"/basq4j-*.jar "$gpu"/lib/*.jar
cp target/basq4j-*.jar "$gpu/"
cp target/lib/*.jar "$gpu/lib/"
# The OpenBLAS natives jar carries three JNI builds (48 MiB unpacked); the CPU kernels load only
# openblas_nolapack. The CUDA presets jar carries JNI glue for some 30 libraries; the backend
# loads cudart, cublas and cudnn. Drop the rest from the copies (not from ~/.m2).
command -v zip >/dev/null 2>&1 || die "zip is needed to slim the native jars (apt-get install zip)"
for j in "$gpu"/lib/openblas-*-linux-x86_64.jar; do
  zip -q -d "$j" 'org/bytedeco/openblas/linux-x86_64/libjniopenblas.so' \
      'org/bytedeco/openblas/linux-x86_64/libjniopenblas_full.so' \
      'org/bytedeco/openblas/linux-x86_64/include/*' >/dev/null || true
done
for j in "$gpu"/lib/cuda-*-linux-x86_64.jar; do
  drop=$(unzip -Z1 "$j" | grep -E '^org/bytedeco/cuda/linux-x86_64/libjni.*\.so$' \
         | grep -vE '/libjni(cudart|cublas|cudnn)\.so$' || true)
  # shellcheck disable=SC2086
  [ -z "$drop" ] || zip -q -d "$j" $drop >/dev/null
done
jar --create --file "$gpu/basq4j-tests.jar" -C target/test-classes .

# 3. The JUnit console launcher matching the project's JUnit (Jupiter 5.x <-> Platform 1.x).
jupiter=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml | head -1)
platform="1.${jupiter#5.}"
if [ ! -f "$gpu/junit-platform-console-standalone.jar" ] \
   || ! unzip -p "$gpu/junit-platform-console-standalone.jar" META-INF/MANIFEST.MF | grep -q "$platform"; then
  mvn -q -B dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform" \
      -DoutputDirectory="$gpu" -Dmdep.stripVersion=true
fi

# 4. The golden model files, xz-compressed (run-on-device.sh unpacks them to /tmp).
for g in "${golden[@]}"; do
  src="$shared/golden/$g.safetensors"
  dst="$gpu/golden/$g.safetensors.xz"
  if [ ! -f "$dst" ] || [ "$src" -nt "$dst" ]; then
    echo "prepare: compressing $g.safetensors"
    xz -T0 -6 -c "$src" > "$dst.tmp" && mv "$dst.tmp" "$dst"
  fi
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
git diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
echo "$commit $(date -u +%Y-%m-%dT%H:%MZ), $(nvcc --version | tail -1)" > "$gpu/BUNDLE"

# 5. What travels: the working tree (tracked and untracked files that git does not ignore) plus .gpu.
tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
bundle=$(find "$gpu" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((tree + bundle))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "prepare: .gpu/ contents:"
(cd "$gpu" && find . -type f -printf '%s %p\n' | sort -rn | awk '{printf "  %7.1f MiB  %s\n", $1 / 1048576, $2}')
echo "prepare: .gpu $(mib "$bundle") + working tree $(mib "$tree") = $(mib "$total") (limit 64 MiB)"
[ "$total" -le "$limit" ] || die "too large for the device tool: carry less"

# 6. The bundle runs (as far as it can without a GPU): its Java runtime, its class path, the
#    slimmed jars, and the CUDA backend reported absent with a reason.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xJf "$gpu/jre.tar.xz" -C "$tmp"
cp_all="$(ls "$gpu"/basq4j-*.jar | grep -v -- '-tests\.jar$' | head -1):$gpu/basq4j-tests.jar"
for j in "$gpu"/lib/*.jar; do cp_all="$cp_all:$j"; done
if ! "$tmp/jre/bin/java" -Dorg.bytedeco.javacpp.cachedir="$tmp/javacpp" -cp "$cp_all" io.basq4j.cli.Main info \
     > "$tmp/info.txt" 2>&1; then
  cat "$tmp/info.txt" >&2
  die "the bundle does not run"
fi
grep -E "^(kernels|cuda):" "$tmp/info.txt" | sed 's/^/prepare: bundle check: /'

# 7. The CUDA presets' JNI glue is in the bundle, and every library it needs is one that
#    device-env.sh finds on the GPU machine (cuDNN's sub-libraries lie beside libcudnn.so.9),
#    the driver's libcuda.so.1, or a system library.
covered=$(grep -o "'lib[^']*'" "$gpu/device-env.sh" | tr -d "'" | tr '\n' ' ')
mkdir -p "$tmp/jni"
for j in "$gpu"/lib/cuda-*-linux-x86_64.jar; do unzip -qo "$j" 'org/bytedeco/cuda/linux-x86_64/*.so' -d "$tmp/jni"; done
for lib in jnicudart jnicublas jnicudnn; do
  so="$tmp/jni/org/bytedeco/cuda/linux-x86_64/lib$lib.so"
  [ -f "$so" ] || die "lib$lib.so is not in the bundle's CUDA presets jar"
  needs=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for n in $needs; do
    case "$n" in
      libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|libdl.so.*|libpthread.so.*|librt.so.*) continue ;;
      libcuda.so.1) continue ;; # the driver, on the system library path
      libcudnn_*.so.9) [[ " $covered " == *" libcudnn.so.9 "* ]] && continue ;;
    esac
    [[ " $covered " == *" $n "* ]] || die "lib$lib.so needs $n, which device-env.sh does not put on the library path"
  done
  echo "prepare: bundle check: lib$lib.so needs $(echo $needs | tr ' ' ',') (covered)"
done

# 8. run-on-device.sh here: without a GPU it must stop at once with its one line.
echo "prepare: dry run of run-on-device.sh (no GPU here: it must stop with exit 3)"
set +e
OUT="$tmp/out" BASQ4J_DEVICE_BUDGET_S=120 timeout 300 bash bench/gpu/run-on-device.sh > "$tmp/dry.txt" 2>&1
rc=$?
set -e
if [ "$rc" -ne 3 ] || ! grep -q "^run-on-device: no usable GPU here" "$tmp/dry.txt"; then
  cat "$tmp/dry.txt" >&2
  die "run-on-device.sh did not stop as it should without a GPU (exit $rc)"
fi
grep "^run-on-device: no usable GPU here" "$tmp/dry.txt" | sed 's/^/prepare: dry run: /'
echo "prepare: ready ($(cat "$gpu/BUNDLE")). Device tool: run with carry [\".gpu\"], timeout_s 600 and command" \
     "\"bash bench/gpu/run-on-device.sh\""
