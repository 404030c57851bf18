#!/usr/bin/env bash
# Installs what the tests need (Debian and Python packages: Python, Chromium
# and chromedriver for the browser test, Prosody and ejabberd as federation
# peers), then runs every test: formatting, lints, unit and integration
# tests, interop and browser tests.
# SKIP_INSTALL=1 skips the installation step.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  echo "==> installing test dependencies"
  apt_packages=()
  command -v python3 >/dev/null || apt_packages+=(python3 python3-pip)
  # The documentation's shell examples call the API with curl.
  command -v curl >/dev/null || apt_packages+=(curl)
  command -v chromium >/dev/null || apt_packages+=(chromium)
  command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
  # Federation peers. The tests start them with private configurations;
  # the system services are kept from starting (policy-rc.d) so that
  # nothing else listens on 5269.
  command -v prosody >/dev/null || apt_packages+=(prosody)
  command -v ejabberdctl >/dev/null || apt_packages+=(ejabberd)
  if [ ${#apt_packages[@]} -gt 0 ]; then
    apt-get update -qq
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    [ -e "$policy" ] && had_policy=1
    [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
    [ $had_policy = 1 ] || rm -f "$policy"
  fi
  python3 -m pip install -q --disable-pip-version-check -r interop/requirements.txt 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages -r interop/requirements.txt
fi

# Interop and browser tests must run here: a missing tool is a failure, not a skip.
export WHASSAP_TEST_REQUIRE_INTEROP=1

# Several nodes share PostgreSQL and NATS (SPEC §7): both must answer here.
# The tests create and drop their own databases on this server.
export WHASSAP_TEST_POSTGRES="${WHASSAP_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
export WHASSAP_TEST_NATS="${WHASSAP_TEST_NATS:-nats://127.0.0.1:4222}"
answers() { # host port what
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null || {
    echo "!!! $3 does not answer on $1:$2: the multi-node tests need it running" >&2
    exit 1
  }
}
pg_hostport="${WHASSAP_TEST_POSTGRES#*@}"; pg_hostport="${pg_hostport%%/*}"
answers "${pg_hostport%:*}" "${pg_hostport##*:}" PostgreSQL
nats_hostport="${WHASSAP_TEST_NATS#nats://}"
answers "${nats_hostport%:*}" "${nats_hostport##*:}" NATS
# One build, tested once: incremental compilation data would only double
# the disk the build takes (about 9 GB for the test binaries).
export CARGO_INCREMENTAL=0

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace
echo "==> the integration suite once more, every server on PostgreSQL"
WHASSAP_TEST_DATABASE=postgres cargo test -p whassap-tests
