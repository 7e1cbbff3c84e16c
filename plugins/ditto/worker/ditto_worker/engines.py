"""TensorRT engines and the GridSample3D plugin for the GPU at hand: build them, and check what is there.

    python3 -m ditto_worker.engines check --data-root /models/ditto_trt_Ampere_Plus
    python3 -m ditto_worker.engines build --onnx-dir /models/ditto_onnx --out /engines/ditto_trt_native [--portable]

check: every *.engine under the data root is deserialized on this GPU (TensorRT refuses an engine built for
another GPU model unless it is hardware-compatible) and its hardware-compatibility level is reported:
"native" (built for exactly this GPU model: fastest) or "Ampere+" (runs on any Ampere or later GPU, slower
on others, e.g. Ada, #67 upstream). Each plugin library (*.so) is read with cuobjdump: it needs machine code
(an sm_XY cubin of this GPU's major version with minor <= ours) or PTX of an older-or-equal virtual
architecture that the driver can compile; otherwise the warp engine cannot run here.

build: upstream's ONNX files (HF digital-avatar/ditto-talkinghead, ditto_onnx/) -> engines with upstream's
precisions (fp32: motion_extractor, hubert, lmdm*; fp16 with optimization level 5: the rest; HuBERT's
dynamic input 3240..12960 samples, optimum 6480; warp_network with the GridSample3D plugin serialized into it
and its GridSample layers kept fp32), for THIS GPU ("native", the default; upstream always builds Ampere+
hardware-compatible engines on Ampere and later, which costs speed), or --portable for Ampere+. The plugin is
compiled from its pinned source (GRID_SAMPLE_SRC, see Dockerfile.gpu) for this GPU's architecture first.
The engine names are upstream's (NAME_fp16.engine / NAME_fp32.engine), so its config pickle finds them:
point the worker's --data-root (DITTO_DATA_ROOT) at --out.
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

FP32_MODELS = ("motion_extractor", "hubert", "wavlm")
HUBERT_PROFILE = ((1, 3240), (1, 6480), (1, 12960))   # min, opt, max input_values
SKIP = ("warp_network_ori",)                          # the plugin-free variant; upstream's warp uses the plugin
PLUGIN_NAME = "libgrid_sample_3d_plugin.so"


def compute_capability() -> tuple[int, int]:
    from cuda import cudart  # cuda-python, as upstream uses
    err, prop = cudart.cudaGetDeviceProperties(0)
    if int(err) != 0:
        raise RuntimeError(f"no CUDA device: {err}")
    return int(prop.major), int(prop.minor)


# ------------------------------------------------------------------ check

def plugin_archs(path: str) -> tuple[list[str], list[str]] | None:
    """(cubin sm_XY list, PTX compute_XY list) of a library, or None without cuobjdump."""
    tool = shutil.which("cuobjdump") or ("/usr/local/cuda/bin/cuobjdump" if os.path.exists("/usr/local/cuda/bin/cuobjdump") else None)
    if tool is None:
        return None
    out = ""
    for flag in ("--list-elf", "--list-ptx"):
        r = subprocess.run([tool, flag, path], capture_output=True, text=True)
        out += r.stdout + r.stderr
    return sorted(set(re.findall(r"sm_(\d+)", out))), sorted(set(re.findall(r"compute_(\d+)", out)))


def plugin_runs_here(cubins: list[str], ptx: list[str], cc: tuple[int, int]) -> bool:
    major, minor = cc
    mine = major * 10 + minor
    if any(int(a) // 10 == major and int(a) % 10 <= minor for a in cubins):
        return True  # a cubin runs on later minors of its major version only
    return any(int(a) <= mine for a in ptx)  # PTX is JIT-compiled for newer GPUs


def check(data_root: str, plugin_dirs: list[str] | None = None) -> list[dict]:
    """One entry per engine and plugin: {kind, path, ok, detail, native?}."""
    import tensorrt as trt
    cc = compute_capability()
    results: list[dict] = []
    plugins = []
    for d in [data_root, *(plugin_dirs or [])]:
        plugins += sorted(glob.glob(os.path.join(d, "*.so")))
    for p in plugins:
        archs = plugin_archs(p)
        if archs is None:
            results.append({"kind": "plugin", "path": p, "ok": None, "detail": "cuobjdump not found: cannot tell its GPU code"})
            continue
        cubins, ptx = archs
        ok = plugin_runs_here(cubins, ptx, cc)
        detail = f"cubins sm_{', sm_'.join(cubins) or '-'}; PTX compute_{', compute_'.join(ptx) or '-'}"
        results.append({"kind": "plugin", "path": p, "ok": ok,
                        "detail": detail + ("" if ok else f": no code for this GPU (sm_{cc[0]}{cc[1]}); rebuild it (build)")})
        try:
            ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)  # the warp engine's GridSample3D creator
        except OSError as e:
            results[-1].update(ok=False, detail=f"{detail}; cannot load: {e}")
    logger = trt.Logger(trt.Logger.ERROR)
    trt.init_libnvinfer_plugins(logger, "")
    runtime = trt.Runtime(logger)
    for path in sorted(glob.glob(os.path.join(data_root, "*.engine")) + glob.glob(os.path.join(data_root, "*.trt"))):
        with open(path, "rb") as f:
            engine = runtime.deserialize_cuda_engine(f.read())
        if engine is None:
            results.append({"kind": "engine", "path": path, "ok": False,
                            "detail": f"TensorRT {trt.__version__} cannot load it here: built for another GPU model or "
                                      "TensorRT version, or its plugin is missing; rebuild (build)"})
            continue
        level = getattr(engine, "hardware_compatibility_level", None)
        native = level is None or str(level).endswith("NONE")
        results.append({"kind": "engine", "path": path, "ok": True, "native": native,
                        "detail": "built for this GPU" if native else "hardware-compatible (Ampere+): loads here, "
                                  f"a native build (build) is faster on sm_{cc[0]}{cc[1]}"})
        del engine
    return results


# ------------------------------------------------------------------ build

def build_plugin(src: str, out_dir: str, cc: tuple[int, int]) -> str:
    """Compiles the GridSample3D plugin for this GPU's architecture (cubin + PTX)."""
    arch = f"{cc[0]}{cc[1]}"
    work = tempfile.mkdtemp(prefix="grid-sample3d-")
    shutil.copytree(src, os.path.join(work, "src-tree"))
    tree = os.path.join(work, "src-tree")
    cmake = os.path.join(tree, "CMakeLists.txt")
    text = open(cmake).read()
    # its CMakeLists pins CUDA_ARCHITECTURES on the target; build for this GPU, and skip its test program
    text = re.sub(r'CUDA_ARCHITECTURES\s+"[^"]*"', f'CUDA_ARCHITECTURES "{arch}"', text)
    text = re.sub(r"^\s*(add_subdirectory\(test\)|enable_testing\(\))\s*$", "", text, flags=re.M)
    open(cmake, "w").write(text)
    build = os.path.join(work, "build")
    trt_root = os.environ.get("TENSORRT_ROOT", "/usr")
    subprocess.run(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release", f"-DTensorRT_ROOT={trt_root}"], check=True)
    subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2)], check=True)
    built = glob.glob(os.path.join(build, "**", PLUGIN_NAME), recursive=True)
    if not built:
        raise RuntimeError(f"{PLUGIN_NAME} was not built")
    dest = os.path.join(out_dir, PLUGIN_NAME)
    shutil.copy2(built[0], dest)
    shutil.rmtree(work, ignore_errors=True)
    return dest


def build_engine(onnx: str, engine_path: str, fp16: bool, portable: bool, plugin: str | None) -> None:
    import tensorrt as trt
    logger = trt.Logger(trt.Logger.WARNING)
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    if plugin:
        builder.get_plugin_registry().load_library(plugin)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"cannot parse {onnx}: {errors}")
    config = builder.create_builder_config()
    config.builder_optimization_level = 5
    if portable:
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    if os.path.basename(onnx).startswith("hubert"):
        profile = builder.create_optimization_profile()
        profile.set_shape(network.get_input(0).name, *HUBERT_PROFILE)
        config.add_optimization_profile(profile)
    if plugin:
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if "GridSample" in layer.name:
                layer.precision = trt.float32  # the 3-D grid sampling stays fp32 (its accuracy matters)
        config.plugins_to_serialize = [plugin]
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError(f"TensorRT could not build {onnx}")
    tmp = engine_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, engine_path)


def build(onnx_dir: str, out: str, portable: bool, plugin: str | None, plugin_src: str | None, force: bool) -> int:
    cc = compute_capability()
    os.makedirs(out, exist_ok=True)
    onnx = sorted(p for p in glob.glob(os.path.join(onnx_dir, "*.onnx")) if os.path.basename(p)[:-5] not in SKIP)
    if not onnx:
        print(f"no .onnx files in {onnx_dir}", file=sys.stderr)
        return 1
    needs_plugin = any(os.path.basename(p).startswith("warp_network") for p in onnx)
    if needs_plugin and not plugin:
        if not plugin_src or not os.path.isdir(plugin_src):
            print("warp_network needs the GridSample3D plugin: pass --plugin FILE or --plugin-src DIR", file=sys.stderr)
            return 1
        plugin = build_plugin(plugin_src, out, cc)
        print(f"plugin: {plugin} (sm_{cc[0]}{cc[1]})")
    for path in onnx:
        name = os.path.basename(path)[:-5]
        fp16 = not (name in FP32_MODELS or name.startswith("lmdm"))
        engine = os.path.join(out, f"{name}_fp{16 if fp16 else 32}.engine")
        if os.path.exists(engine) and not force:
            print(f"{engine}: exists (--force rebuilds)")
            continue
        print(f"{name}: building {'fp16' if fp16 else 'fp32'} {'Ampere+' if portable else f'native sm_{cc[0]}{cc[1]}'} ...", flush=True)
        build_engine(path, engine, fp16, portable, plugin if name.startswith("warp_network") else None)
    print(f"engines in {out}: use --data-root {out} (DITTO_DATA_ROOT)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ditto_worker.engines", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="can this GPU run these engines and plugins, natively?")
    c.add_argument("--data-root", required=True)
    c.add_argument("--plugin-dir", action="append", default=[])
    b = sub.add_parser("build", help="build engines (and the plugin) for this GPU from upstream's ONNX files")
    b.add_argument("--onnx-dir", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--portable", action="store_true", help="Ampere+ hardware-compatible instead of native")
    b.add_argument("--plugin", help="an existing GridSample3D plugin library (default: build it)")
    b.add_argument("--plugin-src", default=os.environ.get("GRID_SAMPLE_SRC"), help="plugin source (default $GRID_SAMPLE_SRC)")
    b.add_argument("--force", action="store_true", help="rebuild engines that exist")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        return build(args.onnx_dir, args.out, args.portable, args.plugin, args.plugin_src, args.force)
    results = check(args.data_root, args.plugin_dir)
    bad = 0
    for r in results:
        mark = "ok  " if r["ok"] else ("??  " if r["ok"] is None else "FAIL")
        bad += r["ok"] is False
        print(f"{mark} {r['kind']:6} {os.path.basename(r['path'])}: {r['detail']}")
    return 1 if bad or not results else 0


if __name__ == "__main__":
    sys.exit(main())
