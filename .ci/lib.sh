# Helpers for .ci/run and .ci/ops.sh (sourced; both run as root on a Debian machine).
#
# apt_install PKG...   installs the Debian packages that are missing, running
#                      `apt-get update` at most once per CI run (CI_APT_UPDATED).
# ci_venv PKG...       makes sure the virtualenv $CI_VENV (target/ci-venv) exists and
#                      has these PyPI packages (pinned specs are best). Python tools never go
#                      into the system interpreter: Debian's python3 refuses that
#                      (PEP 668, externally-managed-environment), and rightly so.

export DEBIAN_FRONTEND=noninteractive
CI_VENV=${CI_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/ci-venv}
export CI_VENV

apt_install() {
  local missing=() p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
      missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "apt-get install ${missing[*]}"
  if [ -z "${CI_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export CI_APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ci_venv() {
  # Debian splits venv/ensurepip out of python3 into python3-venv.
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3 python3-venv
  fi
  # A venv left half-made (say, by a python3 without ensurepip) or moved (its scripts
  # name the old path) has no working pip: start over.
  if ! "$CI_VENV/bin/pip" --version >/dev/null 2>&1; then
    rm -rf "$CI_VENV"
    python3 -m venv "$CI_VENV"
  fi
  # Requirements already satisfied are not looked up on PyPI: a second run is quick.
  "$CI_VENV/bin/pip" install -q --disable-pip-version-check "$@"
}
