#!/usr/bin/env bash
# Builds every fuzz target and runs each, one after the other, for SECONDS
# seconds; prints the executions per target and in total. Run by hand (not
# in CI): see README.md, "Fuzzing".
#
#   fuzz/run.sh 90            # every target, 90 s each
#   fuzz/run.sh 60 envelope   # only the named targets
#
# cargo-fuzz needs -Z flags: on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# it use them. Runs under `nice -n 19`, one target at a time, so it only
# takes cores nobody else wants. Exits non-zero if any target crashed (the
# input is then in fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "error: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# `cargo fuzz build` takes one target or all; build all when several.
if [ ${#targets[@]} -eq 1 ]; then
  nice -n 19 cargo fuzz build -O "${targets[0]}"
else
  nice -n 19 cargo fuzz build -O
fi

mkdir -p logs
total=0
failed=()
printf '%-20s %15s %10s\n' target executions exec/s
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="logs/$target.log"
  status=0
  # Each target writes its seed inputs into its corpus on start
  # (credit_fuzz::write_seeds).
  CREDIT_FUZZ_SEEDS="corpus/$target" nice -n 19 cargo fuzz run -O "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -max_len=16384 -timeout=25 \
    -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  runs=${runs:-0}
  total=$((total + runs))
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    printf '%-20s %15s %10s  FAILED (exit %s, see fuzz/%s)\n' "$target" "$runs" "-" "$status" "$log"
  else
    printf '%-20s %15s %10s\n' "$target" "$runs" "$((runs / (seconds > 0 ? seconds : 1)))"
  fi
done
printf '%-20s %15s\n' total "$total"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]}" >&2
  exit 1
fi
