#!/usr/bin/env bash
# Builds and runs one libFuzzer target of YOLOKit (see README, "Bad input and fuzzing").
#
#   scripts/fuzz.sh TARGET SECONDS [--asan] [-- LIBFUZZER_ARGS...]   fuzz for SECONDS (one process, one core)
#   scripts/fuzz.sh TARGET repro [--asan] FILE...                    run the target once on each FILE
#   scripts/fuzz.sh build [--asan]                                   only build
#
# TARGET: image | darknet-cfg | darknet-weights | torch | safetensors
#
# The fuzzer binary is Fuzz/*.swift compiled together with Sources/YOLOKit into one module (swiftc
# -sanitize=fuzzer, plus -sanitize=address with --asan); the C shim, ZIPFoundation and our Swift code are
# coverage-instrumented, the system libjpeg/libpng/zlib/OpenBLAS are not. Build outputs live in
# .build-fuzzer/ (git-ignored). Seeds come from Fuzz/corpus/TARGET (committed, made by
# scripts/make-fuzz-corpus.py); new inputs go to .build-fuzzer/corpus/TARGET, crashes to
# .build-fuzzer/artifacts/TARGET/. A crash makes this script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage

targets=(image darknet-cfg darknet-weights torch safetensors)
target=$1; shift
mode=fuzz; seconds=0
if [ "$target" = build ]; then
  mode=build
else
  printf '%s\n' "${targets[@]}" | grep -qx -- "$target" || { echo "unknown target '$target' (one of: ${targets[*]})" >&2; exit 2; }
  [ $# -ge 1 ] || usage
  if [ "$1" = repro ]; then mode=repro; else seconds=$1; [[ $seconds =~ ^[0-9]+$ ]] || usage; fi
  shift
fi
asan=0
if [ "${1:-}" = --asan ]; then asan=1; shift; fi
[ "${1:-}" = -- ] && shift
extra=("$@")

variant=$([ $asan = 1 ] && echo asan || echo plain)
sanitize=$([ $asan = 1 ] && echo fuzzer,address || echo fuzzer)
build=$root/.build-fuzzer
out=$build/$variant
bin=$out/yolo-fuzz
mkdir -p "$out"

# ZIPFoundation sources: the version Package.resolved pins, checked out by SwiftPM into our own scratch path.
zipdir=$build/spm/checkouts/ZIPFoundation/Sources
if [ ! -d "$zipdir/ZIPFoundation" ]; then
  echo "fuzz.sh: resolving package dependencies (ZIPFoundation sources)" >&2
  swift package resolve --scratch-path "$build/spm" >&2
fi

# Everything the harnesses reach (decoder, loaders, layers, Detector, weights files); the batch runner, the writers and
# the val code (Batch/, Output/ but the JSON writer ModelInfo uses, Dataset/ with its Yams dependency, Metrics/,
# Validation/, Plot/, and the training and quantization building blocks, Training/ and Quantization/) are left out.
sources=($(ls Sources/YOLOKit/*.swift Sources/YOLOKit/*/*.swift | grep -v -E '^Sources/YOLOKit/(Batch|Output|Dataset|Metrics|Validation|Plot|Training|Quantization)/') \
         Sources/YOLOKit/Output/JSONValue.swift Sources/YOLOKit/Output/JSONOutput.swift Fuzz/*.swift)
# One build at a time per variant (two fuzz.sh runs may start together).
exec 9> "$out/.lock"
flock 9
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" Sources/CImageCodecs scripts/fuzz.sh -newer "$bin" -type f 2>/dev/null | head -1)" ]; then
  echo "fuzz.sh: building $variant fuzzer ($sanitize) in ${out#$root/}" >&2
  # C shim over libjpeg/libpng, and a module map for it.
  mkdir -p "$out/CImageCodecs"
  printf 'module CImageCodecs {\n    header "%s/Sources/CImageCodecs/include/image_codecs.h"\n    export *\n}\n' "$root" \
    > "$out/CImageCodecs/module.modulemap"
  clang -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link$([ $asan = 1 ] && echo ,address) \
    -ISources/CImageCodecs/include -c Sources/CImageCodecs/image_codecs.c -o "$out/image_codecs.o"
  # ZIPFoundation as a static library + module.
  swiftc -parse-as-library -O -g -swift-version 5 -sanitize=$sanitize -module-name ZIPFoundation \
    -I "$zipdir/CZLib" -Xcc -D_GNU_SOURCE=1 -suppress-warnings \
    -emit-library -static -emit-module -emit-module-path "$out/ZIPFoundation.swiftmodule" \
    -o "$out/libZIPFoundation.a" "$zipdir"/ZIPFoundation/*.swift
  # YOLOKit + the harnesses as one module, linked with libFuzzer's main. (Retried when another checkout user
  # edits a source file mid-compile: swiftc refuses a file "modified during the build".)
  for attempt in 1 2 3 4 5; do
    if swiftc -parse-as-library -O -g -swift-version 5 -sanitize=$sanitize -module-name YOLOKit \
         -I "$out" -I "$out/CImageCodecs" -I Sources/COpenBLAS -I "$zipdir/CZLib" -Xcc -D_GNU_SOURCE=1 \
         "${sources[@]}" "$out/image_codecs.o" "$out/libZIPFoundation.a" \
         -lopenblas -llapacke -ljpeg -lpng16 -lz -o "$bin.tmp" 2> "$out/swiftc.log"; then
      grep -v "Cannot export local symbol" "$out/swiftc.log" >&2 || true  # ld.gold noise with ASan
      break
    fi
    grep -v "Cannot export local symbol" "$out/swiftc.log" >&2 || true
    grep -q "modified during the build" "$out/swiftc.log" && [ $attempt -lt 5 ] || exit 1
    echo "fuzz.sh: a source changed during the build, retrying" >&2
    sleep 5
  done
  mv "$bin.tmp" "$bin"
fi
flock -u 9
[ $mode = build ] && { echo "$bin"; exit 0; }

export YOLO_FUZZ_TARGET=$target
# While fuzzing, let libFuzzer's own handler see traps (SIGILL) so that it saves the input; `repro` keeps
# Swift's readable backtraces.
[ $mode = fuzz ] && export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
# Swift keeps caches reachable from globals, which is not a leak; a real leak is still reported.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/Fuzz/lsan.supp:print_suppressions=0}

if [ $mode = repro ]; then
  [ ${#extra[@]} -ge 1 ] || usage
  exec "$bin" -rss_limit_mb=2048 "${extra[@]}"
fi

# Input size caps: enough for every seed of the target, small enough to keep executions fast.
case $target in
  image) max_len=24576 ;;
  darknet-cfg) max_len=4096 ;;
  darknet-weights) max_len=4096 ;;
  torch) max_len=24576 ;;
  safetensors) max_len=4096 ;;
esac
# Each variant keeps its own working corpus: the ASan build is 5-30x slower, and replaying a large corpus
# grown by the plain build would take its whole time budget.
work=$build/corpus/$target$([ $asan = 1 ] && echo -asan || true)
artifacts=$build/artifacts/$target
mkdir -p "$work" "$artifacts"
dict=()
[ -f "Fuzz/dict/$target.dict" ] && dict=(-dict="Fuzz/dict/$target.dict")
log=$build/$target-$variant-$(date +%Y%m%d-%H%M%S).log
echo "fuzz.sh: $target for ${seconds}s ($variant); log: ${log#$root/}" >&2
set +e
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "${dict[@]}" "${extra[@]}" "$work" "Fuzz/corpus/$target" 2>&1 | tee "$log" | \
  grep --line-buffered -E '^#[0-9]+ +(INITED|DONE|pulse)|ERROR|FUZZ PROPERTY|Fatal error|SUMMARY|^stat::|artifact_prefix|Test unit written|==[0-9]+==' >&2
status=${PIPESTATUS[0]}
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
echo "fuzz.sh: $target ($variant): exit $status, ${execs:-?} executions, ${rate:-?} exec/s, peak RSS ${rss:-?} MB," \
  "corpus $(ls "$work" | wc -l) new + $(ls "Fuzz/corpus/$target" | wc -l) seed files" >&2
exit "$status"
