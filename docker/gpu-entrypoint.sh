#!/usr/bin/env bash
# Entry point of the GPU image: a doctor run first (clear messages before anything loads), then the warm
# worker pool and/or the server.
#   ditto-gpu-entrypoint [all] [server options]   doctor, then the pool and the server (backend "ditto")
#   ditto-gpu-entrypoint serve [server options]    GStreamer doctor, then the server only (pool elsewhere)
#   ditto-gpu-entrypoint pool [pool options]       model doctor, then the pool only
#   ditto-gpu-entrypoint doctor [--model]          both doctors; exit status 0 when everything can start
#                                                  (--model: ditto-gst doctor --model, the GPU box's first command)
#   ditto-gpu-entrypoint ready                     exit 0 when GET /readyz says a session would be served now
#                                                  (the image's and compose's healthcheck)
# Engines for this GPU: ditto-build-engines (see docker/README.md).
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
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
# the server's --port (from the arguments of all/serve, else DITTO_PORT, else 8080); DITTO_READY_URL overrides
port="${DITTO_PORT:-8080}"
prev=""
for a in "$@"; do [ "$prev" = "--port" ] && port="$a"; prev="$a"; done
ready_url="${DITTO_READY_URL:-http://127.0.0.1:$port/readyz}"

# Readiness, not liveness: 0 only when the server would take a session now (a loaded, self-tested worker).
ready() {
  node -e 'fetch(process.argv[1]).then(async (r) => { const b = await r.text(); if (r.status !== 200) console.error(b); process.exit(r.status === 200 ? 0 : 1); }, (e) => { console.error(String(e)); process.exit(1); })' "$ready_url"
}
pool_cmd=(python3 -m ditto_worker.pool --socket "$pool_socket" --workers "${DITTO_POOL_WORKERS:-1}"
  --upstream "$upstream" --cfg-pkl "$cfg" --data-root "$engines")
[ -z "${DITTO_SETUP_JSON:-}" ] || pool_cmd+=(--setup-json "$DITTO_SETUP_JSON")
[ -z "${DITTO_POOL_DEVICES:-}" ] || pool_cmd+=(--devices "$DITTO_POOL_DEVICES")

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
  echo "[entrypoint] pool answering at $pool_socket (workers load and self-test); starting the server"
  "${server_cmd[@]}" "$@" & server_pid=$!
  # say once when sessions can be served (the healthcheck asks the same question)
  ( until ready 2>/dev/null; do kill -0 "$server_pid" 2>/dev/null || exit 0; sleep 2; done
    echo "[entrypoint] ready: $ready_url" ) &
  wait -n "$server_pid" "$pool_pid" || status=$?
  kill -TERM "$server_pid" "$pool_pid" 2>/dev/null || true
  wait "$server_pid" "$pool_pid" 2>/dev/null || true
  exit "$status"
}

mode=all
case "${1:-}" in
  all|serve|pool|doctor|ready) mode="$1"; shift ;;
  -h|--help|help) usage; exit 0 ;;
  ""|-*) ;;
  *) echo "[entrypoint] unknown command \"$1\"" >&2; usage; exit 2 ;;
esac

case "$mode" in
  ready)
    ready
    ;;
  doctor)
    # the full model check: import, unpickle, engines + plugin for this GPU, self-test, a render (timed)
    [ "${1:-}" != "--model" ] || exec node "$app/dist/src/cli/main.js" doctor "$@"
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
