"""Calibration sets for post-training quantization: the seed's 02_preprocess, written so that
hb_mapper reads them as intended.

Facts of the vendor's reader (horizon_tc_ui ``data/loader.py``, read for facts only):
``DirDataLoader.build_image_list`` takes EVERY entry of ``cal_data_dir`` (``sorted(os.listdir)``,
hidden files included, no extension filter), runs ``os.system(f"md5sum {dir}/{first}")`` on the
first one (a shell parses that path), and ``RawImagesDirLoader`` does
``np.fromfile(file, dtype).reshape(input_shape)`` on each, ``dtype`` from ``cal_data_type``,
``input_shape`` in the layout of ``input_layout_train``. So the folder holds tensor files ONLY
(the manifest lives beside it, ``<folder>.manifest.json``), their names are plain ASCII
(``00000_<stem>.rgb``), and each tensor has the model's layout, colour order and dtype.

The pixels are the vendor's calibration transformer chain (horizon_tc_ui ``data/transformer.py``):
``ShortSideResizeTransformer(S)`` on the uint8 BGR image (``cv2.resize`` to ``int(S * long /
short)`` by ``S``, INTER_LINEAR), ``CenterCropTransformer(C)`` (rows from ``H // 2 - C // 2``,
columns from ``W // 2 - C // 2``, square), then ``BGR2RGB`` and ``HWC2CHW`` where the model wants
them; ``S = int(C * 256 / 224)`` (the seed's 256 for 224). ``CalibrationReader`` feeds the same
files to ONNX Runtime's quantizer.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from .. import budget, safe_io
from ..errors import CalibrationError, FrameError
from ..frames import IMAGE_SUFFIXES, load_image
from ..progress import progress_bar
from .toolchain import OnnxInput

if TYPE_CHECKING:
    from ..progress import ProgressBar

CALIB_EXT = ".rgb"
MANIFEST_SUFFIX = ".manifest.json"
#: the name an older version wrote INSIDE the folder (hb_mapper then fails on it)
LEGACY_MANIFEST_NAME = "manifest.json"
CALIB_RESIZE_MODE = "center_crop"
#: the zoo's PTQ guide asks for 100-300 calibration images of the deployment domain
RECOMMENDED_CALIBRATION_IMAGES = 100
#: hb_mapper's cal_data_type values this package writes (the vendor also reads int8/16/32)
CAL_DATA_TYPES = ("float32", "uint8")
LAYOUTS = ("NCHW", "NHWC")
#: colour orders the calibration chain can produce (the vendor chain swaps BGR->RGB or not)
CALIB_INPUT_TYPES = ("rgb", "bgr")
_SAFE_NAME = re.compile(r"[0-9]{5}_[A-Za-z0-9_]{1,40}\.(rgb|bgr)")


@dataclass(frozen=True)
class CalibrationTarget:
    """What one calibration tensor must be: the model input's size, layout, colour and dtype."""

    height: int = 224
    width: int = 224
    layout: str = "NCHW"
    dtype: str = "float32"
    input_type: str = "rgb"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return ((1, 3, self.height, self.width) if self.layout == "NCHW"
                else (1, self.height, self.width, 3))

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def ext(self) -> str:
        return f".{self.input_type}"

    def check(self) -> "CalibrationTarget":
        """Refuse what hb_mapper or the vendor's chain cannot take, with the reason."""
        if self.layout not in LAYOUTS:
            raise CalibrationError(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if self.dtype not in CAL_DATA_TYPES:
            raise CalibrationError(f"cal_data_type {self.dtype!r} is not one of "
                                   f"{', '.join(CAL_DATA_TYPES)}")
        if self.input_type not in CALIB_INPUT_TYPES:
            raise CalibrationError(
                f"input_type_train {self.input_type!r}: calib writes rgb or bgr tensors (the "
                f"vendor's chain for gray/yuv444 models is not implemented here)")
        check_calibration_size(self.height, self.width)
        return self


def check_calibration_size(height: int, width: int) -> None:
    """The input sizes the vendor's path takes: even (the board feeds NV12, whose chroma covers
    2x2 pixels) and square (``CenterCropTransformer`` crops a square)."""
    if height <= 0 or width <= 0:
        raise CalibrationError(f"input size {width}x{height} is empty")
    if height % 2 or width % 2:
        raise CalibrationError(
            f"input size {width}x{height} is odd; the RDK feeds NV12 (input_type_rt nv12), whose "
            f"chroma covers 2x2 pixels, so height and width must be even: re-export the model at "
            f"{width + width % 2}x{height + height % 2} or {width - width % 2}x{height - height % 2}")
    if height != width:
        raise CalibrationError(
            f"input size {width}x{height} is not square; the vendor's calibration chain "
            f"(ShortSideResize then CenterCropTransformer) crops a square: re-export the model "
            f"with a square input, or prepare the calibration tensors yourself")


def calibration_short_side(crop: int) -> int:
    """The short side the photo is resized to before the centre crop (256 for 224)."""
    return int(crop * 256 / 224)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel BGR, as ``cv2.imread`` (IMREAD_COLOR) gives the vendor's chain."""
    import cv2

    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def calibration_tensor(bgr: np.ndarray, target: CalibrationTarget | tuple[int, int]) -> np.ndarray:
    """One photo through the vendor's calibration chain, as the target wants it: shape
    ``target.shape`` (batch 1), ``target.dtype``, values 0..255, ``target.input_type`` order."""
    import cv2

    if not isinstance(target, CalibrationTarget):
        target = CalibrationTarget(target[0], target[1])
    target.check()
    crop, short = target.height, calibration_short_side(target.height)
    image = _as_bgr(bgr)
    h, w = image.shape[:2]
    if h < w:
        resized = cv2.resize(image, (int(short * (w / h)), short))
    else:
        resized = cv2.resize(image, (short, int(short * (h / w))))
    resized = resized.astype(np.float32)
    top = resized.shape[0] // 2 - crop // 2
    left = resized.shape[1] // 2 - crop // 2
    hwc = resized[top:top + crop, left:left + crop, :]
    if target.input_type == "rgb":
        hwc = hwc[:, :, ::-1]
    out = hwc.transpose(2, 0, 1) if target.layout == "NCHW" else hwc
    return np.ascontiguousarray(out[None], dtype=np.dtype(target.dtype))


@dataclass(frozen=True)
class CalibrationEntry:
    file: str    # name of the tensor file inside the calibration directory
    source: str  # the photo it was made from, relative to the images directory


@dataclass
class CalibrationSet:
    """A directory of tensor files (no header, C order) and the manifest beside it."""

    directory: Path
    height: int
    width: int
    entries: list[CalibrationEntry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    seed: int | None = None
    images_dir: str | None = None
    variants: int = 0            # random crops per source photo (0: the photo alone)
    sources: int = 0             # distinct source photos used
    layout: str = "NCHW"
    dtype: str = "float32"
    input_type: str = "rgb"

    @property
    def target(self) -> CalibrationTarget:
        return CalibrationTarget(self.height, self.width, self.layout, self.dtype, self.input_type)

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.directory)

    @property
    def warnings(self) -> list[str]:
        """What makes this set weaker than the zoo's guide asks for."""
        if self.sources and self.sources < RECOMMENDED_CALIBRATION_IMAGES:
            hint = ("" if self.variants else "; with few photos, --variants 4 (seeded crops and "
                    "brightness changes of each) gives the quantizer more varied activations")
            return [f"only {self.sources} source photos; the zoo's PTQ guide asks for "
                    f"{RECOMMENDED_CALIBRATION_IMAGES}-300 images of the deployment domain{hint}"]
        return []

    @property
    def paths(self) -> list[Path]:
        return [self.directory / e.file for e in self.entries]

    def manifest(self) -> dict:
        t = self.target
        return {
            "format": f"raw {t.dtype}, no header, C order, shape {list(t.shape)} ({t.layout}), "
                      f"{t.input_type.upper()}, values 0..255 not normalized",
            "dtype": t.dtype,
            "layout": t.layout,
            "color": t.input_type,
            "height": self.height,
            "width": self.width,
            "transform": f"vendor calibration chain: ShortSideResize({calibration_short_side(t.height)}) "
                         f"int(), CenterCrop({t.height}) at h//2 - {t.height // 2}"
                         + (", BGR->RGB" if t.input_type == "rgb" else "")
                         + (", HWC->CHW" if t.layout == "NCHW" else ""),
            "seed": self.seed,
            "images_dir": self.images_dir,
            "variants": self.variants,
            "sources": self.sources,
            "files": [asdict(e) for e in self.entries],
            "skipped": [{"source": s, "error": r} for s, r in self.skipped],
        }


def manifest_path(calib_dir: str | Path) -> Path:
    """The manifest of a calibration folder: beside it, never in it (hb_mapper reads every file
    in the folder as a tensor)."""
    d = Path(calib_dir).absolute()
    return d.parent / f"{d.name}{MANIFEST_SUFFIX}"


def find_images(images_dir: str | Path) -> list[Path]:
    """Image files under a directory (recursively), in a stable order."""
    root = Path(images_dir)
    if not root.exists():
        raise CalibrationError(f"image directory not found: {root}")
    if not root.is_dir():
        raise CalibrationError(f"not a directory: {root}; give a directory of images")
    found = sorted((p for p in root.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: p.relative_to(root).as_posix())
    if not found:
        raise CalibrationError(
            f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return found


def photo_variants(image: np.ndarray, crops: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The photo, its mirror image, and ``crops`` random crops (45-90 % of each side, half of
    them mirrored) with a brightness gain of 0.75-1.25: more varied activations from few photos,
    which is what made the shipped int8 model good (48 variants of 8 photos)."""
    h, w = image.shape[:2]
    out = [image, image[:, ::-1]]
    for _ in range(crops):
        s = rng.uniform(0.45, 0.9)
        ch, cw = max(2, int(h * s)), max(2, int(w * s))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = image[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        gain = rng.uniform(0.75, 1.25)
        out.append(np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return out


def _file_name(index: int, stem: str, ext: str) -> str:
    """``00042_<stem>.rgb``: digits, ASCII letters and '_' only (the vendor hands the first
    file's path to a shell), sorted the way the set was drawn."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", stem)[:40] or "image"
    return f"{index:05d}_{safe}{ext}"


def _replace_flag(out: Path, overwrite: bool) -> bool:
    """Whether the new set may take the place of what is at ``out`` (``force`` for
    ``safe_io.replace_directory``); nothing is changed here.

    Nothing there, or an empty folder (nothing to lose): yes. A folder holding only a previous
    calibration set (its tensor files, an old in-folder ``manifest.json``): only with
    ``overwrite``. A folder holding anything else is refused even with ``overwrite``: the swap
    deletes the old folder whole, and calib replaces only what it wrote. A symlink or a file is
    left to ``replace_directory``, which refuses it."""
    if out.is_symlink() or not out.exists():
        return overwrite
    if not out.is_dir():
        raise CalibrationError(f"output {out} exists and is not a directory")
    try:
        entries = list(out.iterdir())
    except OSError as exc:
        raise CalibrationError(f"cannot read output folder {out}: {exc.strerror or exc}") from None
    if not entries:
        return True
    ours = [p for p in entries if p.is_file() and not p.is_symlink() and _SAFE_NAME.fullmatch(p.name)]
    foreign = [p.name for p in entries if p not in ours and p.name != LEGACY_MANIFEST_NAME]
    if foreign:
        raise CalibrationError(
            f"{out} holds {len(foreign)} entries calib did not write (first: "
            f"{sorted(foreign)[0]!r}); --force replaces only a calibration set, and hb_mapper "
            f"reads EVERY file in cal_data_dir as a tensor: choose an empty or new folder")
    if not overwrite:
        raise CalibrationError(
            f"{out} already holds a calibration set ({len(ours)} files); choose an empty "
            "directory or replace it (--force)")
    return True


def build_calibration_set(images_dir: str | Path, out_dir: str | Path, count: int | None = 100,
                          seed: int = 0, size: tuple[int, int] = (224, 224),
                          overwrite: bool = False, progress: bool = False,
                          variants: int = 0, target: CalibrationTarget | None = None
                          ) -> CalibrationSet:
    """Write a calibration set of up to ``count`` images (all when None) drawn with ``seed``.

    ``target`` (else float32 RGB NCHW of ``size`` = (height, width)) says what each tensor is;
    odd or non-square sizes are refused before anything is written. Unreadable images are
    recorded in ``skipped`` and replaced by the next ones in the draw. ``variants`` > 0 writes,
    per photo, the photo, its mirror image and that many seeded random crops
    (``photo_variants``); ``count`` then counts source photos. The manifest goes beside the
    folder (``manifest_path``).

    The new set is built whole in a hidden folder beside ``out_dir`` and only then takes its
    place (``safe_io.replace_directory``: an atomic exchange with an old set, which needs
    ``overwrite``); until then an old set and its manifest are untouched, so an error, Ctrl-C or
    SIGTERM leaves them as they were. An existing empty folder is taken without ``overwrite``;
    a folder holding anything but a calibration set is refused (``_replace_flag``).
    """
    target = (target or CalibrationTarget(size[0], size[1])).check()
    if count is not None and count <= 0:
        raise CalibrationError(f"count must be positive, got {count}")
    if variants < 0:
        raise CalibrationError(f"variants must be >= 0, got {variants}")
    root = Path(images_dir)
    candidates = find_images(root)
    random.Random(seed).shuffle(candidates)
    wanted = len(candidates) if count is None else min(count, len(candidates))
    out = Path(out_dir)
    manifest = manifest_path(out)
    safe_io.ensure_directory(manifest.parent, "calibration folder's parent")
    force = _replace_flag(out, overwrite)
    # before any change; a file already there (the user's, or a deleted set's) needs --force
    safe_io.check_output(manifest, force=overwrite, what="calibration manifest")

    result = CalibrationSet(out, target.height, target.width, [], [], seed, str(root.resolve()),
                            variants, layout=target.layout, dtype=target.dtype,
                            input_type=target.input_type)
    rng = np.random.default_rng(seed)
    # the whole new set is built beside the old one and swapped in only when complete: an
    # error, Ctrl-C or SIGTERM on the way keeps the old set (and its manifest) as they were
    with contextlib.ExitStack() as commit:
        stage = commit.enter_context(safe_io.replace_directory(
            out, force=force, inputs=[root], what="calibration folder"))
        with progress_bar(total=wanted, desc="calibration set", unit="img",
                          enabled=progress) as bar:
            for path in candidates:
                if result.sources >= wanted:
                    break
                source = path.relative_to(root).as_posix()
                try:
                    image = load_image(path)
                    images = photo_variants(image, variants, rng) if variants else [image]
                    tensors = [calibration_tensor(im, target) for im in images]
                except (FrameError, OSError) as exc:  # undecodable, vanished, unreadable
                    result.skipped.append((source, str(exc)))
                    continue
                for k, tensor in enumerate(tensors):
                    stem = f"{path.stem}_{k}" if variants else path.stem
                    name = _file_name(len(result.entries), stem, target.ext)
                    safe_io.write_bytes(stage / name, tensor.tobytes(), what="calibration file")
                    result.entries.append(CalibrationEntry(name, source))
                result.sources += 1
                bar.update(1)
        if not result.entries:
            raise CalibrationError(
                f"none of the {len(candidates)} images in {root} could be read; first error: "
                f"{result.skipped[0][1] if result.skipped else 'none'}")
        text = json.dumps(result.manifest(), indent=1) + "\n"
        with safe_io.signals_held():  # the swap and the manifest beside it: never one alone
            # again, just before the swap: the build took minutes, and whatever was saved into
            # the folder (or beside it) meanwhile must not be deleted without --force
            _replace_flag(out, overwrite)
            safe_io.check_output(manifest, force=overwrite, what="calibration manifest")
            commit.close()
            safe_io.write_text(manifest, text, force=overwrite, what="calibration manifest")
    return result


def read_manifest(calib_dir: str | Path) -> dict | None:
    """The manifest beside a calibration folder (None without one, or when it is not a regular
    file), read bounded by the memory budget before a byte of it is parsed."""
    manifest = manifest_path(calib_dir)
    if not manifest.is_file():
        return None
    try:
        data = json.loads(safe_io.read_bounded_text(
            manifest, budget.memory_budget(), "calibration manifest", CalibrationError,
            budget.LIMIT_HINT))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise CalibrationError(f"{manifest} is not JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{manifest} is not a calibration manifest (not a JSON object)")
    return data


def load_calibration_set(calib_dir: str | Path, expect: CalibrationTarget | None = None
                         ) -> CalibrationSet:
    """A calibration folder as hb_mapper will read it: every entry a tensor file of one size.

    With the manifest beside it (``build_calibration_set``), its shape, layout, dtype and colour
    come from there; without one, from ``expect`` (the model). Either way every file must hold
    exactly one tensor of ``expect`` when given: a set built for another input size, layout or
    dtype, or a stray file (a README, a hidden file, an old manifest.json), is refused here,
    before any long work."""
    root = Path(calib_dir)
    if not root.is_dir():
        raise CalibrationError(f"calibration directory not found: {root}")
    names = sorted(p.name for p in root.iterdir())
    if LEGACY_MANIFEST_NAME in names:
        raise CalibrationError(
            f"{root} holds {LEGACY_MANIFEST_NAME}: hb_mapper would read it as a tensor and fail; "
            f"rebuild the set with this version of calib (its manifest goes beside the folder)")
    bad = [n for n in names if not (root / n).is_file() or (root / n).is_symlink()]
    if bad:
        raise CalibrationError(f"{root} holds {bad[0]!r}, not a regular file; hb_mapper reads "
                               f"every entry of cal_data_dir as a tensor: remove it")
    if not names:
        raise CalibrationError(f"no calibration files in {root}; build them with "
                               "`python -m rdk_classifier calib --images DIR --model M --out DIR`")
    manifest = manifest_path(root)
    data = read_manifest(root)
    if data is not None:
        try:
            entries = [CalibrationEntry(str(f["file"]), str(f["source"])) for f in data["files"]]
            height, width = int(data["height"]), int(data["width"])
            layout, dtype = str(data.get("layout", "NCHW")), str(data.get("dtype", "float32"))
            color = str(data.get("color", "rgb"))
            skipped = [(str(s["source"]), str(s["error"])) for s in data.get("skipped", [])]
            extras = (data.get("seed"), data.get("images_dir"), int(data.get("variants") or 0),
                      int(data.get("sources") or 0))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise CalibrationError(f"{manifest} is not a calibration manifest: "
                                   f"{type(exc).__name__} {str(exc)[:80]!r}") from None
        if (layout not in LAYOUTS or dtype not in CAL_DATA_TYPES or color not in CALIB_INPUT_TYPES
                or not (0 < height <= 16384 and 0 < width <= 16384)):
            raise CalibrationError(f"{manifest} is not a calibration manifest of this package "
                                   f"(layout, dtype, colour or size out of range); rebuild the set")
        listed = {e.file for e in entries}
        extra = sorted(set(names) - listed)
        if extra:
            raise CalibrationError(
                f"{root} holds {extra[0]!r}, which its manifest {manifest.name} does not list; "
                f"hb_mapper reads EVERY file of cal_data_dir as a tensor: remove it")
        if listed != set(names):
            raise CalibrationError(f"{root}: {len(listed - set(names))} files of its manifest "
                                   f"{manifest.name} are missing; rebuild the set")
        result = CalibrationSet(root, height, width, entries, skipped, *extras, layout, dtype, color)
        if expect is not None and result.target != expect:
            got, want = result.target, expect
            raise CalibrationError(
                f"calibration set {root} is {got.dtype} {got.input_type} {got.layout} "
                f"{got.width}x{got.height}; the model takes {want.dtype} {want.input_type} "
                f"{want.layout} {want.width}x{want.height}: rebuild it with calib --model")
    else:
        t = expect or CalibrationTarget()
        result = CalibrationSet(root, t.height, t.width, [CalibrationEntry(n, n) for n in names],
                                layout=t.layout, dtype=t.dtype, input_type=t.input_type)
    want_bytes = result.target.nbytes
    for p in result.paths:
        size = p.stat().st_size
        if size != want_bytes:
            t = result.target
            raise CalibrationError(
                f"{p} holds {size} bytes; the limit is {want_bytes}, one {t.dtype} tensor "
                f"{list(t.shape)}: built for another input size, layout or dtype? (calib --model)")
    return result


def read_calibration_file(path: str | Path, target: CalibrationTarget) -> np.ndarray:
    """One tensor file as hb_mapper's loader reads it (``np.fromfile(dtype).reshape(shape)``),
    bounded by the tensor's size before it is read."""
    data = np.frombuffer(bytearray(safe_io.read_bounded_bytes(
        path, target.nbytes, "calibration file", CalibrationError,
        f"one {target.dtype} tensor {list(target.shape)}: built for another input size? "
        f"(calib --model)")), np.dtype(target.dtype))
    if data.size != int(np.prod(target.shape)):
        raise CalibrationError(
            f"{path} holds {data.nbytes} bytes; one {target.dtype} tensor {list(target.shape)} is "
            f"{target.nbytes}: the set was built for another input size (calib --model)")
    return data.reshape(target.shape)


def normalize(tensor: np.ndarray, mean: Sequence[float], scale: Sequence[float],
              layout: str = "NCHW") -> np.ndarray:
    """``(x - mean) * scale`` per channel of a (1, 3, H, W) or (1, H, W, 3) tensor in ``layout``
    (mean and scale in the tensor's channel order), as float32."""
    shape = (1, 3, 1, 1) if layout == "NCHW" else (1, 1, 1, 3)
    m = np.asarray(mean, np.float32).reshape(shape)
    s = np.asarray(scale, np.float32).reshape(shape)
    return np.ascontiguousarray((tensor.astype(np.float32) - m) * s)


class CalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over a calibration set (also a plain iterator)."""

    def __init__(self, files: Sequence[Path], model: OnnxInput, mean: Sequence[float],
                 scale: Sequence[float], progress: bool = False, desc: str = "calibrating",
                 target: CalibrationTarget | None = None) -> None:
        self.files = list(files)
        self.model = model
        self.target = target or CalibrationTarget(model.height, model.width, model.layout)
        self.mean, self.scale = mean, scale
        self.progress, self.desc = progress, desc
        self._iter: Iterator[Path] | None = None
        self._bar: ProgressBar | None = None  # made with _iter, closed at the end

    def __len__(self) -> int:
        return len(self.files)

    def tensor(self, path: Path) -> np.ndarray:
        raw = read_calibration_file(path, self.target)
        return normalize(raw, self.mean, self.scale, self.target.layout)

    def get_next(self) -> dict | None:
        if self._iter is None or self._bar is None:  # both are set and reset together
            self._iter = iter(self.files)
            self._bar = progress_bar(len(self.files), self.desc, "img", self.progress)
        path = next(self._iter, None)
        if path is None:
            self._bar.close()
            return None
        self._bar.update(1)
        return {self.model.name: self.tensor(path)}

    def rewind(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._iter, self._bar = None, None

    def __iter__(self):
        self.rewind()
        return self

    def __next__(self) -> dict:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


__all__ = ["CALIB_EXT", "CAL_DATA_TYPES", "LEGACY_MANIFEST_NAME", "MANIFEST_SUFFIX",
           "RECOMMENDED_CALIBRATION_IMAGES", "CalibrationEntry", "CalibrationReader",
           "CalibrationSet", "CalibrationTarget", "build_calibration_set", "calibration_short_side",
           "calibration_tensor", "check_calibration_size", "find_images", "load_calibration_set",
           "manifest_path", "normalize", "read_manifest", "photo_variants", "read_calibration_file"]
