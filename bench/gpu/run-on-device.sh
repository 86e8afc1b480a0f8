#!/usr/bin/env bash
# On the GPU machine, through the device tool (after bench/gpu/prepare.sh here):
#   run  carry [".gpu"]  command "bash bench/gpu/run-on-device.sh"  (timeout_s 420 leaves a rerun)
# 1. the CUDA op tests (every Backend op against the CPU backend, the fused kernels against the
#    unfused ones) with the JUnit console launcher;
# 2. QuantBench: copy bandwidth, each quantizer kernel's forward and backward bandwidth on a
#    256x96x56x56 tensor (median of 20) as a share of copy, and fused vs unfused timings.
# Logs and the table go to $OUT; a short summary and the table are printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
gpu=.gpu
[ -f "$gpu/jre.tar.xz" ] || { echo "run-on-device: $gpu/ is missing: run bench/gpu/prepare.sh first, carry [\".gpu\"]"; exit 2; }
. "$gpu/device-env.sh"
out=${OUT:-/tmp/basq4j-gpu}
mkdir -p "$out"

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
  || echo "nvidia-smi: not available"; } | tee "$out/device.txt"

main_jar=$(ls "$gpu"/basq4j-*.jar | grep -v -- '-tests\.jar$' | head -1)
cp="$main_jar:$gpu/basq4j-tests.jar"
for j in "$gpu"/lib/*.jar; do cp="$cp:$j"; done

java -cp "$cp" io.basq4j.cli.Main info > "$out/info.txt" 2>&1
grep -E "^cuda:" "$out/info.txt"

echo "== CUDA op tests"
java -Xss4m -jar "$gpu/junit-platform-console-standalone.jar" execute --disable-banner --details=tree \
     --disable-ansi-colors --class-path "$cp" \
     --select-class io.basq4j.cuda.CudaAvailabilityTest \
     --select-class io.basq4j.cuda.CudaOpsTest \
     --select-class io.basq4j.cuda.CudaFusedTest > "$out/tests.txt" 2>&1
tests_rc=$?

echo "== QuantBench"
java -cp "$cp" io.basq4j.cuda.QuantBench "$out" > "$out/bench.log" 2>&1
bench_rc=$?

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ))"
grep -E "(tests|containers) (successful|failed|skipped|aborted)" "$out/tests.txt" | sed 's/^[[:space:]]*\[[[:space:]]*/  /; s/[[:space:]]*\]$//'
grep -E "✘|MethodSource|=> " "$out/tests.txt" | head -30
if [ -f "$out/quant_bench.txt" ]; then
  cat "$out/quant_bench.txt"
else
  echo "QuantBench failed (exit $bench_rc):"
  tail -30 "$out/bench.log"
fi
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
