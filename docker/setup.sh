#!/usr/bin/env bash
# The one installer: used by `npm start`, `npm test`, `npm run bench`, CI and the CPU image.
# Idempotent and quick when nothing is missing: it installs only what is absent and
# rebuilds only what is out of date.
#
#   bash docker/setup.sh          runtime: GStreamer, build tools, npm packages, plugin, addon, TypeScript
#   bash docker/setup.sh --test   also what the tests need (Chromium, valgrind, sox, espeak-ng)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

log() { printf '[setup] %s\n' "$*" >&2; }

runtime_pkgs=(
  meson ninja-build pkg-config gcc g++ make python3
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice
  libgdk-pixbuf-2.0-dev webp-pixbuf-loader
  libopencv-objdetect-dev libopencv-imgproc-dev opencv-data
  libdlib-dev libdlib-data
)
test_pkgs=(chromium valgrind sox espeak-ng python3-numpy python3-yaml coturn iproute2)

pkgs=("${runtime_pkgs[@]}")
[ "$want_test" = 1 ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists once, when they are missing or a day old.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -n1)" ]; then
    $sudo apt-get update -qq
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node-gyp must build against the local Node headers: there is no internet to fetch them.
if [ -f /usr/include/node/node_api.h ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi

stamp=node_modules/.setup-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# The GStreamer plugin (meson/ninja rebuild only what changed).
if [ ! -f build/plugin/build.ninja ]; then
  log "configuring the plugin build"
  meson setup build/plugin plugins >/dev/null
fi
ninja -C build/plugin >/dev/null

# The N-API addon.
addon=src/native/build/Release/ditto_gst.node
if [ ! -f "$addon" ] || [ -n "$(find src/native -maxdepth 1 -newer "$addon" \( -name '*.c' -o -name '*.h' -o -name binding.gyp \) | head -n1)" ]; then
  log "building the native addon"
  npx --no-install node-gyp rebuild --directory=src/native --loglevel=error >/dev/null
fi

# TypeScript.
npx --no-install tsc -p tsconfig.json
