#!/usr/bin/env bash
# Fuzz the C parser and aggregation with libFuzzer + ASan/UBSan for a bounded time.
# FUZZ_SECONDS (default 60). Seeds come from the committed link-type fixtures.
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-60}
work=${FUZZ_WORK:-corpus-work}
command -v clang >/dev/null || { echo "run-fuzz: clang is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
mkdir -p build "$work"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  fuzz_parse.c ../src/parse.c ../src/agg.c -o build/fuzz_parse
cc -O1 make_seeds.c -o build/make_seeds -lpcap
build/make_seeds "$work" ../../test/fixtures/captures/*.pcap ../../test/fixtures/captures/*.pcapng
echo "fuzzing for ${secs}s (corpus: $work)"
build/fuzz_parse -max_total_time="$secs" -max_len=2048 -print_final_stats=1 "$work" 2>&1 | tail -n 12
echo "fuzz: no crashes in ${secs}s"
