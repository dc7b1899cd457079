#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz; clang, ASan+UBSan) and runs each for SECONDS seconds on a
# copy of its seed corpus (tests/fuzz/corpus/<target>; new inputs go to BUILD/corpus/<target>, the
# committed seeds are not touched), JOBS targets at a time. A finding leaves BUILD/crash-<target>-*
# and makes the script fail. With --tests (CI), the same sanitized build also runs the readers' unit
# tests and the bad-input suites first (the subset is SANITIZED_TESTS below).
#   scripts/fuzz.sh [--tests] [SECONDS=60] [TARGET...]    env: BUILD=build-fuzz JOBS=2 CXX=clang++-14
# Reproduce a finding: BUILD/tests/fuzz/fuzz_<target> BUILD/crash-<target>-<hash>
set -uo pipefail
cd "$(dirname "$0")/.."
with_tests=0; [[ ${1:-} == --tests ]] && { with_tests=1; shift; }
seconds=${1:-60}; shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(idx idx_gz cifar image config safetensors checkpoint model_file run_history)
build=${BUILD:-build-fuzz}
jobs=${JOBS:-2}
# The unit tests (CTest names) and program checks that run under ASan+UBSan with --tests: everything
# that reads files or parses text, plus the tensor core they allocate through.
SANITIZED_TESTS='^(Safetensors|Idx|Cifar|ImageIo|ImageFolder|Dataset|DatasetTest|Preprocess|Checkpoint|Config|RunHistory|CurveReading|SvgChart|ReportPage|FuzzRegression|Tensor[A-Za-z]*)\.|^cli\.bad_input'
cxx=${CXX:-$(command -v clang++-14 || command -v clang++)}
[[ -n "$cxx" ]] || { echo "fuzz.sh: needs clang++ (apt-get install clang)"; exit 1; }
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
tests_flag=OFF; [[ $with_tests -eq 1 ]] && tests_flag=ON
start=$(date +%s)
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCVTRAIN_FUZZ=ON -DCVTRAIN_BUILD_TESTS=$tests_flag -DCVTRAIN_BUILD_BENCH=OFF > "$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
extra=(); [[ $with_tests -eq 1 ]] && extra=(cvtrain_cli test_tensor test_data test_train test_fuzz_regression)
ninja -C "$build" -j "$jobs" "${targets[@]/#/fuzz_}" "${extra[@]}" > "$build.build.log" 2>&1 ||
  { tail -40 "$build.build.log"; exit 1; }
echo "fuzz.sh: built in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
failed=()
if [[ $with_tests -eq 1 ]]; then
  t0=$(date +%s)
  # NOTE: no leak check in the program runs: oneDNN and OpenMP keep process-lifetime caches.
  (cd "$build" && ASAN_OPTIONS=detect_leaks=0 ctest -j "$jobs" -R "$SANITIZED_TESTS" --output-on-failure) > "$build/sanitized-tests.log" 2>&1 ||
    { grep -E "Failed|FAIL|ERROR|runtime error" "$build/sanitized-tests.log" | head -20; failed+=(unit-tests); }
  echo "fuzz.sh: sanitized tests: $(grep -o '[0-9]*% tests passed.*' "$build/sanitized-tests.log") ($(( $(date +%s) - t0 )) s)"
fi

run_one() {  # target -> BUILD/fuzz-<target>.log, one summary line on stdout, the fuzzer's exit code
  local t=$1 work="$build/corpus/$1" t0 rc runs cov
  mkdir -p "$work" "$build/tmp"; t0=$(date +%s)
  # -malloc_limit_mb: an allocation above it is a finding (declared sizes must not drive allocation).
  TMPDIR="$PWD/$build/tmp" "$build/tests/fuzz/fuzz_$t" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -max_len=65536 \
    -malloc_limit_mb=1024 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/crash-$t-" > "$build/fuzz-$t.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-$t.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$build/fuzz-$t.log" | tail -1)
  echo "fuzz_$t: $(( $(date +%s) - t0 )) s, ${runs:-?} runs, $cov, corpus $(ls "$work" | wc -l) files, exit $rc"
  [[ $rc -eq 0 ]] || grep -m3 -E '^SUMMARY|^fuzz:|ERROR: libFuzzer' "$build/fuzz-$t.log"
  return $rc
}
pids=(); names=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!); names+=("$t")
  if [[ ${#pids[@]} -ge $jobs ]]; then
    wait "${pids[0]}" || failed+=("${names[0]}"); pids=("${pids[@]:1}"); names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
echo "fuzz.sh: total $(( $(date +%s) - start )) s"
[[ ${#failed[@]} -eq 0 ]] || { echo "fuzz.sh: findings in: ${failed[*]} (logs: $build/fuzz-<target>.log)"; exit 1; }
