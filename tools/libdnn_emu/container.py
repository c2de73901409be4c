"""Model containers for the libdnn emulator, and what the tests need around it.

A container stands in for a compiled ``.bin``: the tensor properties a real model reports through
the hbDNN API, as JSON, followed by an ONNX network that computes the scores::

    b"RDKEMU01" | uint32 little-endian JSON length | JSON | ONNX bytes

JSON: ``model_name``, ``bpu_cores`` (the emulated chip's core count; the X5 has 1), ``inputs`` and
``outputs`` (one each: ``name``, ``tensor_type`` ("NV12", "F32", "S32", ...), ``layout`` ("NCHW" /
"NHWC"), ``valid_shape``, ``aligned_shape``, ``stride`` (bytes, of the aligned layout),
``aligned_byte_size``, ``quanti_type`` ("NONE" / "SCALE"), ``quantize_axis``, ``scale``,
``zero_point``), ``network`` (``input_layout`` of the ONNX, the ``mean`` / ``scale`` the compiled
model applies to RGB) and ``faults`` (``{"infer": 1}``: every hbDNNInfer fails).

``OUTPUT_LAYOUTS`` are the output layouts of the RDK Model Zoo's classification models: float
(the model ends on a dequantize node), int32 SCALE per channel or per tensor (it ends on a BPU
node), padded the way the BPU aligns them (NCHW: W to 16 bytes; NHWC: C to 256-byte blocks), and a
2-D output.

Command line: ``python tools/libdnn_emu/container.py MODEL.onnx OUT.bin --layout padded_nhwc``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

MAGIC = b"RDKEMU01"
HERE = Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:  # the repository: rdk_classifier.safe_io
    sys.path.insert(0, str(HERE.parents[1]))

from rdk_classifier import safe_io  # noqa: E402
PAD_BYTE = 0x47  # every byte of an output buffer that is not a valid element

#: name -> (tensor_type, layout, valid shape, aligned shape, quantization)
OUTPUT_LAYOUTS: dict[str, tuple[str, str, tuple, tuple, str]] = {
    "float": ("F32", "NCHW", (1, 1000, 1, 1), (1, 1000, 1, 1), "none"),
    "float_2d": ("F32", "NCHW", (1, 1000), (1, 1000), "none"),
    "scale_per_channel": ("S32", "NCHW", (1, 1000, 1, 1), (1, 1000, 1, 1), "per_channel"),
    "scale_per_tensor": ("S32", "NCHW", (1, 1000, 1, 1), (1, 1000, 1, 1), "per_tensor"),
    "padded_nchw": ("S32", "NCHW", (1, 1000, 1, 1), (1, 1000, 1, 4), "per_channel"),
    "padded_nhwc": ("S32", "NHWC", (1, 1, 1, 1000), (1, 1, 1, 1024), "per_channel"),
}
ITEMSIZE = {"F32": 4, "S32": 4, "S16": 2, "S8": 1}
#: what the zoo's compiled models apply to RGB (ImageNet mean/std as the toolchain takes them)
ZOO_MEAN = (123.675, 116.28, 103.53)
ZOO_SCALE = (0.01712475, 0.017507, 0.01742919)


def per_channel_scale(n: int) -> list[float]:
    """Distinct small scales per class: a wrong axis or a missed scale changes the answer; fine
    enough (<= 1e-4) that quantization keeps the top-5 of real logits."""
    return [1e-4 * (1 + c % 7) / 7 for c in range(n)]


PER_TENSOR_SCALE = 5e-5


def compact_strides(shape: tuple, itemsize: int) -> list[int]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return list(reversed(strides))


def onnx_input(onnx_path: str | Path) -> tuple[str, int, int, dict]:
    """(layout "NCHW"/"NHWC", height, width, metadata) of an ONNX image classifier."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        raise ValueError(f"{onnx_path}: input shape {shape} is not a static 4-D image")
    meta = session.get_modelmeta().custom_metadata_map
    if shape[1] == 3:
        return "NCHW", shape[2], shape[3], meta
    return "NHWC", shape[1], shape[2], meta


def _floats(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    return tuple(float(v) for v in text.replace(",", " ").split())


def properties(onnx_path: str | Path, layout: str = "float", *, model_name: str = "emulated_net",
               num_classes: int = 1000, bpu_cores: int = 1, nv12_layout: str = "NCHW",
               nv12_pitch: int | None = None, nv12_type: str = "NV12",
               fail_infer: bool = False) -> dict[str, Any]:
    """The container JSON for ``onnx_path`` with one of OUTPUT_LAYOUTS (classes resized to
    ``num_classes``). Normalization: the ONNX's mean_value/scale_value metadata, else the zoo's.
    ``nv12_pitch``: an aligned NV12 row length (bytes) wider than the image (default: packed).
    ``nv12_type``: "NV12" (one memory, Y then UV) or "NV12_SEPARATE" (Y and UV in two)."""
    if nv12_type not in ("NV12", "NV12_SEPARATE"):
        raise ValueError(f"nv12_type must be NV12 or NV12_SEPARATE, got {nv12_type!r}")
    net_layout, h, w, meta = onnx_input(onnx_path)
    mean = _floats(meta.get("mean_value")) or ZOO_MEAN
    scale = _floats(meta.get("scale_value")) or ZOO_SCALE
    tensor_type, out_layout, valid, aligned, quant = OUTPUT_LAYOUTS[layout]
    valid = tuple(num_classes if d == 1000 else d for d in valid)
    aligned = tuple(num_classes + (a - 1000) if a >= 1000 else a for a in aligned)
    axis = next(i for i, d in enumerate(valid) if d == num_classes)
    itemsize = ITEMSIZE[tensor_type]
    output: dict[str, Any] = {
        "name": "scores", "tensor_type": tensor_type, "layout": out_layout,
        "valid_shape": list(valid), "aligned_shape": list(aligned),
        "stride": compact_strides(aligned, itemsize),
        "aligned_byte_size": math.prod(aligned) * itemsize,
        "quanti_type": "NONE" if quant == "none" else "SCALE", "quantize_axis": -1}
    if quant == "per_channel":
        output.update(quantize_axis=axis, scale=per_channel_scale(num_classes),
                      zero_point=[0] * num_classes)
    elif quant == "per_tensor":
        output.update(scale=[PER_TENSOR_SCALE], zero_point=[0])
    pitch = w if nv12_pitch is None else int(nv12_pitch)
    if pitch < w:
        raise ValueError(f"nv12_pitch {pitch} is narrower than the image ({w})")
    in_shape = [1, 3, h, w] if nv12_layout == "NCHW" else [1, h, w, 3]
    in_aligned = [1, 3, h, pitch] if nv12_layout == "NCHW" else [1, h, pitch, 3]
    return {
        "format": "rdk_classifier libdnn emulator container", "version": 1,
        "model_name": model_name, "bpu_cores": bpu_cores,
        "inputs": [{"name": "data", "tensor_type": nv12_type, "layout": nv12_layout,
                    "valid_shape": in_shape, "aligned_shape": in_aligned,
                    "stride": [0] * 4, "aligned_byte_size": h * pitch * 3 // 2,
                    "quanti_type": "NONE", "quantize_axis": -1}],
        "outputs": [output],
        "network": {"input_layout": net_layout, "mean": list(mean), "scale": list(scale)},
        "faults": {"infer": int(fail_infer)},
    }


def write_container(path: str | Path, props: dict, onnx_bytes: bytes, *,
                    force: bool = False) -> Path:
    """Write a container the package's way (rdk_classifier.safe_io: a temporary name in the
    target folder renamed into place; an existing file only with ``force``)."""
    text = json.dumps(props, indent=1).encode("ascii")
    return safe_io.write_bytes(path, MAGIC + struct.pack("<I", len(text)) + text + onnx_bytes,
                               force=force, what="emulator container")


def make_container(onnx_path: str | Path, out_path: str | Path, layout: str = "float", *,
                   force: bool = False, **kwargs: Any) -> Path:
    """A container of ``onnx_path`` with output layout ``layout`` at ``out_path``."""
    props = properties(onnx_path, layout, **kwargs)
    return write_container(out_path, props, Path(onnx_path).read_bytes(), force=force)


def read_container(path: str | Path) -> tuple[dict, bytes]:
    data = Path(path).read_bytes()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: not an emulator container")
    (n,) = struct.unpack("<I", data[8:12])
    return json.loads(data[12:12 + n]), data[12 + n:]


def build(out_dir: str | Path, cc: str | None = None, werror: bool = False) -> Path:
    """Build the emulator into ``out_dir`` with build.sh; the path of libdnn.so."""
    env = dict(os.environ, LIBDNN_EMU_WERROR="1" if werror else "0")
    if cc:
        env["CC"] = cc
    subprocess.run(["bash", str(HERE / "build.sh"), str(out_dir)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return Path(out_dir) / "libdnn.so"


def read_log(path: str | Path) -> list[dict]:
    """The emulator's call log (LIBDNN_EMU_LOG): one dict per call, in order."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", help="the network (an ONNX image classifier)")
    ap.add_argument("out", help="the container to write (.bin)")
    ap.add_argument("--layout", choices=sorted(OUTPUT_LAYOUTS), default="float")
    ap.add_argument("--model-name", default="emulated_net")
    ap.add_argument("--nv12-layout", choices=("NCHW", "NHWC"), default="NCHW")
    ap.add_argument("--nv12-type", choices=("NV12", "NV12_SEPARATE"), default="NV12")
    ap.add_argument("--fail-infer", action="store_true", help="every hbDNNInfer fails")
    ap.add_argument("--force", action="store_true", help="replace an existing file")
    args = ap.parse_args(argv)
    try:
        make_container(args.onnx, args.out, args.layout, model_name=args.model_name,
                       nv12_layout=args.nv12_layout, nv12_type=args.nv12_type,
                       fail_infer=args.fail_infer, force=args.force)
    except (OSError, ValueError) as exc:  # OutputError (safe_io) is an OSError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
