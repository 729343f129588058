#!/usr/bin/env bash
# Bounded fuzzing for CI (issue 7): every target for FUZZ_SECONDS (default 45 s), seeded
# from tests/fixtures. Longer runs by hand: FUZZ_SECONDS=3600 bash .ci/fuzz.sh
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-45}"
rustup toolchain install nightly --profile minimal >/dev/null
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
corpus=fuzz/corpus
mkdir -p "$corpus/config" "$corpus/exotel_balance" "$corpus/retry_after"
cp tests/fixtures/valid/*.toml tests/fixtures/invalid/*.toml "$corpus/config/" 2>/dev/null || true
cp config/balance-alert.toml "$corpus/config/"
for f in tests/fixtures/exotel/*.json; do [ -e "$f" ] && cp "$f" "$corpus/exotel_balance/"; done
printf '%s' '{"Account":{"AccountSid":"acme","BalanceData":{"Balance":"1543.75","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}' > "$corpus/exotel_balance/documented.json"
printf '%s' '{"Balance":{"Amount":618.3}}' > "$corpus/exotel_balance/short.json"
printf '%s' '{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}' > "$corpus/exotel_balance/exception.json"
printf '%s' '120' > "$corpus/retry_after/seconds"
printf '%s' 'Wed, 21 Oct 2015 07:28:00 GMT' > "$corpus/retry_after/date"
for target in exotel_balance retry_after config; do
  echo "== fuzz $target (${seconds}s)"
  cargo +nightly fuzz run "$target" "$corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
