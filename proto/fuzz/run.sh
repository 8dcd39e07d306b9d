#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 10: the smoke run
# of `make fuzz`; use 600 for the long run the proto issue asks for).
# Crashes are saved under artifacts/<target>/ and fail the run; copy each
# one into corpus/<target>-regression/ with a telling name.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-10}
targets=$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v shardgate-proto-fuzz)
export RUSTC_BOOTSTRAP=1
tc=""
if rustup toolchain list 2>/dev/null | grep -q nightly; then tc="+nightly"; fi
cargo $tc fuzz build -O >/dev/null
for t in $targets; do
  mkdir -p "corpus/$t"
  seeds=()
  [ -d "corpus/$t-regression" ] && seeds+=("corpus/$t-regression")
  echo "fuzz $t for ${secs}s"
  cargo $tc fuzz run -O "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 \
    | grep -E 'stat::number_of_executed_units|Done [0-9]+ runs|ERROR|panicked|SUMMARY' || true
  if ls "artifacts/$t"/crash-* >/dev/null 2>&1; then echo "CRASH in $t: artifacts/$t"; exit 1; fi
done
echo "fuzz: all targets ran ${secs}s without a crash"
