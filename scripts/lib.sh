# Shared by scripts/demo, scripts/test and scripts/bench: Debian packages and the build.
# shellcheck shell=bash

EXSYNC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Everything exsync needs to build, test and run, from Debian 12.
EXSYNC_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libpugixml-dev libsqlite3-dev libspdlog-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libxml2-dev libxml2-utils libhowardhinnant-date-dev tzdata
  libsystemd-dev python3-exchangelib python3-msal python3-yaml curl ca-certificates time bc nodejs
  prometheus mtail
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

# The npm packages the suite uses, exactly as each package-lock.json pins them, again only when a
# lockfile changed: Microsoft's Graph and Entra clients run against the simulator
# (tests/interop/graph), and the OpenAPI validators of the CRM API's contract (tests/interop/openapi).
exsync_install_npm_peers() {
  local d
  for d in graph openapi; do exsync_install_npm_dir "$EXSYNC_ROOT/tests/interop/$d" || return 1; done
}
exsync_install_npm_dir() {
  local dir="$1"
  local stamp="$dir/node_modules/.exsync-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then return 0; fi
  echo "Installing the npm test peers (${dir#"$EXSYNC_ROOT"/}/package-lock.json)"
  if ! command -v npm >/dev/null; then
    # Debian's nodejs comes without npm (NodeSource's carries its own).
    local saved=("${EXSYNC_PACKAGES[@]}")
    EXSYNC_PACKAGES=(npm)
    exsync_install_packages || return 1
    EXSYNC_PACKAGES=("${saved[@]}")
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "npm ci failed in $dir" >&2; return 1; }
  cp "$dir/package-lock.json" "$stamp"
}

# The one build scripts/test and scripts/demo share, so that a newcomer who runs both compiles
# once (EXSYNC_BUILD_DIR and EXSYNC_BUILD_TYPE choose another). scripts/bench measures its own
# Release build in build-release.
EXSYNC_SHARED_BUILD="${EXSYNC_BUILD_DIR:-$EXSYNC_ROOT/build}"
EXSYNC_SHARED_BUILD_TYPE="${EXSYNC_BUILD_TYPE:-RelWithDebInfo}"

# exsync_build DIR BUILD_TYPE [extra cmake args...]
exsync_build() {
  local dir="$1" type="$2"
  shift 2
  cmake -S "$EXSYNC_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}
