"""What a model needs to be fed and read: normalization, input colour order, resize mode and class
names, recorded with the model so that no command has to guess them.

An ONNX model carries them in its ``metadata_props`` (the keys below; ``mean_value`` /
``scale_value`` are hb_mapper's spelling and what ``quantize`` always wrote). A compiled ``.bin``
cannot be edited, so its facts sit in a sidecar file next to it, ``<name>.bin.json``, holding the
same keys. ``python -m rdk_classifier model-info`` shows and writes them.

Every command that feeds a model reads them through ``model_facts_of`` (via the zoo's resolution of
a model file), so classify, evaluate, bench, calib, quantize, toolchain-config and the node agree.
A user's ONNX without normalization is an error that says what to record: a guessed ImageNet
mean/scale gives plausible but wrong answers.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from . import safe_io
from .class_names import MAX_CLASSES, MAX_NAME_LENGTH
from .errors import ModelError, NormalizationError
from .normalization import MEAN_KEY, SCALE_KEY, Triple, format_triple, parse_triple

INPUT_TYPE_KEY = "input_type_train"
RESIZE_MODE_KEY = "resize_mode"
CLASS_NAMES_KEY = "class_names"
#: hb_mapper's open input_type_train values for an image input (horizon_tc_ui's parameter list)
INPUT_TYPES = ("rgb", "bgr", "gray", "yuv444")
#: the resize modes of ``frames`` (kept literal here: the core must not import frames for this)
RESIZE_MODES = ("direct", "letterbox", "center_crop")
SIDECAR_SUFFIX = ".json"
MAX_SIDECAR_BYTES = 4 << 20


class ModelFactsError(ModelError, ValueError):
    """Recorded model facts are malformed, or a model lacks the ones a command needs."""


@dataclass(frozen=True)
class ModelFacts:
    """Facts recorded with a model; None where the model does not say."""

    mean: Triple | None = None
    scale: Triple | None = None
    input_type_train: str | None = None
    resize_mode: str | None = None
    class_names: tuple[str, ...] | None = None

    def merged(self, other: "ModelFacts") -> "ModelFacts":
        """These facts, with ``other``'s filled in where these have none."""
        return ModelFacts(*(a if a is not None else b for a, b in zip(self._values(), other._values())))

    def overridden(self, **given) -> "ModelFacts":
        """A copy with the non-None keyword values replacing these."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    def _values(self) -> tuple:
        return (self.mean, self.scale, self.input_type_train, self.resize_mode, self.class_names)

    def to_metadata(self) -> dict[str, str]:
        """The metadata entries of the facts that are set."""
        meta: dict[str, str] = {}
        if self.mean is not None:
            meta[MEAN_KEY] = format_triple(self.mean)
        if self.scale is not None:
            meta[SCALE_KEY] = format_triple(self.scale)
        if self.input_type_train is not None:
            meta[INPUT_TYPE_KEY] = self.input_type_train
        if self.resize_mode is not None:
            meta[RESIZE_MODE_KEY] = self.resize_mode
        if self.class_names is not None:
            meta[CLASS_NAMES_KEY] = json.dumps(list(self.class_names), ensure_ascii=False)
        return meta

    def to_dict(self) -> dict:
        return {"mean": list(self.mean) if self.mean else None,
                "scale": list(self.scale) if self.scale else None,
                "input_type_train": self.input_type_train, "resize_mode": self.resize_mode,
                "class_names": list(self.class_names) if self.class_names is not None else None}


def check_input_type(value: str, source: str = "input_type_train") -> str:
    if value not in INPUT_TYPES:
        raise ModelFactsError(f"{source} {value!r} is not one of {', '.join(INPUT_TYPES)}")
    return value


def check_resize_mode(value: str, source: str = "resize_mode") -> str:
    if value not in RESIZE_MODES:
        raise ModelFactsError(f"{source} {value!r} is not one of {', '.join(RESIZE_MODES)}")
    return value


def check_class_names(names, source: str = "class_names") -> tuple[str, ...]:
    """A list of 1..MAX_CLASSES short names without control characters."""
    if not isinstance(names, (list, tuple)) or not names:
        raise ModelFactsError(f"{source} is not a non-empty list of names")
    if len(names) > MAX_CLASSES:
        raise ModelFactsError(f"{source} has {len(names)} names; at most {MAX_CLASSES}")
    out = []
    for k, name in enumerate(names):
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not name.strip():
            raise ModelFactsError(f"{source}[{k}] is not a name of 1-{MAX_NAME_LENGTH} characters")
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
            raise ModelFactsError(f"{source}[{k}] contains a control character")
        out.append(name.strip())
    return tuple(out)


def parse_facts(meta: Mapping[str, str], source: str = "model metadata") -> ModelFacts:
    """The facts in a metadata map (unknown keys ignored); one typed error for a bad value."""
    try:
        mean = parse_triple(meta[MEAN_KEY], MEAN_KEY) if MEAN_KEY in meta else None
        scale = parse_triple(meta[SCALE_KEY], SCALE_KEY) if SCALE_KEY in meta else None
    except NormalizationError as exc:
        raise ModelFactsError(f"{source}: {exc}") from None
    for name, values in ((MEAN_KEY, mean), (SCALE_KEY, scale)):
        if values is not None and not all(abs(v) < 1e30 and v == v for v in values):
            raise ModelFactsError(f"{source}: {name} {values} is not finite")
    if scale is not None and 0.0 in scale:
        raise ModelFactsError(f"{source}: {SCALE_KEY} {scale} has a zero (the input would vanish)")
    input_type = (check_input_type(str(meta[INPUT_TYPE_KEY]), f"{source}: {INPUT_TYPE_KEY}")
                  if INPUT_TYPE_KEY in meta else None)
    resize = (check_resize_mode(str(meta[RESIZE_MODE_KEY]), f"{source}: {RESIZE_MODE_KEY}")
              if RESIZE_MODE_KEY in meta else None)
    names = None
    if CLASS_NAMES_KEY in meta:
        raw = meta[CLASS_NAMES_KEY]
        try:
            decoded = json.loads(raw) if isinstance(raw, str) else raw
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise ModelFactsError(f"{source}: {CLASS_NAMES_KEY} is not a JSON list of names") from None
        names = check_class_names(decoded, f"{source}: {CLASS_NAMES_KEY}")
    return ModelFacts(mean, scale, input_type, resize, names)


def sidecar_path(model: str | Path) -> Path:
    """Where the facts of a compiled model live: ``<name>.bin.json`` beside it."""
    p = Path(model)
    return p.with_name(p.name + SIDECAR_SUFFIX)


#: ModelProto's field numbers (onnx.proto): metadata_props and the entries' key / value
_METADATA_PROPS_FIELD = 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
#: protobuf wire types
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
#: bounds of what is read of a model's metadata (the class names alone are capped at 4 MB)
MAX_METADATA_ENTRY_BYTES = 16 << 20
MAX_METADATA_BYTES = 64 << 20
#: an ONNX file may be large (weights inline); only its top-level field headers and the metadata
#: entries are read
MAX_ONNX_FILE_BYTES = 1 << 40


def _varint(buf, pos: int, end: int, where: str) -> tuple[int, int]:
    """A protobuf varint at ``buf[pos:end]``: (value, position after it)."""
    value = shift = 0
    while pos < end and shift < 70:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ModelError(f"{where}: truncated or malformed protobuf field header")


def _file_varint(f, where: str) -> int | None:
    """A varint read from the file object; None at a clean end of file."""
    head = f.read(1)
    if not head:
        return None
    data = bytearray(head)
    while data[-1] & 0x80 and len(data) < 10:
        more = f.read(1)
        if not more:
            break
        data += more
    return _varint(data, 0, len(data), where)[0]


def _skip_size(wire: int, where: str) -> int:
    if wire == _FIXED64:
        return 8
    if wire == _FIXED32:
        return 4
    raise ModelError(f"{where}: unsupported protobuf wire type {wire} (not an ONNX model?)")


def _metadata_entry(data: bytes, where: str) -> tuple[str, str]:
    """One StringStringEntryProto (key = 1, value = 2; unknown fields skipped, last one wins)."""
    key = value = b""
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _varint(data, pos, end, where)
        field, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            _, pos = _varint(data, pos, end, where)
            continue
        if wire == _LENGTH_DELIMITED:
            size, pos = _varint(data, pos, end, where)
            if size > end - pos:
                raise ModelError(f"{where}: a metadata entry runs past its end")
            if field == _ENTRY_KEY:
                key = data[pos:pos + size]
            elif field == _ENTRY_VALUE:
                value = data[pos:pos + size]
            pos += size
            continue
        pos += _skip_size(wire, where)
        if pos > end:
            raise ModelError(f"{where}: a metadata entry runs past its end")
    try:
        return key.decode("utf-8"), value.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{where}: a metadata entry is not UTF-8 text") from None


def onnx_metadata_props(path: str | Path) -> dict[str, str]:
    """An ONNX model's ``metadata_props`` as a dict (a key given twice: the last one), read
    without loading the model: the file's top-level protobuf fields are walked, the graph and
    every other field skipped by their lengths, only the metadata entries read (each at most
    ``MAX_METADATA_ENTRY_BYTES``, all together ``MAX_METADATA_BYTES``). Loading the model through
    the ``onnx`` package or a second ONNX Runtime session for this cost a second copy of the
    weights in memory and seconds (2.5 s and +19 MB for an 18 MB model with ``onnx``).
    ModelError for a file that is not a readable protobuf message of this shape."""
    where = str(path)
    props: dict[str, str] = {}
    total = 0
    with safe_io.open_bounded(path, MAX_ONNX_FILE_BYTES, "ONNX model", ModelError) as f:
        size = os.fstat(f.fileno()).st_size
        while True:
            tag = _file_varint(f, where)
            if tag is None:
                break
            field, wire = tag >> 3, tag & 7
            if field == 0:
                raise ModelError(f"{where} is not an ONNX model (protobuf field number 0)")
            if wire == _VARINT:
                if _file_varint(f, where) is None:
                    raise ModelError(f"{where}: truncated protobuf field")
                continue
            length = _file_varint(f, where) if wire == _LENGTH_DELIMITED else _skip_size(wire, where)
            if length is None or length > size - f.tell():
                raise ModelError(f"{where}: truncated (a field runs past the end of the file)")
            if wire == _LENGTH_DELIMITED and field == _METADATA_PROPS_FIELD:
                total += length
                if length > MAX_METADATA_ENTRY_BYTES or total > MAX_METADATA_BYTES:
                    raise ModelError(f"{where}: metadata larger than the limit of "
                                     f"{MAX_METADATA_ENTRY_BYTES >> 20} MB an entry, "
                                     f"{MAX_METADATA_BYTES >> 20} MB in all")
                key, value = _metadata_entry(f.read(length), where)
                props[key] = value
            else:
                f.seek(length, os.SEEK_CUR)
    return props


def read_model_facts(path: str | Path) -> ModelFacts:
    """The facts recorded with a model file: an ONNX's metadata, a .bin's sidecar (empty facts
    when there is none)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return parse_facts(onnx_metadata_props(path), f"{path} metadata")
    side = sidecar_path(path)
    if not side.exists():
        return ModelFacts()
    text = safe_io.read_bounded_text(side, MAX_SIDECAR_BYTES, "model facts file", ModelFactsError)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ModelFactsError(f"{side} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelFactsError(f"{side} is not a JSON object of model facts")
    return parse_facts(data, str(side))


def missing_normalization(path: str | Path) -> ModelFactsError:
    """The error for a user model that does not say how it was normalized."""
    return ModelFactsError(
        f"{path} records no normalization (metadata {MEAN_KEY} / {SCALE_KEY}); say how the model "
        f"was trained, once: python -m rdk_classifier model-info --model {Path(path).name} "
        f"--mean R G B --scale R G B [--input-type rgb|bgr] [--resize-mode center_crop] "
        f"[--class-names FILE] --out ANNOTATED.onnx (ImageNet-trained: --mean 123.675 116.28 "
        f"103.53 --scale 0.01712475 0.017507 0.01742919)")


def write_model_facts(model: str | Path, facts: ModelFacts, out: str | Path | None = None,
                      force: bool = False) -> Path:
    """Record ``facts`` with a model, on top of what it already records.

    ONNX: a copy of the model with the metadata set, at ``out`` (never over the input).
    .bin: the sidecar next to the model (``out`` must be None or the sidecar's path)."""
    model = Path(model)
    if not model.is_file():
        raise ModelError(f"model file not found: {model}")
    merged = facts.merged(read_model_facts(model))
    if model.suffix.lower() == ".onnx":
        if out is None:
            raise ModelFactsError("an ONNX model is annotated into a new file: give --out FILE.onnx")
        try:
            import onnx
        except ImportError:
            raise ModelError("writing ONNX metadata needs the onnx package: pip install onnx") from None
        try:
            proto = onnx.load(str(model))
        except Exception as exc:  # onnx raises DecodeError, google.protobuf errors, ...
            raise ModelError(f"{model} is not a readable ONNX model: {exc}") from None
        if facts.class_names is not None and len(proto.graph.output) == 1:
            dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
            outputs = 1
            for d in dims:
                outputs *= d
            if dims and all(d > 0 for d in dims) and outputs != len(facts.class_names):
                raise ModelFactsError(f"{model} has {outputs} outputs but {len(facts.class_names)} "
                                      f"class names were given; give exactly {outputs}")
        props = {p.key: p.value for p in proto.metadata_props}
        props.update(merged.to_metadata())
        del proto.metadata_props[:]
        onnx.helper.set_model_props(proto, props)
        return safe_io.write_bytes(Path(out), proto.SerializeToString(), force=force,
                                   inputs=[model], what="annotated model")
    side = sidecar_path(model)
    if out is not None and Path(out).absolute() != side.absolute():
        raise ModelFactsError(f"the facts of a .bin go next to it, in {side}; drop --out")
    entries: dict = {"model": model.name, **merged.to_metadata()}
    if merged.class_names is not None:
        entries[CLASS_NAMES_KEY] = list(merged.class_names)
    text = json.dumps(entries, indent=1, ensure_ascii=False)
    return safe_io.write_text(side, text + "\n", force=force, inputs=[model], what="model facts")


__all__ = ["CLASS_NAMES_KEY", "INPUT_TYPES", "INPUT_TYPE_KEY", "ModelFacts", "ModelFactsError",
           "onnx_metadata_props",
           "RESIZE_MODES", "RESIZE_MODE_KEY", "check_class_names", "check_input_type",
           "check_resize_mode", "missing_normalization", "parse_facts", "read_model_facts",
           "sidecar_path", "write_model_facts"]
