#!/usr/bin/env bash
# Installs what fixhost needs on Debian 12 (only what is missing), the npm packages the tests
# and the demo use, then configures and builds fixhost (Ninja, Release) into build/.
# Safe to run again: every step is skipped when already done.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

pkgs=(cmake ninja-build g++ git pkg-config
      libboost-dev libboost-filesystem-dev libboost-system-dev librocksdb-dev libcereal-dev
      libspdlog-dev libfmt-dev doctest-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
      libpugixml-dev libsimdjson-dev libgit2-dev
      libssl-dev zlib1g-dev libbrotli-dev pkg-config python3-sentry-sdk  # heal: serve (OpenSSL HMAC, gzip, br), the SDK in tests
      python3-pytest python3-junitparser python3-flake8 python3-mypy
      bubblewrap
      chromium  # the dashboard test renders hostctl stats --html headless (tests/dashboard/)
      node-typescript  # tsc for hostctl build's tests and demo (integration type check)
      libnats-dev nats-server  # the cluster (docs/CLUSTER.md); its tests start their own servers
      clang-14)  # the fuzz build (scripts/fuzz.sh, run by .ci/run); libFuzzer comes with it
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the parser conformance tests and the demo, from their lock files: jest
# (tests/fixtures), vitest and mocha + mocha-junit-reporter (the junit runner's fixtures).
for dir in tests/fixtures tests/fixtures/vitest tests/fixtures/mocha examples/demo/js; do
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules/.bin" ]; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
  fi
done

build=${FIXHOST_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build"
