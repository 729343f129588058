#!/usr/bin/env bash
# The dashboard in a real browser (issue 12): Debian's chromium, headless, loads the page
# served by the real daemon and checks
#   1. the accounts are in the DOM (--dump-dom), the hostile name as text, no <script>;
#   2. no request leaves the host: every URL in Chromium's NetLog is the daemon's own;
#   3. no console message (a CSP violation, a failed load, a script error) is logged;
# and keeps screenshots (desktop, 390 px phone, dark mode) under target/browser/.
#
# The daemon runs against a local stand-in for Exotel (python3's http.server serving
# Balance.json files that a loop rewrites every second, so the sparklines have a trend).
# Self-sufficient on Debian bookworm: installs chromium when it is missing (needs root).
# Usage: bash .ci/browser.sh   (from anywhere)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
OUT=$REPO/target/browser
rm -rf "$OUT"
mkdir -p "$OUT"
fail() { printf 'browser: FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '\n== browser: %s\n' "$*"; }

step "chromium"
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
chromium --version

step "build"
cargo build --locked --quiet
BIN=$REPO/target/debug/balance-alert

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EXOTEL_PORT=$(free_port)
WEB_PORT=$(free_port)

step "Exotel stand-in on 127.0.0.1:$EXOTEL_PORT"
# sid → starting balance and drop per second.
ACCOUNTS=(
  "primary:acme-prod:4600:40"
  "campaigns:acme-mktg:1150:25"
  "backup:acme-backup:52000:0"
  "support-line:acme-support:23000:150"
)
write_balances() {
  local t=$1 entry name sid start drop
  for entry in "${ACCOUNTS[@]}"; do
    IFS=: read -r name sid start drop <<<"$entry"
    mkdir -p "$WORK/exotel/v1/Accounts/$sid"
    printf '{"Account":{"AccountSid":"%s","BalanceData":{"Balance":"%s.50","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-12-03 10:00:00"}}}' \
      "$sid" $((start - drop * t)) >"$WORK/exotel/v1/Accounts/$sid/Balance.json.tmp"
    mv "$WORK/exotel/v1/Accounts/$sid/Balance.json.tmp" "$WORK/exotel/v1/Accounts/$sid/Balance.json"
  done
  # A hostile name must show as text; its wallet answers like any other.
  mkdir -p "$WORK/exotel/v1/Accounts/evil"
  printf '{"Balance":{"Amount":%s}}' $((9000 - 10 * t)) >"$WORK/exotel/v1/Accounts/evil/Balance.json"
}
write_balances 0
python3 -m http.server "$EXOTEL_PORT" --bind 127.0.0.1 --directory "$WORK/exotel" >"$WORK/exotel.log" 2>&1 &
PIDS+=($!)
( for t in $(seq 1 600); do sleep 1; write_balances "$t"; done ) &
PIDS+=($!)

step "daemon on 127.0.0.1:$WEB_PORT"
{
  printf '[daemon]\nstate_file = "%s/state.json"\nlisten = "127.0.0.1:%s"\ntimezone = "Asia/Kolkata"\n' "$WORK" "$WEB_PORT"
  for entry in "${ACCOUNTS[@]}"; do
    IFS=: read -r name sid _ _ <<<"$entry"
    printf '\n[[account]]\nname = "%s"\nsid = "%s"\napi_key = "k"\napi_token = "t"\nbase_url = "http://127.0.0.1:%s"\npoll_interval = "1s"\nnotify = ["console"]\nwarning = { below = 5000, clear_above = 6000 }\ncritical = { below = 1000, clear_above = 1500 }\n' \
      "$name" "$sid" "$EXOTEL_PORT"
  done
  printf '\n[[account]]\nname = "<script>alert(1)</script>"\nsid = "evil"\napi_key = "k"\napi_token = "t"\nbase_url = "http://127.0.0.1:%s"\npoll_interval = "1s"\nnotify = ["console"]\nwarning = { below = 5000 }\n' "$EXOTEL_PORT"
  printf '\n[[channel]]\nname = "console"\ntype = "console"\n'
} >"$WORK/config.toml"
"$BIN" validate -c "$WORK/config.toml"
RUST_LOG=warn "$BIN" run -c "$WORK/config.toml" >"$WORK/daemon.out" 2>"$WORK/daemon.log" &
PIDS+=($!)
URL="http://127.0.0.1:$WEB_PORT/"
fetch() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1"; }
for _ in $(seq 1 100); do
  fetch "$URL" 2>/dev/null && break
  sleep 0.1
done
fetch "$URL" || { cat "$WORK/daemon.log"; fail "the daemon does not serve $URL"; }
# Enough polls for a trend line.
sleep 8

chrome() {
  local profile
  profile=$(mktemp -d)
  # No proxy, no background services: the NetLog then holds the page's requests only.
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --no-proxy-server \
    --disable-features=AutofillServerCommunication,NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter \
    --disable-client-side-phishing-detection --no-default-browser-check \
    --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
    --user-data-dir="$profile" --enable-logging=stderr --v=0 "$@"
  rm -rf "$profile"
}

step "load, dump the DOM, log the network"
chrome --log-net-log="$OUT/netlog.json" --net-log-capture-mode=Default \
  --virtual-time-budget=3000 --dump-dom "$URL" >"$OUT/dom.html" 2>"$OUT/chromium.log"

step "check: the accounts are in the DOM"
for name in primary campaigns backup support-line; do
  grep -q ">$name</a>" "$OUT/dom.html" || fail "account $name is not in the DOM"
done
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;</a>' "$OUT/dom.html" ||
  fail "the hostile account name is not shown as text"
if grep -qi '<script' "$OUT/dom.html"; then fail "the DOM holds a <script> element"; fi
grep -q '<svg class="s"' "$OUT/dom.html" || fail "no sparkline in the DOM"
grep -q 'class="f"' "$OUT/dom.html" && echo "(a forecast line is drawn)" || true
grep -q '<td>critical' "$OUT/dom.html" || fail "no account reads critical"
grep -q '<td>warning' "$OUT/dom.html" || fail "no account reads warning"

step "check: no request leaves the host"
# Every request the page makes (its initiator is the page's origin) must go to the
# daemon; so must every navigation. Chromium's own service requests (initiator "not an
# origin": component updates, sign-in) are listed but are not the page's doing; the
# host resolver rules above keep them from resolving anyway.
netcheck() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
path, own_origin = sys.argv[1], sys.argv[2]
text = open(path).read().rstrip().rstrip(",")
if not text.endswith("}"):
    text += "]}"  # a NetLog cut short by exit lacks its closing brackets
log = json.loads(text)
page, browser = set(), set()
for event in log.get("events", []):
    params = event.get("params") or {}
    url, initiator = params.get("url"), params.get("initiator")
    if not isinstance(url, str) or initiator is None:
        continue
    (page if initiator == own_origin or url.startswith(own_origin + "/") else browser).add(url)
print("the page's requests:", *sorted(page), sep="\n  ")
if browser:
    print("Chromium's own service requests (not the page's):", *sorted(browser), sep="\n  ")
if not any(u.startswith(own_origin + "/") for u in page):
    sys.exit("browser: FAIL: the NetLog does not hold the dashboard's URL: the check is blind")
foreign = sorted(u for u in page if not u.startswith(own_origin + "/") and not u.startswith("data:"))
if foreign:
    sys.exit("browser: FAIL: requests left the host: " + ", ".join(foreign))
PY
}
# First prove the check can fail: a page with one external image must be caught.
mkdir -p "$WORK/exotel/selftest"
printf '<!doctype html><title>t</title><img src="http://example.invalid/x.png"><script>console.error("selftest")</script>' \
  >"$WORK/exotel/selftest/index.html"
chrome --log-net-log="$OUT/selftest-netlog.json" --virtual-time-budget=2000 --dump-dom \
  "http://127.0.0.1:$EXOTEL_PORT/selftest/" >/dev/null 2>"$OUT/selftest-chromium.log"
if netcheck "$OUT/selftest-netlog.json" "http://127.0.0.1:$EXOTEL_PORT" >/dev/null 2>&1; then
  fail "the network check did not catch a page that loads an external image"
fi
echo "(self-test: an external image is caught)"
netcheck "$OUT/netlog.json" "http://127.0.0.1:$WEB_PORT" || exit 1

step "check: no console message"
CONSOLE_PATTERN='CONSOLE\(|:CONSOLE|Refused to|Content Security Policy|Uncaught'
grep -Eq "$CONSOLE_PATTERN" "$OUT/selftest-chromium.log" ||
  fail "the console check did not catch the self-test page's console.error"
echo "(self-test: a console message is caught)"
# Chromium logs console messages (errors, CSP violations) as CONSOLE(...) or "Console".
if grep -Ei "$CONSOLE_PATTERN" "$OUT/chromium.log"; then
  fail "the page logged console messages (above)"
fi

step "screenshots"
chrome --window-size=1280,1000 --hide-scrollbars --virtual-time-budget=3000 \
  --screenshot="$OUT/dashboard.png" "$URL" 2>>"$OUT/chromium.log"
chrome --window-size=390,1200 --hide-scrollbars --virtual-time-budget=3000 \
  --screenshot="$OUT/dashboard-phone.png" "$URL" 2>>"$OUT/chromium.log"
chrome --window-size=1280,1000 --hide-scrollbars --virtual-time-budget=3000 \
  --blink-settings=preferredColorScheme=0 --force-dark-mode \
  --screenshot="$OUT/dashboard-dark.png" "$URL" 2>>"$OUT/chromium.log"
chrome --window-size=1280,1000 --hide-scrollbars --virtual-time-budget=3000 \
  --screenshot="$OUT/account.png" "${URL}accounts/primary" 2>>"$OUT/chromium.log"
for png in dashboard dashboard-phone dashboard-dark account; do
  [ -s "$OUT/$png.png" ] || fail "no screenshot $png.png"
done
ls -l "$OUT"
echo "browser: OK"
