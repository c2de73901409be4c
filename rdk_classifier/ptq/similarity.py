"""How far an int8 model is from its float model: what hb_mapper prints after makertbin.

Cosine similarity, L1, L2 and Chebyshev distance of the output (and optionally of every node's
output) over the calibration images, computed with the package's ONNX Runtime sessions (so the
figures hold on every CPU, see ``backends.onnx_session``), and with labeled images the top-1/top-5
of both models through the package's own evaluation (``evaluation.evaluate``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..backends.onnx_session import (X64_QUANT_PRECISION, cpu_int8_info, create_session,
                                    onnxruntime_version)
from .calibration import CalibrationReader
from ..errors import CalibrationError
from ..progress import progress_bar
from .quantization import calibration_for, model_normalization
from .toolchain import import_onnx


def similarity(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """hb_mapper's four figures for two tensors of the same size.

    cosine similarity; L1 = mean absolute difference; L2 = Euclidean norm of the difference
    divided by the element count; Chebyshev = largest absolute difference. Two all-zero tensors
    have cosine 1, one all-zero tensor against a non-zero one has cosine 0.
    """
    a = np.asarray(reference, np.float64).reshape(-1)
    b = np.asarray(other, np.float64).reshape(-1)
    if a.size != b.size:
        raise ValueError(f"cannot compare tensors of {a.size} and {b.size} elements")
    if a.size == 0:
        raise ValueError("cannot compare empty tensors")
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        cosine = 1.0 if na == nb else 0.0
    else:
        cosine = float(np.dot(a, b) / (na * nb))
    d = np.abs(a - b)
    return {"cosine": cosine, "l1": float(d.mean()), "l2": float(np.sqrt(np.dot(d, d)) / d.size),
            "chebyshev": float(d.max())}


class SimilarityStats:
    """Running mean / worst of ``similarity`` over many tensor pairs."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = {"cosine": 0.0, "l1": 0.0, "l2": 0.0, "chebyshev": 0.0}
        self.cosine_min = float("inf")
        self.chebyshev_max = 0.0

    def add(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        s = similarity(reference, other)
        self.count += 1
        for k, v in s.items():
            self._sum[k] += v
        self.cosine_min = min(self.cosine_min, s["cosine"])
        self.chebyshev_max = max(self.chebyshev_max, s["chebyshev"])
        return s

    def summary(self) -> dict[str, float | int]:
        if not self.count:
            raise ValueError("no tensor pairs compared")
        mean = {f"{k}_mean": v / self.count for k, v in self._sum.items()}
        return {"count": self.count, **mean, "cosine_min": self.cosine_min,
                "chebyshev_max": self.chebyshev_max}


def compare_outputs(float_model: str | Path, quant_model: str | Path, reader: CalibrationReader,
                    threads: int = 1) -> dict:
    """Output similarity and top-1 agreement of two models over the calibration tensors."""
    f_sess = create_session(float_model, threads=threads)
    q_sess = create_session(quant_model, threads=threads)
    stats, agree = SimilarityStats(), 0
    for feed in reader:
        f_out = f_sess.run(None, feed)[0]
        q_out = q_sess.run(None, feed)[0]
        stats.add(f_out, q_out)
        agree += int(np.argmax(f_out) == np.argmax(q_out))
    summary = stats.summary()
    return {"output": f_sess.get_outputs()[0].name, **summary, "top1_agreement": agree / stats.count}


def _float_node_outputs(proto) -> list[tuple[str, str, str]]:
    """(node name, op type, output tensor) of every float-valued node output, in graph order."""
    onnx = import_onnx()

    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {v.name: v.type.tensor_type.elem_type
             for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    rows = []
    for node in proto.graph.node:
        if node.op_type == "Constant":
            continue
        for out in node.output:
            if out and types.get(out) == onnx.TensorProto.FLOAT:
                rows.append((node.name or out, node.op_type, out))
    return rows


def _with_outputs(proto, names: Iterable[str]) -> bytes:
    onnx = import_onnx()

    proto = _copy(proto)
    present = {o.name for o in proto.graph.output}
    for name in names:
        if name not in present:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return proto.SerializeToString()


def _copy(proto):
    clone = type(proto)()
    clone.CopyFrom(proto)
    return clone


def _dequantized_names(proto) -> dict[str, str]:
    """tensor -> the output of its QuantizeLinear -> DequantizeLinear pair in a QDQ model."""
    dq_of: dict[str, str] = {}
    for node in proto.graph.node:
        if node.op_type == "DequantizeLinear":
            dq_of.setdefault(node.input[0], node.output[0])
    return {node.input[0]: dq_of[node.output[0]] for node in proto.graph.node
            if node.op_type == "QuantizeLinear" and node.output[0] in dq_of}


def compare_nodes(float_model: str | Path, quant_model: str | Path,
                  reader: CalibrationReader) -> list[dict]:
    """Per-node similarity of the float and the QDQ model (hb_mapper's per-node table).

    A node's int8 value is its output after quantize -> dequantize (what the next node gets; a
    ReLU6 the quantizer folded into that range is clipped there), or the plain output where the
    quantizer left it float. Both models run unoptimized, the QDQ one as ONNX defines it, so a
    node's figure is the error accumulated up to that node. Float nodes with no counterpart in
    the QDQ model are not listed.
    """
    onnx = import_onnx()

    f_proto = onnx.load(str(float_model))
    q_proto = onnx.load(str(quant_model))
    q_produced = {o: n.op_type for n in q_proto.graph.node for o in n.output}
    dequantized = _dequantized_names(q_proto)
    rows = []
    for name, op, tensor in _float_node_outputs(f_proto):
        if tensor in dequantized:
            rows.append((name, op, tensor, dequantized[tensor]))
        elif tensor in q_produced:  # left float, or a graph output (then the DQ writes it)
            rows.append((name, op, tensor, tensor))
    f_names = [r[2] for r in rows]
    q_names = [r[3] for r in rows]
    f_sess = create_session(_with_outputs(f_proto, f_names), optimize=False)
    q_sess = create_session(_with_outputs(q_proto, q_names), optimize=False)
    stats = [SimilarityStats() for _ in rows]
    for feed in reader:
        f_vals = f_sess.run(f_names, feed)
        q_vals = q_sess.run(q_names, feed)
        for st, fv, qv in zip(stats, f_vals, q_vals):
            st.add(fv, qv)
    return [{"node": name, "op_type": op, "tensor": tensor, **st.summary()}
            for (name, op, tensor, _), st in zip(rows, stats)]


def evaluate_models(models: dict[str, str | Path], images_dir: str | Path, labels_path: str | Path,
                    resize_mode: str | None = None, progress: bool = False,
                    class_names: str | None = None) -> dict:
    """Top-1/top-5 of each model on labeled images through ``evaluation.evaluate`` (the path of
    the ``evaluate`` command, the CLI and the node), over the images every model could classify,
    and how often each model's top-1 equals the first model's."""
    from ..classifier import Classifier, ClassifierConfig
    from ..evaluation import evaluate, read_labels

    samples = read_labels(labels_path)
    reports = {}
    for name, path in models.items():
        clf = Classifier.from_config(ClassifierConfig(model=str(path), backend="cpu",
                                                      resize_mode=resize_mode,
                                                      class_names=class_names))
        try:
            with progress_bar(total=len(samples), desc=f"evaluating {name}", unit="img",
                           enabled=progress) as bar:
                reports[name] = evaluate(clf, images_dir, samples, progress=lambda _r: bar.update())
        finally:
            clf.close()
    first = next(iter(models))
    rows = list(zip(*(r.results for r in reports.values())))  # per image: one result per model
    usable = [row for row in rows if all(r.ok for r in row)]
    skipped = [{"source": row[0].name, "error": next(r.error for r in row if not r.ok)}
               for row in rows if not all(r.ok for r in row)]
    n = len(usable)
    if not n:
        raise CalibrationError(f"none of the {len(samples)} labeled images could be classified "
                               f"from {images_dir}")
    names = list(models)
    hits = {name: {"top1": 0, "top5": 0, "agree": 0} for name in names}
    per_image = []
    for row in usable:
        ref = row[0].top[0].class_id
        for name, r in zip(names, row):
            hits[name]["top1"] += int(r.top1_correct)
            hits[name]["top5"] += int(r.top5_correct)
            hits[name]["agree"] += int(r.top[0].class_id == ref)
        per_image.append({"source": row[0].name, "label": row[0].label,
                          **{f"{name}_top5": [p.class_id for p in r.top[:5]]
                             for name, r in zip(names, row)}})
    return {
        "images": n,
        "models": {name: {"top1": h["top1"] / n, "top5": h["top5"] / n,
                          "top1_agreement": h["agree"] / n} for name, h in hits.items()},
        "reference": first,
        "per_image": per_image,
        "skipped": skipped,
    }


def similarity_report(float_model: str | Path, quant_model: str | Path, calib_dir: str | Path,
                      mean: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                      per_node: bool = False, eval_images: str | Path | None = None,
                      eval_labels: str | Path | None = None, progress: bool = False,
                      class_names: str | None = None, eval_float_model: str | Path | None = None
                      ) -> dict:
    """The float vs int8 comparison as one JSON-able dict (see ``format_report``)."""
    info, calib = calibration_for(float_model, calib_dir)
    mean, scale = model_normalization(info, mean, scale, float_model)
    reader = CalibrationReader(calib.paths, info, mean, scale, progress=progress, desc="comparing",
                               target=calib.target)
    report = {
        "float_model": str(float_model),
        "quant_model": str(quant_model),
        "float_size_bytes": os.path.getsize(float_model),
        "quant_size_bytes": os.path.getsize(quant_model),
        "calibration_dir": str(calib.directory),
        "calibration_images": len(calib.entries),
        "mean": list(mean), "scale": list(scale),
        "cpu": cpu_int8_info().to_dict(),
        "onnxruntime": onnxruntime_version(),
        "output": compare_outputs(float_model, quant_model, reader),
    }
    if per_node:
        reader.desc = "per-node comparison"
        report["nodes"] = compare_nodes(float_model, quant_model, reader)
    if eval_images is not None and eval_labels is not None:
        report["evaluation"] = evaluate_models(
            {"float": eval_float_model or float_model, "int8": quant_model}, eval_images,
            eval_labels, progress=progress, class_names=class_names)
    return report


def format_report(report: dict) -> str:
    """hb_mapper-style text tables of a ``similarity_report``."""
    out = report["output"]
    lines = [
        f"float model: {report['float_model']} ({report['float_size_bytes'] / 1e6:.1f} MB)",
        f"int8 model:  {report['quant_model']} ({report['quant_size_bytes'] / 1e6:.1f} MB)",
        f"compared on {report['calibration_images']} calibration images of {report['calibration_dir']}",
    ]
    if "cpu" in report:
        lines += _cpu_lines(report["cpu"], report.get("onnxruntime", "?"),
                            report.get("settings", {}).get("activation_type", "uint8"))
    if "settings" in report:
        s = report["settings"]
        lines.append(f"quantization: {s['method']}, {'per-channel' if s['per_channel'] else 'per-tensor'}"
                     f" weights, {s['activation_type']} activations ({report.get('seconds', 0):.1f} s)")
    header = (f"{'Node':<44} {'Type':<18} {'Cosine Similarity':>17} {'L1 Distance':>12} "
              f"{'L2 Distance':>12} {'Chebyshev Distance':>19}")
    if "nodes" in report:
        lines += ["", "per node (mean over images; cumulative error up to the node):", "=" * len(header),
                  header, "-" * len(header)]
        for row in report["nodes"]:
            name = row["node"] if len(row["node"]) <= 44 else "..." + row["node"][-41:]
            lines.append(f"{name:<44} {row['op_type']:<18} {row['cosine_mean']:>17.6f} "
                         f"{row['l1_mean']:>12.6f} {row['l2_mean']:>12.6f} {row['chebyshev_mean']:>19.6f}")
    head = (f"{'Output':<24} {'Cosine Similarity':>17} {'L1 Distance':>12} {'L2 Distance':>12} "
            f"{'Chebyshev Distance':>19}")
    lines += ["", "model output (mean over images):", "=" * len(head), head, "-" * len(head),
              f"{out['output']:<24} {out['cosine_mean']:>17.6f} {out['l1_mean']:>12.6f} "
              f"{out['l2_mean']:>12.6f} {out['chebyshev_mean']:>19.6f}",
              f"worst image: cosine {out['cosine_min']:.6f}, Chebyshev {out['chebyshev_max']:.6f}; "
              f"same top-1 on {out['top1_agreement'] * 100:.1f} % of the calibration images"]
    ev = report.get("evaluation")
    if ev:
        lines += ["", f"accuracy on {ev['images']} labeled images "
                      f"({len(ev['skipped'])} unreadable, skipped):",
                  f"{'model':<8} {'top-1':>7} {'top-5':>7} {'same top-1 as ' + ev['reference']:>22}"]
        for name, m in ev["models"].items():
            lines.append(f"{name:<8} {m['top1'] * 100:>6.1f}% {m['top5'] * 100:>6.1f}% "
                         f"{m['top1_agreement'] * 100:>21.1f}%")
    return "\n".join(lines)


def _cpu_lines(cpu: dict, ort_version: str, activation_type: str) -> list[str]:
    """Where the int8 figures were computed, and whether they carry over to other CPUs."""
    widened = f", session {X64_QUANT_PRECISION}=1" if cpu["saturating_without_setting"] else ""
    lines = [f"computed on: {cpu['cpu']} ({cpu['machine']}), onnxruntime {ort_version}, int8 "
             f"kernels {cpu['int8_kernels']}{widened}"]
    if activation_type == "uint8":
        lines.append("note: uint8 activations x int8 weights (U8S8): the same figures on AVX2, "
                     f"AVX-512 VNNI and ARM with this package's sessions (which set "
                     f"{X64_QUANT_PRECISION}=1 on CPUs without VNNI); an ONNX Runtime session "
                     f"without {X64_QUANT_PRECISION}=1 on an x86 CPU without VNNI (AVX2 only) "
                     "saturates 16-bit sums and can agree far less with the float model")
    return lines


__all__ = ["SimilarityStats", "compare_nodes", "compare_outputs", "evaluate_models",
           "format_report", "similarity", "similarity_report"]
