# Shared by scripts/demo, scripts/test and scripts/bench: Debian packages and the build.
# shellcheck shell=bash

EXSYNC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Everything exsync needs to build, test and run, from Debian 12.
EXSYNC_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libpugixml-dev libsqlite3-dev libspdlog-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libxml2-dev libxml2-utils libhowardhinnant-date-dev tzdata
  libsystemd-dev python3-exchangelib curl ca-certificates time bc
)

# Installs the packages that are missing; silent when all are present.
exsync_install_packages() {
  local missing=()
  local p
  for p in "${EXSYNC_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || { echo "apt-get update failed" >&2; return 1; }
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { echo "apt-get install failed for: ${missing[*]}" >&2; return 1; }
}

# exsync_build DIR BUILD_TYPE [extra cmake args...]
exsync_build() {
  local dir="$1" type="$2"
  shift 2
  cmake -S "$EXSYNC_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}
