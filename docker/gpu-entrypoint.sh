#!/usr/bin/env bash
# Entry point of the GPU worker image: check the GPU, the upstream checkout and the weights (a doctor
# run: clear messages before anything loads), then run the warm pool in the foreground.
#   ditto-gpu-entrypoint            doctor, then the pool
#   ditto-gpu-entrypoint doctor     doctor only (exit status 0 when the model can start)
set -euo pipefail

model_dir="${DITTO_MODEL_DIR:-/models}"
cfg="${DITTO_CFG_PKL:-$model_dir/ditto_cfg/v0.4_hubert_cfg_trt_online.pkl}"
engines="${DITTO_DATA_ROOT:-$model_dir/ditto_trt_Ampere_Plus}"

doctor() {
  local ok=0
  if nvidia-smi -L >/dev/null 2>&1; then
    echo "[doctor] GPU: $(nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader | head -n1)"
  else
    echo "[doctor] no GPU visible (run with --gpus all / the compose GPU reservation)"; ok=1
  fi
  [ -f "$DITTO_UPSTREAM_DIR/stream_pipeline_online.py" ] && echo "[doctor] upstream: $DITTO_UPSTREAM_DIR" \
    || { echo "[doctor] upstream checkout missing at $DITTO_UPSTREAM_DIR"; ok=1; }
  [ -f "$cfg" ] && echo "[doctor] config: $cfg" || { echo "[doctor] config $cfg missing (mount the weights at $model_dir)"; ok=1; }
  [ -d "$engines" ] && echo "[doctor] engines: $engines ($(find "$engines" -name '*.engine' | wc -l) engine files)" \
    || { echo "[doctor] engine directory $engines missing"; ok=1; }
  python3 -c "import tensorrt, numpy; print('[doctor] TensorRT', tensorrt.__version__, '/ numpy', numpy.__version__)" || ok=1
  return $ok
}

if [ "${1:-}" = "doctor" ]; then
  doctor
  exit $?
fi
doctor || { echo "[doctor] not starting the pool"; exit 1; }
mkdir -p "$(dirname "$DITTO_POOL_SOCKET")"
exec python3 -m ditto_worker.pool --socket "$DITTO_POOL_SOCKET" --workers "${DITTO_POOL_WORKERS:-1}" \
  --cfg-pkl "$cfg" --data-root "$engines" ${DITTO_SETUP_JSON:+--setup-json "$DITTO_SETUP_JSON"} "$@"
