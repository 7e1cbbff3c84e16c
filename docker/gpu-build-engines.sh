#!/usr/bin/env bash
# Builds Ditto's TensorRT engines (and the GridSample3D plugin) for the GPU of this container, from upstream's
# ONNX files; or checks that the engines at hand have code for this GPU.
#   ditto-build-engines [--onnx-dir DIR] [--out DIR] [--portable] [--force]
#       default --onnx-dir $DITTO_MODEL_DIR/ditto_onnx, --out /engines/ditto_trt_native (a writable volume);
#       native engines for this GPU (fastest); --portable: Ampere+ hardware-compatible, like upstream's.
#       Then serve with DITTO_DATA_ROOT=<out>.
#   ditto-build-engines check [--data-root DIR]   default $DITTO_DATA_ROOT or $DITTO_MODEL_DIR/ditto_trt_Ampere_Plus
set -euo pipefail

model_dir="${DITTO_MODEL_DIR:-/models}"
if [ "${1:-}" = "check" ]; then
  shift
  args=("$@")
  [[ " ${args[*]} " == *" --data-root "* ]] || args+=(--data-root "${DITTO_DATA_ROOT:-$model_dir/ditto_trt_Ampere_Plus}")
  [ -d "$model_dir/ditto_onnx" ] && args+=(--plugin-dir "$model_dir/ditto_onnx")
  exec python3 -m ditto_worker.engines check "${args[@]}"
fi
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
args=("$@")
[[ " ${args[*]} " == *" --onnx-dir "* ]] || args+=(--onnx-dir "$model_dir/ditto_onnx")
[[ " ${args[*]} " == *" --out "* ]] || args+=(--out /engines/ditto_trt_native)
exec python3 -m ditto_worker.engines build --plugin-src "${GRID_SAMPLE_SRC:-/opt/grid-sample3d-trt-plugin}" "${args[@]}"
