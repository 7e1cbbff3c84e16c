#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that provide the shared libraries the given files and directories
# link against (ldd), one per line, sorted: what a runtime stage must apt-get install for binaries that
# were built in a build stage. Libraries inside the given paths themselves (not owned by a package) are
# skipped; dlopen()ed modules (gdk-pixbuf loaders, CUDA/NVENC from the driver) are not seen by ldd and
# must be listed by hand.
#   bash docker/runtime-packages.sh /opt/gstreamer /opt/ditto-gst/build/plugin/ditto ...
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: runtime-packages.sh PATH..." >&2; exit 2; }

find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -name '*.node' -o -perm -u+x \) -print0 \
  | xargs -0 -r file -L --mime-type \
  | awk -F': *' '$2 ~ /application\/x-(sharedlib|pie-executable|executable)/ {print $1}' \
  | tr '\n' '\0' \
  | xargs -0 -r ldd 2>/dev/null \
  | awk '$2 == "=>" && $3 ~ /^\// {print $3}' \
  | sort -u \
  | while read -r lib; do
      # dpkg knows the path it installed, which may differ from ldd's by a /usr merge symlink.
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || true
    done \
  | cut -d: -f1 \
  | sort -u
