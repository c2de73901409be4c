"""Calibration sets for post-training quantization: the seed's 02_preprocess, without the
vendor toolchain.

``build_calibration_set`` draws a seeded random sample of photos (optionally several seeded crops
of each, ``photo_variants``), brings each to the model size with the ``center_crop`` resize (short
side to 256/224 of the target, centre crop), BGR -> RGB, HWC -> CHW, and writes raw float32 values
0..255 with no header, one ``.rgb`` file per image (the seed's ``--pic_ext .rgb
--saved_data_type float32``), plus a ``manifest.json``. hb_mapper reads the same directory
(``cal_data_type: float32``); ``CalibrationReader`` feeds it to ONNX Runtime's quantizer.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from .. import budget, safe_io
from ..errors import CalibrationError, FrameError
from ..frames import IMAGE_SUFFIXES, load_image, resize_bgr
from ..progress import progress_bar
from .toolchain import OnnxInput

if TYPE_CHECKING:
    from ..progress import ProgressBar

CALIB_EXT = ".rgb"
MANIFEST_NAME = "manifest.json"
CALIB_RESIZE_MODE = "center_crop"
#: the zoo's PTQ guide asks for 100-300 calibration images of the deployment domain
RECOMMENDED_CALIBRATION_IMAGES = 100


@dataclass(frozen=True)
class CalibrationEntry:
    file: str    # name of the .rgb file inside the calibration directory
    source: str  # the photo it was made from, relative to the images directory


@dataclass
class CalibrationSet:
    """A directory of ``.rgb`` tensors (3 x height x width float32, RGB, 0..255)."""

    directory: Path
    height: int
    width: int
    entries: list[CalibrationEntry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    seed: int | None = None
    images_dir: str | None = None
    variants: int = 0            # random crops per source photo (0: the photo alone)
    sources: int = 0             # distinct source photos used

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
        return {
            "format": "raw float32, no header, C order, shape [1, 3, height, width] (NCHW), RGB, "
                      "values 0..255 not normalized",
            "dtype": "float32",
            "layout": "NCHW",
            "color": "rgb",
            "height": self.height,
            "width": self.width,
            "transform": f"resize mode {CALIB_RESIZE_MODE} (short side to 256/224 of the target, "
                         "centre crop), BGR->RGB, HWC->CHW",
            "seed": self.seed,
            "images_dir": self.images_dir,
            "variants": self.variants,
            "sources": self.sources,
            "files": [asdict(e) for e in self.entries],
            "skipped": [{"source": s, "error": r} for s, r in self.skipped],
        }


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


def calibration_tensor(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One photo as the seed's calibration transform makes it: float32 (3, H, W), RGB, 0..255."""
    crop = resize_bgr(bgr, size, CALIB_RESIZE_MODE)
    if crop.ndim == 2:
        crop = np.repeat(crop[:, :, None], 3, axis=2)
    rgb = crop[:, :, 2::-1]  # BGR(A) -> RGB
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)


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


def _unique_name(stem: str, used: set[str]) -> str:
    name, k = f"{stem}{CALIB_EXT}", 2
    while name in used:
        name, k = f"{stem}_{k}{CALIB_EXT}", k + 1
    used.add(name)
    return name


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CalibrationError(f"output {out} exists and is not a directory")
    safe_io.ensure_directory(out, "calibration folder")
    ours = [p for p in out.iterdir() if p.suffix == CALIB_EXT or p.name == MANIFEST_NAME]
    if ours and not overwrite:
        raise CalibrationError(
            f"{out} already holds a calibration set ({len(ours)} files); choose an empty "
            "directory or overwrite it (--force)")
    for p in ours:
        p.unlink()


def build_calibration_set(images_dir: str | Path, out_dir: str | Path, count: int | None = 100,
                          seed: int = 0, size: tuple[int, int] = (224, 224),
                          overwrite: bool = False, progress: bool = False,
                          variants: int = 0) -> CalibrationSet:
    """Write a calibration set of up to ``count`` images (all when None) drawn with ``seed``.

    Unreadable images are recorded in ``skipped`` and replaced by the next ones in the draw, so
    the set still reaches ``count`` when enough readable images exist. ``variants`` > 0 writes,
    per photo, the photo, its mirror image and that many seeded random crops
    (``photo_variants``); ``count`` then counts source photos.
    """
    if count is not None and count <= 0:
        raise CalibrationError(f"count must be positive, got {count}")
    if variants < 0:
        raise CalibrationError(f"variants must be >= 0, got {variants}")
    root = Path(images_dir)
    candidates = find_images(root)
    random.Random(seed).shuffle(candidates)
    wanted = len(candidates) if count is None else min(count, len(candidates))
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)

    result = CalibrationSet(out, size[0], size[1], [], [], seed, str(root.resolve()), variants)
    used: set[str] = set()
    rng = np.random.default_rng(seed)
    with progress_bar(total=wanted, desc="calibration set", unit="img", enabled=progress) as bar:
        for path in candidates:
            if result.sources >= wanted:
                break
            source = path.relative_to(root).as_posix()
            try:
                image = load_image(path)
                images = photo_variants(image, variants, rng) if variants else [image]
                tensors = [calibration_tensor(im, size) for im in images]
            except (FrameError, OSError) as exc:  # undecodable, vanished, unreadable
                result.skipped.append((source, str(exc)))
                continue
            for k, tensor in enumerate(tensors):
                name = _unique_name(f"{path.stem}_{k}" if variants else path.stem, used)
                safe_io.write_bytes(out / name, tensor.tobytes(), what="calibration file")
                result.entries.append(CalibrationEntry(name, source))
            result.sources += 1
            bar.update(1)
    safe_io.write_text(out / MANIFEST_NAME, json.dumps(result.manifest(), indent=1) + "\n",
                       what="calibration manifest")
    if not result.entries:
        raise CalibrationError(
            f"none of the {len(candidates)} images in {root} could be read; first error: "
            f"{result.skipped[0][1] if result.skipped else 'none'}")
    return result


def load_calibration_set(calib_dir: str | Path) -> CalibrationSet:
    """A calibration set written by ``build_calibration_set`` or any directory of ``.rgb`` files
    (then height and width are 0: they come from the model)."""
    root = Path(calib_dir)
    if not root.is_dir():
        raise CalibrationError(f"calibration directory not found: {root}")
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        try:
            data = json.loads(safe_io.read_bounded_text(  # bounded before it is read
                manifest, budget.memory_budget(), "calibration manifest", CalibrationError,
                budget.LIMIT_HINT))
            entries = [CalibrationEntry(f["file"], f["source"]) for f in data["files"]]
            height, width = int(data["height"]), int(data["width"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CalibrationError(f"{manifest} is not a calibration manifest: {exc}") from None
        missing = [e.file for e in entries if not (root / e.file).is_file()]
        if missing:
            raise CalibrationError(f"{root}: {len(missing)} files of the manifest are missing "
                                   f"(first: {missing[0]}); rebuild the set")
        skipped = [(s["source"], s["error"]) for s in data.get("skipped", [])]
        result = CalibrationSet(root, height, width, entries, skipped, data.get("seed"),
                                data.get("images_dir"), int(data.get("variants") or 0),
                                int(data.get("sources") or 0))
    else:
        files = sorted(p.name for p in root.iterdir() if p.suffix == CALIB_EXT and p.is_file())
        result = CalibrationSet(root, 0, 0, [CalibrationEntry(f, f) for f in files])
    if not result.entries:
        raise CalibrationError(f"no calibration files ({CALIB_EXT}) in {root}; build them with "
                               "`python -m rdk_classifier calib --images DIR --out DIR`")
    return result


def read_calibration_file(path: str | Path, height: int, width: int) -> np.ndarray:
    """One ``.rgb`` file as float32 (1, 3, height, width)."""
    data = np.frombuffer(bytearray(safe_io.read_bounded_bytes(  # bounded by the tensor's size
        path, max(0, 3 * height * width * 4), "calibration file", CalibrationError,
        f"a 3x{height}x{width} float32 tensor: built for another input size? (calib --size)")),
        np.float32)
    if data.size != 3 * height * width:
        raise CalibrationError(
            f"{path} holds {data.size * 4} bytes; a 3x{height}x{width} float32 tensor is "
            f"{3 * height * width * 4}: the set was built for another input size (calib --size)")
    return data.reshape(1, 3, height, width)


def normalize(chw: np.ndarray, mean: Sequence[float], scale: Sequence[float],
              layout: str = "NCHW") -> np.ndarray:
    """``(x - mean) * scale`` per channel of an RGB (1, 3, H, W) tensor, in the model's layout."""
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(scale, np.float32).reshape(1, 3, 1, 1)
    x = (chw.reshape(1, 3, *chw.shape[-2:]).astype(np.float32) - m) * s
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if layout == "NHWC" else x)


class CalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over a calibration set (also a plain iterator)."""

    def __init__(self, files: Sequence[Path], model: OnnxInput, mean: Sequence[float],
                 scale: Sequence[float], progress: bool = False, desc: str = "calibrating") -> None:
        self.files = list(files)
        self.model = model
        self.mean, self.scale = mean, scale
        self.progress, self.desc = progress, desc
        self._iter: Iterator[Path] | None = None
        self._bar: ProgressBar | None = None  # made with _iter, closed at the end

    def __len__(self) -> int:
        return len(self.files)

    def tensor(self, path: Path) -> np.ndarray:
        raw = read_calibration_file(path, self.model.height, self.model.width)
        return normalize(raw, self.mean, self.scale, self.model.layout)

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


__all__ = ["CALIB_EXT", "MANIFEST_NAME", "RECOMMENDED_CALIBRATION_IMAGES", "CalibrationEntry",
           "CalibrationReader", "CalibrationSet", "build_calibration_set", "calibration_tensor",
           "find_images", "load_calibration_set", "normalize", "photo_variants",
           "read_calibration_file"]
