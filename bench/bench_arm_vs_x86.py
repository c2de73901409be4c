"""How close aarch64 and x86 are: the NV12 the model gets and the top-5 it gives, photo by photo.

For the 22 committed photos (test/data/photos/*.png, test/data/imagenet/*.jpg), through the
package's own ``Preprocessor`` (the default model's input, 224x224, every resize mode) with
cv2.INTER_LINEAR (today's default) and cv2.INTER_LINEAR_EXACT, from bgr8 / bgra8 / rgb8 / rgba8 /
nv12 raw frames of the photo: the NV12 bytes on each architecture, their differences (max |diff|,
number of differing bytes) between the architectures and between encodings on one architecture;
and the fp32 and int8 default models' outputs (top-5, cosine) on both, also on the SAME NV12 (the
x86 one fed to the aarch64 model) to tell the resize's share from the inference's. Plus the resize
cost of both interpolations for a 1080p bgr8 and nv12 frame, natively (emulated timings mean
nothing).

    python bench/bench_arm_vs_x86.py all --aarch64-python "$(tools/aarch64_check.sh --setup-only)" \
        [--json out.json] [--keep DIR]     # dump natively, dump under qemu, compare, time
                                           # (the emulated dumps: ~10 min of CPU, 1 core)
    python bench/bench_arm_vs_x86.py dump OUT.npz [--reference X86.npz]   # one architecture
    python bench/bench_arm_vs_x86.py compare X86.npz ARM.npz [--json out.json]
    python bench/bench_arm_vs_x86.py timing [--json out.json]             # this machine only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(HERE.parent))

import cv2
import numpy as np

from rdk_classifier.benchmark import machine_info, make_frames
from rdk_classifier.classifier import Classifier
from rdk_classifier.frames import RESIZE_MODES, Preprocessor

DATA = HERE.parent / "test" / "data"
MODELS = ("EfficientNet_Lite0_fp32", "EfficientNet_Lite0_int8")
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "linear_exact": cv2.INTER_LINEAR_EXACT}
ENCODINGS = ("bgr8", "bgra8", "rgb8", "rgba8", "nv12")
CAMERA = (1920, 1080)
CAMERA_ENCODINGS = ("bgr8", "bgra8", "nv12")
TOP = 5


def photos() -> list[Path]:
    return sorted((DATA / "photos").glob("*.png")) + sorted((DATA / "imagenet").glob("*.jpg"))


def nv12_of(bgr: np.ndarray) -> np.ndarray:
    """A full-size NV12 frame of the photo (even-cropped) made with float64 numpy only (BT.601
    limited range, 2x2 chroma average), so it is the same bytes on every architecture."""
    h, w = bgr.shape[0] // 2 * 2, bgr.shape[1] // 2 * 2
    b, g, r = (bgr[:h, :w, i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255

    def quarter(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    uv = np.stack([quarter(u), quarter(v)], axis=-1).reshape(h // 2, w)
    out = np.concatenate([y, uv]).round().clip(0, 255).astype(np.uint8)
    return out.reshape(-1)


def raw_frame(bgr: np.ndarray, encoding: str) -> tuple[np.ndarray, int, int]:
    h, w = bgr.shape[:2]
    if encoding == "nv12":
        return nv12_of(bgr), w // 2 * 2, h // 2 * 2
    code = {"bgr8": None, "bgra8": cv2.COLOR_BGR2BGRA, "rgb8": cv2.COLOR_BGR2RGB,
            "rgba8": cv2.COLOR_BGR2RGBA}[encoding]
    frame = bgr if code is None else cv2.cvtColor(bgr, code)  # channel moves only: exact anywhere
    return np.ascontiguousarray(frame), w, h


# ------------------------------------------------------------------------------ one architecture
def camera_frame(bgr: np.ndarray) -> np.ndarray:
    """The photo as a 1920x1080 camera frame (scaled to cover, centre-cropped) with
    INTER_LINEAR_EXACT, which is bit-exact on every architecture (the dump keeps a hash to show it)."""
    h, w = bgr.shape[:2]
    s = max(CAMERA[0] / w, CAMERA[1] / h)
    big = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR_EXACT)
    y0, x0 = (big.shape[0] - CAMERA[1]) // 2, (big.shape[1] - CAMERA[0]) // 2
    return np.ascontiguousarray(big[y0:y0 + CAMERA[1], x0:x0 + CAMERA[0]])


def dump_camera(out: Path) -> None:
    """NV12 of every photo as a 1080p camera frame: bgr8 / bgra8 / nv12, every mode, both
    interpolations (the robot's case: a large downscale, unlike the 512x512 photos' exact 2x)."""
    arrays: dict[str, np.ndarray] = {}
    names = []
    for path in photos():
        frame = camera_frame(cv2.imread(str(path), cv2.IMREAD_COLOR))
        names.append(path.name)
        arrays[f"camera_sha256/{path.name}"] = np.array(hashlib.sha256(frame.tobytes()).hexdigest())
        for enc in CAMERA_ENCODINGS:
            raw, w, h = raw_frame(frame, enc)
            for mode in RESIZE_MODES:
                for iname, interp in INTERPOLATIONS.items():
                    prep = Preprocessor(224, 224, mode, interpolation=interp)
                    arrays[f"camera/{path.name}/{mode}/{iname}/{enc}"] = prep.from_raw(raw, w, h, enc)
    info = {"machine": platform.machine(), "photos": names}
    np.savez_compressed(out, info=np.array(json.dumps(info)), **arrays)


def dump(out: Path, reference: Path | None = None) -> None:
    """NV12 of every photo x mode x interpolation x encoding, and both models' outputs on the
    bgr8 NV12 of the default mode; with ``reference`` also the outputs on its NV12."""
    classifiers = {m: Classifier.from_model(m, backend="cpu") for m in MODELS}
    default = classifiers[MODELS[1]].preprocessor
    ref = np.load(reference) if reference else None
    arrays: dict[str, np.ndarray] = {}
    names = []
    for path in photos():
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        names.append(path.name)
        arrays[f"decoded/{path.name}"] = bgr
        for mode in RESIZE_MODES:
            for iname, interp in INTERPOLATIONS.items():
                prep = Preprocessor(default.height, default.width, mode, interpolation=interp)
                for enc in ENCODINGS:
                    frame, w, h = raw_frame(bgr, enc)
                    arrays[f"nv12/{path.name}/{mode}/{iname}/{enc}"] = prep.from_raw(frame, w, h, enc)
        for iname in INTERPOLATIONS:
            nv12 = arrays[f"nv12/{path.name}/{default.mode}/{iname}/bgr8"]
            for model, clf in classifiers.items():
                arrays[f"out/{path.name}/{iname}/{model}"] = np.asarray(clf.backend.infer(nv12)).reshape(-1)
                if ref is not None:
                    arrays[f"out_on_ref/{path.name}/{iname}/{model}"] = np.asarray(
                        clf.backend.infer(ref[f"nv12/{path.name}/{default.mode}/{iname}/bgr8"])).reshape(-1)
    info = machine_info()
    if platform.machine() == "aarch64":
        info["emulated"] = f"qemu-aarch64 -cpu {os.environ.get('RDK_AARCH64_QEMU_CPU', 'cortex-a76')}"
    info.update(python=platform.python_version(), numpy=np.__version__, opencv=cv2.__version__,
                onnxruntime=__import__("onnxruntime").__version__, default_mode=default.mode,
                photos=names)
    np.savez_compressed(out, info=np.array(json.dumps(info)), **arrays)


# ------------------------------------------------------------------------------ comparison
def _diff(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"max_abs": int(d.max()), "differing": int(np.count_nonzero(d)), "bytes": int(d.size)}


def _summary(diffs: list[dict]) -> dict:
    return {"identical": sum(d["differing"] == 0 for d in diffs), "photos": len(diffs),
            "max_abs": max(d["max_abs"] for d in diffs),
            "max_differing": max(d["differing"] for d in diffs),
            "bytes": diffs[0]["bytes"]}


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    if x.min() >= 0 and abs(x.sum() - 1) < 1e-3:  # already probabilities
        return x
    e = np.exp(x - x.max())
    return e / e.sum()


def _top(p: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-p, kind="stable")[:TOP]]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _agreement(x86: dict, arm: dict, names: list[str], key_x86: str, key_arm: str,
               labels: tuple[str, str] = ("x86", "aarch64")) -> dict:
    rows = []
    for name in names:
        px, pa = _softmax(x86[key_x86.format(name)]), _softmax(arm[key_arm.format(name)])
        tx, ta = _top(px), _top(pa)
        rows.append({"photo": name, "top1_same": tx[0] == ta[0], "top5_same_order": tx == ta,
                     "top5_same_set": set(tx) == set(ta), "cosine": _cos(px, pa),
                     "max_prob_diff": float(np.abs(px - pa).max()),
                     "a": labels[0], "b": labels[1],
                     "top1_a": [tx[0], round(float(px[tx[0]]), 4)],
                     "second_a": [tx[1], round(float(px[tx[1]]), 4)],
                     "top1_b": [ta[0], round(float(pa[ta[0]]), 4)]})
    return {"top1_same": sum(r["top1_same"] for r in rows),
            "top5_same_order": sum(r["top5_same_order"] for r in rows),
            "top5_same_set": sum(r["top5_same_set"] for r in rows), "photos": len(rows),
            "min_cosine": min(r["cosine"] for r in rows),
            "max_prob_diff": max(r["max_prob_diff"] for r in rows),
            "disagreements": [r for r in rows if not r["top5_same_order"]]}


def compare_camera(x86_path: Path, arm_path: Path) -> dict:
    x86, arm = np.load(x86_path), np.load(arm_path)
    names = json.loads(str(x86["info"]))["photos"]
    report: dict = {"frame": f"{CAMERA[0]}x{CAMERA[1]} from each photo (INTER_LINEAR_EXACT)",
                    "frames_identical": sum(str(x86[f"camera_sha256/{n}"]) == str(arm[f"camera_sha256/{n}"])
                                            for n in names)}
    nv12: dict = {}
    for m in RESIZE_MODES:
        for iname in INTERPOLATIONS:
            for enc in CAMERA_ENCODINGS:
                key = "camera/{}/" + f"{m}/{iname}/{enc}"
                nv12[f"{m}/{iname}/{enc}: aarch64 vs x86"] = _summary(
                    [_diff(x86[key.format(n)], arm[key.format(n)]) for n in names])
            for arch, arrays in (("x86", x86), ("aarch64", arm)):
                nv12[f"{m}/{iname}/bgra8 vs bgr8 on {arch}"] = _summary(
                    [_diff(arrays[f"camera/{n}/{m}/{iname}/bgra8"], arrays[f"camera/{n}/{m}/{iname}/bgr8"])
                     for n in names])
    report["nv12"] = nv12
    return report


def compare(x86_path: Path, arm_path: Path) -> dict:
    x86, arm = np.load(x86_path), np.load(arm_path)
    ix, ia = json.loads(str(x86["info"])), json.loads(str(arm["info"]))
    names, mode = ix["photos"], ix["default_mode"]
    report: dict = {"x86": ix, "aarch64": ia}
    report["decoded_identical"] = sum(np.array_equal(x86[f"decoded/{n}"], arm[f"decoded/{n}"]) for n in names)
    nv12: dict = {}
    for m in RESIZE_MODES:
        for iname in INTERPOLATIONS:
            for enc in ENCODINGS:
                key = "nv12/{}/" + f"{m}/{iname}/{enc}"
                nv12[f"{m}/{iname}/{enc}: aarch64 vs x86"] = _summary(
                    [_diff(x86[key.format(n)], arm[key.format(n)]) for n in names])
            for enc in ("bgra8", "rgb8", "rgba8"):
                for arch, arrays in (("x86", x86), ("aarch64", arm)):
                    nv12[f"{m}/{iname}/{enc} vs bgr8 on {arch}"] = _summary(
                        [_diff(arrays[f"nv12/{n}/{m}/{iname}/{enc}"], arrays[f"nv12/{n}/{m}/{iname}/bgr8"])
                         for n in names])
        for arch, arrays in (("x86", x86), ("aarch64", arm)):
            nv12[f"{m}/bgr8 linear_exact vs linear on {arch}"] = _summary(
                [_diff(arrays[f"nv12/{n}/{m}/linear_exact/bgr8"], arrays[f"nv12/{n}/{m}/linear/bgr8"])
                 for n in names])
    report["nv12"] = nv12
    models: dict = {}
    for iname in INTERPOLATIONS:
        for model in MODELS:
            models[f"{model} {iname} (each its own NV12)"] = _agreement(
                x86, arm, names, f"out/{{}}/{iname}/{model}", f"out/{{}}/{iname}/{model}")
            if f"out_on_ref/{names[0]}/{iname}/{model}" in arm:
                models[f"{model} {iname} (same NV12: x86's)"] = _agreement(
                    x86, arm, names, f"out/{{}}/{iname}/{model}", f"out_on_ref/{{}}/{iname}/{model}")
    for arch, arrays in (("x86", x86), ("aarch64", arm)):
        for iname in INTERPOLATIONS:
            models[f"int8 vs fp32 on {arch}, {iname}"] = _agreement(
                arrays, arrays, names, f"out/{{}}/{iname}/{MODELS[0]}", f"out/{{}}/{iname}/{MODELS[1]}",
                ("fp32", "int8"))
    report["models"] = models
    report["default_mode"] = mode
    return report


# ------------------------------------------------------------------------------ timing
def timing(rounds: int = 5, runs: int = 300) -> dict:
    """Median time of ``from_raw`` for a 1080p frame, each interpolation, interleaved rounds."""
    out: dict = {"machine": machine_info(), "frame": "1920x1080 procedural (4 distinct)",
                 "rounds": rounds, "runs_per_round": runs, "ms": {}}
    for enc in ("bgr8", "nv12"):
        frames = make_frames(1920, 1080, enc)
        for mode in RESIZE_MODES:
            preps = {i: Preprocessor(224, 224, mode, interpolation=v) for i, v in INTERPOLATIONS.items()}
            medians: dict[str, list[float]] = {i: [] for i in preps}
            for _ in range(rounds):
                for iname, prep in preps.items():
                    for f in frames[:2]:
                        prep.from_raw(f, 1920, 1080, enc)
                    ts = np.empty(runs)
                    for k in range(runs):
                        f = frames[k % len(frames)]
                        t0 = time.perf_counter()
                        prep.from_raw(f, 1920, 1080, enc)
                        ts[k] = time.perf_counter() - t0
                    medians[iname].append(float(np.median(ts)) * 1e3)
            row = {i: float(np.median(v)) for i, v in medians.items()}
            row["ratio"] = row["linear_exact"] / row["linear"]
            out["ms"][f"{enc}/{mode}"] = row
    return out


# ------------------------------------------------------------------------------ report
def print_report(report: dict) -> None:
    cmp = report.get("compare")
    if cmp:
        ix, ia = cmp["x86"], cmp["aarch64"]
        print(f"x86: {ix['cpu']} | aarch64: {ia.get('emulated', ia['cpu'])}; numpy {ix['numpy']}, "
              f"OpenCV {ix['opencv']}, onnxruntime {ix['onnxruntime']}; "
              f"Python {ix['python']} / {ia['python']}")
        print(f"decoded photos identical: {cmp['decoded_identical']}/{len(ix['photos'])}")
        print("NV12 (224x224, 75264 bytes): photos identical, max |diff|, most differing bytes")
        for k, v in cmp["nv12"].items():
            print(f"  {k:58s} {v['identical']:2d}/{v['photos']}  {v['max_abs']:3d}  {v['max_differing']:6d}")
        print("model outputs: top-1 same, top-5 same (order), top-5 same (set), min cosine, max |dprob|")
        for k, v in cmp["models"].items():
            print(f"  {k:58s} {v['top1_same']:2d}/{v['photos']} {v['top5_same_order']:2d} "
                  f"{v['top5_same_set']:2d} {v['min_cosine']:.5f} {v['max_prob_diff']:.4f}")
            for r in v["disagreements"]:
                print(f"      {r['photo']}: {r['a']} top-1 {r['top1_a']} (2nd {r['second_a']}), "
                      f"{r['b']} top-1 {r['top1_b']}, top-5 same set: {r['top5_same_set']}")
    cam = report.get("camera")
    if cam:
        print(f"camera frames ({cam['frame']}) identical on both: {cam['frames_identical']}")
        for k, v in cam["nv12"].items():
            print(f"  {k:58s} {v['identical']:2d}/{v['photos']}  {v['max_abs']:3d}  {v['max_differing']:6d}")
    tim = report.get("timing")
    if tim:
        print(f"resize cost on {tim['machine']['cpu']} (from_raw 1080p -> 224x224 NV12, ms, median)")
        for k, v in tim["ms"].items():
            print(f"  {k:20s} linear {v['linear']:.3f}  linear_exact {v['linear_exact']:.3f}  "
                  f"ratio {v['ratio']:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("all")
    a.add_argument("--aarch64-python", required=True, help="the wrapper from tools/aarch64_check.sh")
    a.add_argument("--json")
    a.add_argument("--keep", help="keep the two .npz dumps in this folder")
    a.add_argument("--no-timing", action="store_true")
    d = sub.add_parser("dump")
    d.add_argument("out")
    d.add_argument("--reference")
    d.add_argument("--camera", action="store_true", help="the 1080p camera-frame section only")
    c = sub.add_parser("compare")
    c.add_argument("x86")
    c.add_argument("arm")
    c.add_argument("--camera", nargs=2, metavar=("X86_CAMERA", "ARM_CAMERA"), help="dumps made with --camera")
    c.add_argument("--json")
    t = sub.add_parser("timing")
    t.add_argument("--json")
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        if args.camera:
            dump_camera(Path(args.out))
        else:
            dump(Path(args.out), Path(args.reference) if args.reference else None)
        return 0
    report: dict = {}
    if args.cmd == "compare":
        report["compare"] = compare(Path(args.x86), Path(args.arm))
        if args.camera:
            report["camera"] = compare_camera(Path(args.camera[0]), Path(args.camera[1]))
    elif args.cmd == "timing":
        report["timing"] = timing()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.keep) if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            x86, arm = folder / "x86.npz", folder / "aarch64.npz"
            x86_cam, arm_cam = folder / "x86_camera.npz", folder / "aarch64_camera.npz"
            dump(x86)
            dump_camera(x86_cam)
            me = str(Path(__file__).resolve())
            subprocess.run([args.aarch64_python, me, "dump", str(arm), "--reference", str(x86)], check=True)
            subprocess.run([args.aarch64_python, me, "dump", str(arm_cam), "--camera"], check=True)
            report["compare"] = compare(x86, arm)
            report["camera"] = compare_camera(x86_cam, arm_cam)
        if not args.no_timing:
            report["timing"] = timing()
    print_report(report)
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
