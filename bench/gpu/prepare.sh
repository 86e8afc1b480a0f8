#!/usr/bin/env bash
# Here, on a machine without a GPU: builds into .gpu/ everything the GPU machine needs for
# bench/gpu/run-on-device.sh (it has no Maven, no Java and no network):
#   .gpu/jre.tar.xz, .gpu/device-env.sh   a jlinked Java runtime (../shared/gpu/pack-jre.sh)
#   .gpu/basq4j-<version>.jar             the project with its natives (CUDA kernels included)
#   .gpu/basq4j-tests.jar                 the test classes (CUDA op tests, QuantBench)
#   .gpu/lib/*.jar                        runtime dependencies (JavaCPP, OpenBLAS, CUDA presets, ...)
#   .gpu/junit-platform-console-standalone.jar
# and checks that what the device tool carries (the working tree plus .gpu) stays under 64 MiB.
# Needs nvcc on the PATH (else the bundle would have no CUDA kernels). .gpu/ is git-ignored.
#   bench/gpu/prepare.sh            then, with the device tool: run, carry [".gpu"],
#                                   command "bash bench/gpu/run-on-device.sh"
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
gpu=.gpu
limit=$((64 * 1024 * 1024))
shared=${BASQ4J_SHARED:-$root/../shared}

command -v nvcc >/dev/null 2>&1 || { echo "prepare: nvcc is not on the PATH; the bundle needs the CUDA kernels" >&2; exit 1; }
[ -f "$shared/gpu/pack-jre.sh" ] || { echo "prepare: $shared/gpu/pack-jre.sh not found (set BASQ4J_SHARED)" >&2; exit 1; }
git check-ignore -q "$gpu/x" || { echo "prepare: $gpu/ is not git-ignored; add /.gpu/ to .gitignore" >&2; exit 1; }
mkdir -p "$gpu/lib"

# 1. The Java runtime (only when missing or older than its recipe).
if [ ! -f "$gpu/jre.tar.xz" ] || [ "$shared/gpu/pack-jre.sh" -nt "$gpu/jre.tar.xz" ]; then
  echo "prepare: packing a Java runtime"
  bash "$shared/gpu/pack-jre.sh" "$gpu" >/dev/null
fi
cp "$shared/gpu/device-env.sh" "$gpu/device-env.sh"

# 2. The project, its runtime dependencies and its test classes.
echo "prepare: mvn package (CUDA kernels with $(nvcc --version | tail -1))"
mvn -q -B package -DskipTests
[ -f target/classes/io/basq4j/kernels/linux-x86_64/libbasq4j_cuda.so ] \
  || { echo "prepare: the build has no libbasq4j_cuda.so" >&2; exit 1; }
rm -f "$gpu"/basq4j-*.jar "$gpu"/lib/*.jar
cp target/basq4j-*.jar "$gpu/"
cp target/lib/*.jar "$gpu/lib/"
# The OpenBLAS natives jar carries three JNI builds (48 MiB unpacked); the CPU kernels load only
# openblas_nolapack. Drop the other two and the headers from the copy (not from ~/.m2).
if command -v zip >/dev/null 2>&1; then
  for j in "$gpu"/lib/openblas-*-linux-x86_64.jar; do
    zip -q -d "$j" 'org/bytedeco/openblas/linux-x86_64/libjniopenblas.so' \
        'org/bytedeco/openblas/linux-x86_64/libjniopenblas_full.so' \
        'org/bytedeco/openblas/linux-x86_64/include/*' >/dev/null || true
  done
fi
jar --create --file "$gpu/basq4j-tests.jar" -C target/test-classes .

# 3. The JUnit console launcher matching the project's JUnit (Jupiter 5.x <-> Platform 1.x).
jupiter=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml | head -1)
platform="1.${jupiter#5.}"
if [ ! -f "$gpu/junit-platform-console-standalone.jar" ] \
   || ! unzip -p "$gpu/junit-platform-console-standalone.jar" META-INF/MANIFEST.MF | grep -q "$platform"; then
  mvn -q -B dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform" \
      -DoutputDirectory="$gpu" -Dmdep.stripVersion=true
fi

# 4. What travels: the working tree (tracked and untracked files that git does not ignore) plus .gpu.
tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
bundle=$(find "$gpu" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((tree + bundle))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "prepare: .gpu/ contents:"
(cd "$gpu" && find . -type f -printf '%s %p\n' | sort -rn | awk '{printf "  %7.1f MiB  %s\n", $1 / 1048576, $2}')
echo "prepare: .gpu $(mib "$bundle") + working tree $(mib "$tree") = $(mib "$total") (limit 64 MiB)"
if [ "$total" -gt "$limit" ]; then
  echo "prepare: too large for the device tool: carry less" >&2
  exit 1
fi
# 5. The bundle runs (as far as it can without a GPU): its Java runtime, its class path, the
#    slimmed OpenBLAS, and the CUDA backend reported absent with a reason.
tmp=$(mktemp -d)
tar -xJf "$gpu/jre.tar.xz" -C "$tmp"
cp_all="$(ls "$gpu"/basq4j-*.jar | grep -v -- '-tests\.jar$' | head -1):$gpu/basq4j-tests.jar"
for j in "$gpu"/lib/*.jar; do cp_all="$cp_all:$j"; done
if ! "$tmp/jre/bin/java" -cp "$cp_all" io.basq4j.cli.Main info > "$tmp/info.txt" 2>&1; then
  cat "$tmp/info.txt" >&2; rm -rf "$tmp"; echo "prepare: the bundle does not run" >&2; exit 1
fi
grep -E "^(kernels|cuda):" "$tmp/info.txt" | sed 's/^/prepare: bundle check: /'
rm -rf "$tmp"
echo "prepare: ready. Device tool: run with carry [\".gpu\"] and command \"bash bench/gpu/run-on-device.sh\""
