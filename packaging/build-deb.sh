#!/usr/bin/env bash
# Builds the Debian package, target/debian/balance-alert_<version>-1_<arch>.deb:
#
#   bash packaging/build-deb.sh                                     # for this machine's libc
#   bash packaging/build-deb.sh --target x86_64-unknown-linux-musl  # static: any Debian/Ubuntu
#   bash packaging/build-deb.sh --no-build [--target T]             # pack an existing release build
#
# Needs cargo-deb (`cargo install --locked cargo-deb`; about a minute to build). The man
# page, the completions and the package's systemd unit are made here, into
# target/deb-assets/, from the release binary itself (`man`, `completions`) and from
# systemd/balance-alert.service, so they can never go stale against the code; then
# cargo-deb packs what [package.metadata.deb] in Cargo.toml lists. Plain `cargo deb`
# without this script fails: it would find no target/deb-assets/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { echo "usage: $0 [--target TRIPLE] [--no-build]" >&2; exit 2; }
target=""
build=yes
while (($#)); do
  case $1 in
    --target) (($# >= 2)) || usage; target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    --no-build) build=""; shift ;;
    *) usage ;;
  esac
done
command -v cargo-deb >/dev/null ||
  { echo "cargo-deb is not installed: cargo install --locked cargo-deb" >&2; exit 1; }

target_dir=${CARGO_TARGET_DIR:-target}
target_args=()
bin=$target_dir/release/balance-alert
if [ -n "$target" ]; then
  target_args=(--target "$target")
  bin=$target_dir/$target/release/balance-alert
fi
if [ -n "$build" ]; then
  cargo build --release --locked "${target_args[@]}"
fi
[ -x "$bin" ] || { echo "no release binary at $bin (build it, or drop --no-build)" >&2; exit 1; }

out=target/deb-assets
rm -rf "$out"
mkdir -p "$out/completions"
"$bin" man | gzip -9n >"$out/balance-alert.1.gz"
"$bin" completions bash >"$out/completions/balance-alert"
"$bin" completions zsh >"$out/completions/_balance-alert"
"$bin" completions fish >"$out/completions/balance-alert.fish"
cp packaging/debian/balance-alert.sysusers "$out/"

# The package's unit is the repository's unit with three differences: the binary is in
# /usr/bin, the service runs as the static balance-alert user and group from sysusers.d
# (so the config can be root:balance-alert 0640, which a DynamicUser= cannot read), and
# the header tells how to start it. Each substitution must hit, or the unit changed
# under this script and the package would silently ship the standalone flavour.
src=systemd/balance-alert.service
unit=$out/balance-alert.service
need() { [ "$(grep -c -- "$1" "$src")" -ge "$2" ] || { echo "$src: expected $2+ lines matching '$1'; update $0" >&2; exit 1; }; }
need '^Exec.*=/usr/local/bin/balance-alert ' 2
need '^DynamicUser=yes$' 1
need '^\[Unit\]$' 1
{
  cat <<'HEADER'
# balance-alert: watches Exotel account balances and alerts before the money runs out.
#
# Installed by the balance-alert Debian package: not enabled and not started. Write
# /etc/balance-alert/config.toml first (root:balance-alert, mode 0640; an example is in
# /usr/share/doc/balance-alert/examples/), put the secrets it reads in /etc/credstore
# (the LoadCredential= lines below), check it with `balance-alert validate`, then
#   systemctl enable --now balance-alert
# This file is replaced on upgrade: change credentials, Environment= or RUST_LOG in a
# drop-in (systemctl edit balance-alert; an empty LoadCredential= clears the list).
# See man balance-alert and /usr/share/doc/balance-alert/README.md.

HEADER
  sed -n '/^\[Unit\]$/,$p' "$src" |
    sed -e 's|=/usr/local/bin/balance-alert |=/usr/bin/balance-alert |' \
      -e 's|^DynamicUser=yes$|# The static user and group from /usr/lib/sysusers.d/balance-alert.conf.\nUser=balance-alert\nGroup=balance-alert|'
} >"$unit"
if grep -q '/usr/local' "$unit" || ! grep -q '^User=balance-alert$' "$unit"; then
  echo "$unit: the substitutions did not apply" >&2
  exit 1
fi

cargo deb --no-build "${target_args[@]}"
