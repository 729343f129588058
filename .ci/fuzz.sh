#!/usr/bin/env bash
# Bounded fuzzing for CI (issue 7): every target for FUZZ_SECONDS (default 45 s), seeded
# from tests/fixtures. Longer runs by hand: FUZZ_SECONDS=3600 bash .ci/fuzz.sh
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-45}"
# libFuzzer is C++, built by libfuzzer-sys with the system compiler.
if command -v apt-get >/dev/null; then
  source .ci/lib.sh
  apt_install g++
fi
rustup toolchain install nightly --profile minimal >/dev/null
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
corpus=fuzz/corpus
mkdir -p "$corpus/config" "$corpus/exotel_balance" "$corpus/retry_after" "$corpus/provider_response"
cp tests/fixtures/valid/*.toml tests/fixtures/invalid/*.toml "$corpus/config/" 2>/dev/null || true
cp config/balance-alert.toml "$corpus/config/"
for f in tests/fixtures/exotel/*.json; do [ -e "$f" ] && cp "$f" "$corpus/exotel_balance/"; done
printf '%s' '{"Account":{"AccountSid":"acme","BalanceData":{"Balance":"1543.75","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}' > "$corpus/exotel_balance/documented.json"
printf '%s' '{"Balance":{"Amount":618.3}}' > "$corpus/exotel_balance/short.json"
printf '%s' '{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}' > "$corpus/exotel_balance/exception.json"
printf '%s' '120' > "$corpus/retry_after/seconds"
printf '%s' 'Wed, 21 Oct 2015 07:28:00 GMT' > "$corpus/retry_after/date"
# provider_response: the first byte picks the provider (ProviderConfig::NAMES order:
# exotel, twilio, plivo, vonage, telnyx, infobip), the rest is a documented body.
pr="$corpus/provider_response"
printf '\x00%s' '{"Account":{"BalanceData":{"Balance":"1543.75","Currency":"INR"}}}' > "$pr/exotel"
printf '\x01%s' '{"account_sid":"AC0123456789abcdef","balance":"12.50","currency":"USD"}' > "$pr/twilio"
printf '\x01%s' '{"code":20003,"message":"Authenticate","status":401}' > "$pr/twilio-error"
printf '\x02%s' '{"account_type":"standard","cash_credits":"4.87500","billing_mode":"prepaid"}' > "$pr/plivo"
printf '\x02%s' '{"api_id":"5a9f","error":"authentication failed"}' > "$pr/plivo-error"
printf '\x03%s' '{"value":10.28,"autoReload":false}' > "$pr/vonage"
printf '\x03%s' '{"error-code":"401","error-code-label":"authentication failed"}' > "$pr/vonage-error"
printf '\x04%s' '{"data":{"balance":"1.00","available_credit":"3.25","currency":"USD"}}' > "$pr/telnyx"
printf '\x04%s' '{"errors":[{"code":"10009","title":"Authentication failed"}]}' > "$pr/telnyx-error"
printf '\x05%s' '{"balance":47.79,"currency":"EUR"}' > "$pr/infobip"
printf '\x05%s' '{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid"}}}' > "$pr/infobip-error"
printf '\x00%s' '<html><head><title>502 Bad Gateway</title></head></html>' > "$pr/html"
for target in exotel_balance provider_response retry_after config; do
  echo "== fuzz $target (${seconds}s)"
  cargo +nightly fuzz run "$target" "$corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
