#!/usr/bin/env bash
# On the GPU machine, through the device tool, after bench/gpu/prepare.sh here:
#   run  carry [".gpu"]  command "bash bench/gpu/run-on-device.sh"  timeout_s 600
# Runs, in this order, within BASQ4J_DEVICE_BUDGET_S seconds (default 540; each step gets what is
# left, a step that cannot start in time is reported as skipped):
#   0. CudaProbe: device, driver, runtime, cuDNN; cuDNN and cuBLAS load and compute as the CPU.
#      Without a usable GPU: one line saying why, exit 3 (nothing else is meaningful then).
#   1. the CUDA tests (CudaAvailabilityTest, CudaOpsTest, CudaFusedTest), one JVM per class; a
#      class that fails is rerun once with CUDA_LAUNCH_BLOCKING=1, so that its log names the
#      kernel that faulted rather than the next one to launch;
#   2. parity --device cuda on both golden model files (float32, direct-sum convolutions; the
#      cuDNN algorithm of every convolution is logged);
#   3. pipeline --preset smoke --device cuda;
#   4. QuantBench: quantizer kernels as a share of copy bandwidth, fused vs unfused kernels;
#   5. the training-step benchmark at 32x32 batch 256 and 224x224 batch 128 (MobileNet-v2 w1.0),
#      with peak memory (the allocator's, cudaMemGetInfo's, and nvidia-smi's sampled maximum).
# Every log and $OUT/summary.md (a table ready for bench/results/, rewritten after each step, so
# that a run cut short still leaves one) go to $OUT; the summary is printed last.
# Exit status: 0 every step passed, 1 a step failed or was skipped, 2 no bundle, 3 no usable GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
gpu=.gpu
out=${OUT:-/tmp/basq4j-gpu}
mkdir -p "$out"
t_start=$(date +%s)
budget=${BASQ4J_DEVICE_BUDGET_S:-540}
summary="$out/summary.md"
rows=()
failed=0

say() { echo "run-on-device: $*"; }
left() { echo $((budget - ($(date +%s) - t_start))); }

write_summary() {
  {
    echo "# basq4j on $(head -1 "$out/device.txt" 2>/dev/null || echo '?')"
    echo
    echo "$(date -u +%Y-%m-%d), bundle $(cat "$gpu/BUNDLE" 2>/dev/null || echo '?'), \`bash bench/gpu/run-on-device.sh\`"
    echo
    sed 's/^/    /' "$out/probe.txt" 2>/dev/null
    echo
    echo "| step | result | seconds | figures |"
    echo "| --- | --- | --- | --- |"
    for r in "${rows[@]}"; do echo "$r"; done
    if [ -f "$out/quant_bench.txt" ]; then
      echo
      echo "QuantBench:"
      echo
      sed 's/^/    /' "$out/quant_bench.txt"
    fi
  } > "$summary.tmp" && mv "$summary.tmp" "$summary"
}

# row STEP RESULT SECONDS FIGURES
row() {
  rows+=("| $1 | $2 | $3 | $4 |")
  case "$2" in ok*) ;; *) failed=1 ;; esac
  write_summary
}

# run_step NAME CAP_SECONDS LOG cmd...: runs cmd with a timeout of min(CAP, time left); sets rc, secs
run_step() {
  local name=$1 cap=$2 logf=$3
  shift 3
  local l
  l=$(left)
  if [ "$l" -lt 20 ]; then
    rc=125
    secs=0
    say "$name: skipped, ${l}s left of the budget"
    return
  fi
  local t=$((cap < l - 5 ? cap : l - 5))
  say "$name (at most ${t}s)"
  local t0
  t0=$(date +%s)
  timeout --kill-after=10 "$t" "$@" > "$logf" 2>&1
  rc=$?
  secs=$(($(date +%s) - t0))
  [ "$rc" -eq 124 ] && echo "run-on-device: timed out after ${t}s" >> "$logf"
}

status() {
  case "$1" in
    0) echo "ok" ;;
    124) echo "TIMED OUT" ;;
    125) echo "SKIPPED (no time left)" ;;
    *) echo "FAILED (exit $1)" ;;
  esac
}

[ -f "$gpu/jre.tar.xz" ] || { say "$gpu/ is missing: run bench/gpu/prepare.sh first, carry [\".gpu\"]"; exit 2; }
# shellcheck disable=SC1091
. "$gpu/device-env.sh" > "$out/env.txt" 2>&1
cat "$out/env.txt"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
  || echo "no GPU visible (nvidia-smi: not available)"; } > "$out/device.txt"
cat "$out/device.txt"

main_jar=$(ls "$gpu"/basq4j-*.jar | grep -v -- '-tests\.jar$' | head -1)
cp="$main_jar:$gpu/basq4j-tests.jar"
for j in "$gpu"/lib/*.jar; do cp="$cp:$j"; done
java_cmd=(java -Xss4m -Xmx24g -Dorg.bytedeco.javacpp.cachedir=/tmp/basq4j-javacpp)
basq4j=("${java_cmd[@]}" -cp "$cp" io.basq4j.cli.Main)

# 0. the probe: is there anything to run on?
run_step "probe" 120 "$out/probe.txt" "${java_cmd[@]}" -cp "$cp" io.basq4j.cuda.CudaProbe
cat "$out/probe.txt"
if [ "$rc" -eq 3 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 125 ]; then
  why=$(grep -m1 '^cuda:' "$out/probe.txt" | sed 's/^cuda: *//')
  say "no usable GPU here: ${why:-the probe did not finish (exit $rc)}; nothing else to run"
  row "probe" "$(status "$rc")" "$secs" "${why:-see probe.txt}"
  exit 3
fi
row "probe" "$(status "$rc")" "$secs" "$(grep -m1 '^cudnn:' "$out/probe.txt" | sed 's/|/\//g')"

# 1. the CUDA tests, a JVM per class; a failing class again with synchronous launches
for cls in CudaAvailabilityTest CudaOpsTest CudaFusedTest; do
  junit=("${java_cmd[@]}" -jar "$gpu/junit-platform-console-standalone.jar" execute --disable-banner
         --details=tree --disable-ansi-colors --class-path "$cp" --select-class "io.basq4j.cuda.$cls")
  run_step "tests $cls" 240 "$out/tests-$cls.txt" "${junit[@]}"
  counts=$(grep -E "tests (successful|failed)" "$out/tests-$cls.txt" | sed 's/[][]//g; s/  */ /g; s/^ //' \
           | tr '\n' ',' | sed 's/,$//; s/,/, /g')
  first_rc=$rc
  first_secs=$secs
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 125 ]; then
    run_step "tests $cls again with CUDA_LAUNCH_BLOCKING=1" 240 "$out/tests-$cls-blocking.txt" \
      env CUDA_LAUNCH_BLOCKING=1 "${junit[@]}"
    counts="$counts; with CUDA_LAUNCH_BLOCKING=1: exit $rc, see tests-$cls-blocking.txt"
  fi
  row "tests $cls" "$(status "$first_rc")" "$first_secs" "${counts:-see tests-$cls.txt}"
done

# 2. parity against the reference, both golden files (shipped xz-compressed)
mkdir -p /tmp/basq4j-golden
for g in mbv2_w0.5_a2w2_r32 mbv2_w0.5_a4w4_r32; do
  f=/tmp/basq4j-golden/$g.safetensors
  [ -f "$f" ] || xz -dc "$gpu/golden/$g.safetensors.xz" > "$f"
  run_step "parity $g" 180 "$out/parity-$g.txt" env BASQ4J_DEBUG=1 "${basq4j[@]}" parity "$f" --device cuda
  row "parity $g" "$(status "$rc")" "$secs" \
      "$(grep -vE '^cudnn:' "$out/parity-$g.txt" | grep -v '^\s*$' | tail -1 | cut -c1-160 | sed 's/|/\//g'); \
$(grep -c '^cudnn:' "$out/parity-$g.txt") cuDNN choices logged"
done

# 3. the whole pipeline, smoke preset, on the GPU
rm -rf /tmp/basq4j-smoke
run_step "pipeline smoke" 240 "$out/pipeline-smoke.txt" "${basq4j[@]}" pipeline --preset smoke --device cuda \
  --run /tmp/basq4j-smoke
cp /tmp/basq4j-smoke/results.json "$out/pipeline-smoke-results.json" 2>/dev/null
row "pipeline --preset smoke --device cuda" "$(status "$rc")" "$secs" \
    "$(grep -E '^(mean|finetuned_accs) ' "$out/pipeline-smoke.txt" | tr '\n' ' ')"

# 4. QuantBench (writes quant_bench.txt, which the summary includes)
run_step "QuantBench" 150 "$out/bench.log" "${java_cmd[@]}" -cp "$cp" io.basq4j.cuda.QuantBench "$out"
qb="$out/quant_bench.txt"
row "QuantBench" "$(status "$rc")" "$secs" "$(awk '/^copy/ {print "copy " $(NF-1) " GB/s;"}' "$qb" 2>/dev/null) \
$(for v in keep marginal drop; do printf '%s %s, ' "$v" "$(grep -c -- "-> $v\$" "$qb" 2>/dev/null)"; done)"

# 5. the training step, with peak memory
for cfg in "32 256 10 20 3" "224 128 1000 8 2"; do
  read -r res batch classes steps warmup <<< "$cfg"
  name="bench ${res}x${res} batch $batch"
  logf="$out/bench-$res.txt"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 > "$out/bench-$res-mem.txt" 2>/dev/null &
  smi=$!
  run_step "$name" 240 "$logf" "${basq4j[@]}" bench --device cuda --resolution "$res" --batch "$batch" \
    --classes "$classes" --steps "$steps" --warmup "$warmup"
  kill "$smi" 2>/dev/null
  wait "$smi" 2>/dev/null
  smi_peak=$(sort -n "$out/bench-$res-mem.txt" 2>/dev/null | tail -1)
  row "$name (MobileNet-v2 w1.0, $classes classes)" "$(status "$rc")" "$secs" \
      "$(grep -E '^(train_img_per_s|eval_img_per_s|peak_tensor_mib|device_used_mib)=' "$logf" | tr '\n' ' ')\
nvidia-smi peak ${smi_peak:-?} MiB"
done

echo
echo "== summary ($summary)"
cat "$summary"
exit "$failed"
