"""The model half of `ditto-gst doctor --model`: can this machine run Ditto, and how well?

    python3 -m ditto_worker.doctor [--upstream DIR] (--model-dir DIR | --cfg-pkl F --data-root D) [--json]

Checks, each with a reason when it fails: upstream imports (stream_pipeline_online and what it pulls in),
the config pickle unpickles (with this numpy) and holds what StreamSDK reads, every engine and plugin has
code for this GPU and loads (engines.check; skipped where TensorRT is absent, e.g. the test double),
StreamSDK loads every model, and the worker's start-up self-test passes (setup() on the bundled portrait,
windows of silence rendered). Reports the GPU, driver, CUDA and TensorRT versions and the self-test's figures.
Exit status 0 when every check passed. The element render that follows is done by the TypeScript side
(src/doctor/model.ts), through a pool of this worker.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import time

from . import device, selftest
from .upstream import UpstreamError, load_stream_sdk_class, resolve_model_paths
from .worker import add_model_args


def _driver_version() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else None


def run(args) -> dict:
    checks: list[dict] = []
    report: dict = {"checks": checks, "device": None, "selftest": None, "engines": []}

    def check(name: str, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
            checks.append({"name": name, "ok": True, "detail": detail, "ms": round((time.monotonic() - t0) * 1000, 1)})
            return True
        except Exception as e:  # noqa: BLE001  (the reason is the report)
            text = str(e) if isinstance(e, (UpstreamError, selftest.SelfTestError)) else f"{type(e).__name__}: {e}"
            checks.append({"name": name, "ok": False, "detail": text, "ms": round((time.monotonic() - t0) * 1000, 1)})
            return False

    state: dict = {}

    def paths():
        state["cfg"], state["data_root"] = resolve_model_paths(args.model_dir, args.cfg_pkl, args.data_root)
        return f"{state['cfg']} + {state['data_root']}"

    def imports():
        state["cls"] = load_stream_sdk_class(args.upstream)
        import numpy
        return f"stream_pipeline_online from {os.path.dirname(sys.modules[state['cls'].__module__].__file__)} (numpy {numpy.__version__})"

    def unpickle():
        with open(state["cfg"], "rb") as f:
            cfg = pickle.load(f)
        if not isinstance(cfg, dict):
            raise ValueError(f"the config pickle holds a {type(cfg).__name__}, not a dict")
        missing = [k for k in ("base_cfg", "audio2motion_cfg", "default_kwargs") if k not in cfg]
        if missing and set(cfg) != {"default_kwargs"}:  # the test double's pickle holds only default_kwargs
            raise ValueError(f"the config pickle lacks {', '.join(missing)} (not an online Ditto config?)")
        d = cfg.get("default_kwargs", {})
        return (f"online_mode={d.get('online_mode')} overlap_v2={d.get('overlap_v2')} (the worker passes "
                f"{json.loads(args.setup_json).get('overlap_v2', 70)}) sampling_timesteps={d.get('sampling_timesteps')}")

    def engine_files():
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return "skipped: TensorRT is not importable here"
        from . import engines
        onnx = os.path.join(os.path.dirname(state["data_root"]), "ditto_onnx")
        results = engines.check(state["data_root"], [onnx] if os.path.isdir(onnx) else [])
        report["engines"] = results
        bad = [f"{os.path.basename(r['path'])}: {r['detail']}" for r in results if r["ok"] is False]
        if not results:
            raise RuntimeError(f"no engines in {state['data_root']}")
        if bad:
            raise RuntimeError("; ".join(bad))
        n_eng = sum(r["kind"] == "engine" for r in results)
        native = all(r.get("native") for r in results if r["kind"] == "engine")
        return f"{n_eng} engines load on this GPU, {'all built for it (native)' if native else 'hardware-compatible (Ampere+): ditto-build-engines makes faster native ones'}"

    def load():
        t0 = time.monotonic()
        state["sdk"] = state["cls"](state["cfg"], state["data_root"])
        return f"every model loaded in {time.monotonic() - t0:.1f} s"

    def self_test():
        report["selftest"] = selftest.run(state["sdk"], args.warmup_portrait, json.loads(args.setup_json), log=lambda _m: None)
        s = report["selftest"]
        return f"setup {s['setup_ms']:.0f} ms, first frame {s['first_frame_ms']:.0f} ms, window {s['window_ms']:.0f} ms"

    ok = check("model files", paths)
    ok = check("upstream imports", imports) and ok
    if ok:
        check("config pickle", unpickle)
        check("engines and plugin", engine_files)
        if check("models load", load):
            check("self-test", self_test)
    report["device"] = {**device.describe(), "driver": _driver_version()}
    report["ok"] = all(c["ok"] for c in checks)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ditto_worker.doctor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(ap)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = run(args)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        for c in report["checks"]:
            print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
        print(json.dumps(report["device"]))
    sys.stdout.flush()
    os._exit(0 if report["ok"] else 1)  # upstream's threads of a failed self-test must not hold the exit


if __name__ == "__main__":
    main()
