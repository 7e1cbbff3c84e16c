#!/usr/bin/env bash
# Builds GStreamer (core, base, good, bad, ugly) and libnice from their release tarballs into one prefix,
# for the GPU image: NVIDIA's TensorRT 8.6 bases are Ubuntu 22.04, whose GStreamer (1.20) and libnice
# (0.1.18) are older than ditto-gst needs (GStreamer >= 1.22; webrtcbin 1.22 needs libnice >= 0.1.20).
#
#   bash docker/build-gstreamer.sh PREFIX SUMS_FILE
#
# GST_VERSION and NICE_VERSION (environment) pick the releases. Every tarball is checked against
# SUMS_FILE (sha256sum format); one that is not listed there is checked against the .sha256sum file the
# GStreamer project publishes next to it, and its hash is printed so it can be pinned.
# Call fetch as an assignment (src="$(fetch ...)") so that a failed download or checksum stops the build.
# Only the plugins ditto-gst uses are asked for explicitly (a missing -dev package then fails the build
# instead of silently dropping an element); meson never downloads subprojects (--wrap-mode=nodownload).
set -euo pipefail

prefix="${1:?usage: build-gstreamer.sh PREFIX SUMS_FILE}"
sums="$(realpath "${2:?usage: build-gstreamer.sh PREFIX SUMS_FILE}")"
gst_version="${GST_VERSION:?set GST_VERSION (e.g. 1.22.12)}"
nice_version="${NICE_VERSION:?set NICE_VERSION (e.g. 0.1.21)}"
jobs="${BUILD_JOBS:-$(nproc)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

log() { printf '[build-gstreamer] %s\n' "$*" >&2; }

# fetch URL: download into $work, verify, unpack; prints the source directory.
fetch() {
  local url="$1" name
  name="$(basename "$url")"
  curl -fsSL --retry 3 -o "$work/$name" "$url"
  local pinned
  pinned="$(grep -E "^[0-9a-f]{64}  $name\$" "$sums" || true)"
  if [ -n "$pinned" ]; then
    (cd "$work" && printf '%s\n' "$pinned" | sha256sum -c --quiet -) >&2
  else
    local published
    published="$(curl -fsSL --retry 3 "$url.sha256sum" | awk '{print $1}')"
    (cd "$work" && printf '%s  %s\n' "$published" "$name" | sha256sum -c --quiet -) >&2
    log "NOT PINNED: $name matches its published .sha256sum; pin it: $published  $name"
  fi
  tar -xf "$work/$name" -C "$work"
  printf '%s\n' "$work/${name%.tar.*}"
}

# build SRC_DIR [meson options...]: configure, compile and install into $prefix.
build() {
  local src="$1"; shift
  log "building $(basename "$src")"
  meson setup "$src/_build" "$src" --prefix="$prefix" --libdir=lib --buildtype=release \
    --wrap-mode=nodownload "$@" >&2
  ninja -C "$src/_build" -j "$jobs" >&2
  meson install -C "$src/_build" --no-rebuild >&2
}

gst="https://gstreamer.freedesktop.org/src"
common=(-Ddoc=disabled -Dtests=disabled -Dnls=disabled)

src="$(fetch "$gst/gstreamer/gstreamer-$gst_version.tar.xz")"
build "$src" "${common[@]}" \
  -Dexamples=disabled -Dbenchmarks=disabled -Dintrospection=disabled -Dtools=enabled \
  -Dptp-helper-permissions=none

src="$(fetch "$gst/gst-plugins-base/gst-plugins-base-$gst_version.tar.xz")"
build "$src" "${common[@]}" \
  -Dexamples=disabled -Dintrospection=disabled -Dorc=enabled \
  -Dopus=enabled -Dogg=enabled -Dvorbis=enabled \
  -Dgl=disabled -Dx11=disabled -Dxvideo=disabled -Dxshm=disabled -Dalsa=disabled \
  -Dcdparanoia=disabled -Dlibvisual=disabled -Dpango=disabled -Dtheora=disabled -Dtremor=disabled

# libnice after core/base: its GStreamer plugin (nicesrc, nicesink) builds against them.
src="$(fetch "https://libnice.freedesktop.org/releases/libnice-$nice_version.tar.gz")"
build "$src" \
  -Dgstreamer=enabled -Dexamples=disabled -Dtests=disabled -Dintrospection=disabled -Dgupnp=disabled \
  -Dcrypto-library=openssl

src="$(fetch "$gst/gst-plugins-good/gst-plugins-good-$gst_version.tar.xz")"
build "$src" "${common[@]}" -Dorc=enabled \
  -Dvpx=enabled -Drtp=enabled -Drtpmanager=enabled -Dudp=enabled -Disomp4=enabled -Dmatroska=enabled \
  -Daudioparsers=enabled -Did3demux=enabled -Dwavparse=enabled -Dwavenc=enabled -Ddebugutils=enabled \
  -Dflac=enabled -Dmpg123=enabled -Dpng=enabled -Djpeg=enabled \
  -Dsoup=disabled -Dv4l2=disabled -Dpulse=disabled -Dximagesrc=disabled -Dgdk-pixbuf=disabled \
  -Dqt5=disabled -Dgtk3=disabled

# webrtcdsp is off: it needs webrtc-audio-processing, which the session graph does not use.
# nvcodec needs no CUDA SDK at build time: it loads CUDA/NVENC from the driver when the plugin loads.
src="$(fetch "$gst/gst-plugins-bad/gst-plugins-bad-$gst_version.tar.xz")"
build "$src" "${common[@]}" \
  -Dexamples=disabled -Dintrospection=disabled -Dorc=enabled \
  -Dwebrtc=enabled -Ddtls=enabled -Dsrtp=enabled -Dsctp=enabled -Dnvcodec=enabled -Dvideoparsers=enabled \
  -Dwebp=enabled -Dopus=enabled -Dwebrtcdsp=disabled \
  -Dgl=disabled -Dvulkan=disabled -Dwayland=disabled -Dx11=disabled -Dva=disabled -Dmsdk=disabled \
  -Dcurl=disabled -Dopencv=disabled

# x264 is GPL: 1.22 builds it only with -Dgpl=enabled.
src="$(fetch "$gst/gst-plugins-ugly/gst-plugins-ugly-$gst_version.tar.xz")"
build "$src" "${common[@]}" -Dorc=enabled \
  -Dgpl=enabled -Dx264=enabled

log "installed GStreamer $(pkg-config --modversion gstreamer-1.0) and libnice $(pkg-config --modversion nice) in $prefix"
