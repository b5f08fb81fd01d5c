#!/usr/bin/env bash
# Fuzz the SOPS decryptor and the manifest loader: scripts/fuzz.sh [SECONDS] (default 30 per
# target). Needs cargo-fuzz (installed here when missing). cargo-fuzz wants a nightly
# compiler; on a stable-only machine RUSTC_BOOTSTRAP=1 lets stable rustc accept the nightly
# flags, and the address sanitizer works too (its runtime ships with stable; std itself is
# not instrumented). If the ASan build fails, the targets run with `--sanitizer none`
# (coverage guidance still works, and Rust's own checks still catch panics).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"

cd fuzz
sanitizer=()
if ! cargo fuzz build -O sops_decrypt >/dev/null 2>&1; then
    echo "fuzz.sh: the address-sanitizer build failed; fuzzing with --sanitizer none"
    sanitizer=(--sanitizer none)
fi
for target in sops_decrypt manifest_load; do
    echo "==> cargo fuzz run $target (${secs}s)"
    mkdir -p "corpus/$target"
    cargo fuzz run "${sanitizer[@]}" -O "$target" "corpus/$target" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
        tee "/tmp/aegis-fuzz-$target.log" | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|SUMMARY|thread .* panicked)' || true
    if grep -qE 'panicked|deadly signal|SUMMARY: libFuzzer' "/tmp/aegis-fuzz-$target.log"; then
        echo "fuzz.sh: $target found a crash; see /tmp/aegis-fuzz-$target.log and fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "fuzz.sh: no crash"
