#!/usr/bin/env bash
# Entry point of the GPU image: a doctor run first (clear messages before anything loads), then the warm
# worker pool and/or the server.
#   ditto-gpu-entrypoint [all] [server options]   doctor, then the pool and the server (backend "ditto")
#   ditto-gpu-entrypoint serve [server options]    GStreamer doctor, then the server only (pool elsewhere)
#   ditto-gpu-entrypoint pool [pool options]       model doctor, then the pool only
#   ditto-gpu-entrypoint doctor                    both doctors; exit status 0 when everything can start
set -euo pipefail

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
}

app="${DITTO_GST_APP:-/opt/ditto-gst}"
model_dir="${DITTO_MODEL_DIR:-/models}"
cfg="${DITTO_CFG_PKL:-$model_dir/ditto_cfg/v0.4_hubert_cfg_trt_online.pkl}"
engines="${DITTO_DATA_ROOT:-$model_dir/ditto_trt_Ampere_Plus}"
upstream="${DITTO_UPSTREAM_DIR:-/opt/ditto-talkinghead}"
pool_socket="${DITTO_POOL_SOCKET:-/run/ditto/pool.sock}"

# The model side: GPU, upstream checkout, config, engines, TensorRT.
model_doctor() {
  local ok=0
  if nvidia-smi -L >/dev/null 2>&1; then
    echo "[doctor] GPU: $(nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader | head -n1)"
  else
    echo "[doctor] no GPU visible (run with --gpus all / the compose GPU reservation)"; ok=1
  fi
  if [ -f "$upstream/stream_pipeline_online.py" ]; then echo "[doctor] upstream: $upstream"
  else echo "[doctor] upstream checkout missing at $upstream"; ok=1; fi
  if [ -f "$cfg" ]; then echo "[doctor] config: $cfg"
  else echo "[doctor] config $cfg missing (mount the weights at $model_dir)"; ok=1; fi
  if [ -d "$engines" ]; then echo "[doctor] engines: $engines ($(find "$engines" -name '*.engine' | wc -l) engine files)"
  else echo "[doctor] engine directory $engines missing"; ok=1; fi
  python3 -c "import tensorrt, numpy; print('[doctor] TensorRT', tensorrt.__version__, '/ numpy', numpy.__version__)" 2>/dev/null \
    || { echo "[doctor] TensorRT is not importable from python3"; ok=1; }
  return $ok
}

# The media side: `ditto-gst doctor` (GStreamer >= 1.22, the addon, our plugin, every pipeline element).
# It reads the same DITTO_* variables as the server, so it checks the pipelines the server will use.
gst_doctor() {
  echo "[doctor] GStreamer elements (ditto-gst doctor):"
  if node "$app/dist/src/cli/main.js" doctor "$@"; then
    echo "[doctor] GStreamer: ok"
  else
    echo "[doctor] GStreamer: required elements missing"; return 1
  fi
}

# The server uses the pool of this container unless told otherwise (DITTO_* are the server's config).
export DITTO_ELEMENT_BACKEND="${DITTO_ELEMENT_BACKEND:-ditto}"
export DITTO_WORKER_SOCKET="${DITTO_WORKER_SOCKET:-$pool_socket}"
server_cmd=(node "$app/dist/src/cli/main.js" serve)
pool_cmd=(python3 -m ditto_worker.pool --socket "$pool_socket" --workers "${DITTO_POOL_WORKERS:-1}"
  --upstream "$upstream" --cfg-pkl "$cfg" --data-root "$engines")
[ -z "${DITTO_SETUP_JSON:-}" ] || pool_cmd+=(--setup-json "$DITTO_SETUP_JSON")

# Both in one container: the pool first (loading engines takes seconds), the server once the pool's
# control socket exists. When either exits, the other is stopped and its status is the container's.
all() {
  mkdir -p "$(dirname "$pool_socket")"
  rm -f "$pool_socket" "$pool_socket.ctl"
  local pool_pid server_pid="" status=0 waited=0
  "${pool_cmd[@]}" & pool_pid=$!
  # As PID 1, bash ignores SIGTERM unless it is trapped: pass it on to both children.
  trap 'kill -TERM "$pool_pid" ${server_pid:+"$server_pid"} 2>/dev/null || true' TERM INT
  until [ -S "$pool_socket.ctl" ]; do
    if ! kill -0 "$pool_pid" 2>/dev/null; then
      wait "$pool_pid" || status=$?
      echo "[entrypoint] the pool exited ($status) before its socket appeared"; exit "$((status ? status : 1))"
    fi
    if [ "$waited" -ge "${DITTO_POOL_START_TIMEOUT_S:-300}" ]; then
      echo "[entrypoint] no pool socket at $pool_socket.ctl after ${waited}s"; kill -TERM "$pool_pid"; exit 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  echo "[entrypoint] pool ready at $pool_socket; starting the server"
  "${server_cmd[@]}" "$@" & server_pid=$!
  wait -n "$server_pid" "$pool_pid" || status=$?
  kill -TERM "$server_pid" "$pool_pid" 2>/dev/null || true
  wait "$server_pid" "$pool_pid" 2>/dev/null || true
  exit "$status"
}

mode=all
case "${1:-}" in
  all|serve|pool|doctor) mode="$1"; shift ;;
  -h|--help|help) usage; exit 0 ;;
  ""|-*) ;;
  *) echo "[entrypoint] unknown command \"$1\"" >&2; usage; exit 2 ;;
esac

case "$mode" in
  doctor)
    status=0
    model_doctor || status=1
    gst_doctor "$@" || status=1
    exit "$status"
    ;;
  pool)
    model_doctor || { echo "[doctor] not starting the pool"; exit 1; }
    mkdir -p "$(dirname "$pool_socket")"
    exec "${pool_cmd[@]}" "$@"
    ;;
  serve)
    gst_doctor "$@" || { echo "[doctor] not starting the server"; exit 1; }
    exec "${server_cmd[@]}" "$@"
    ;;
  all)
    status=0
    model_doctor || status=1
    gst_doctor "$@" || status=1
    [ "$status" = 0 ] || { echo "[doctor] not starting the pool and the server"; exit 1; }
    all "$@"
    ;;
esac
