#!/usr/bin/env bash
# Idle RSS of the production binary with one account (budget: 6 MiB).
#
# Unlike examples/load.rs, nothing but the daemon lives in the measured process: a tiny
# Python server on 127.0.0.1 stands in for Exotel and for a webhook receiver, and the
# real `balance-alert run` (release profile, as shipped) polls it every 5 s. After
# $SETTLE seconds (default 20: several polls) VmRSS and VmHWM are read from
# /proc/PID/status and the daemon is stopped with SIGTERM.
#
#   cargo build --release && benches/idle_rss.sh [path/to/balance-alert]
set -euo pipefail
BIN=${1:-target/release/balance-alert}
SETTLE=${SETTLE:-20}
DIR=$(mktemp -d)
trap 'kill "${MOCK:-}" "${DAEMON:-}" 2>/dev/null || true; rm -rf "$DIR"' EXIT

cat >"$DIR/mock.py" <<'PY'
import http.server, sys
BODY = b'{"Account":{"AccountSid":"acme","BalanceData":{"Balance":"9000.00","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}'
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _send(self, body):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        with open(sys.argv[1], "a") as polls:
            polls.write("poll\n")
        self._send(BODY)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._send(b"{}")
    def log_message(self, *args):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$DIR/mock.py" "$DIR/polls" >"$DIR/port" &
MOCK=$!
for _ in $(seq 50); do [ -s "$DIR/port" ] && break; sleep 0.1; done
PORT=$(cat "$DIR/port")

cat >"$DIR/config.toml" <<TOML
[daemon]
state_file = "$DIR/state.json"

[[account]]
name = "primary"
sid = "acme"
api_key = "key"
api_token = "token"
base_url = "http://127.0.0.1:$PORT"
poll_interval = "5s"
notify = ["events"]
warning = { below = 5000, clear_above = 6000 }

[[channel]]
name = "events"
type = "webhook"
url = "http://127.0.0.1:$PORT/hook"
TOML
chmod 600 "$DIR/config.toml"

RUST_LOG=warn "$BIN" run -c "$DIR/config.toml" &
DAEMON=$!
sleep "$SETTLE"
[ -s "$DIR/polls" ] || { echo "the account was never polled" >&2; exit 1; }
echo "polls: $(wc -l <"$DIR/polls")"
grep -E '^(VmRSS|VmHWM|Threads)' "/proc/$DAEMON/status"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
