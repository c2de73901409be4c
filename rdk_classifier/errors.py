"""Typed errors. Every message says what went wrong and what to do about it."""


class RdkClassifierError(Exception):
    """Base class of every error this package raises on purpose."""


class FrameError(RdkClassifierError, ValueError):
    """A frame cannot be turned into model input (the frame is skipped, nothing else is lost)."""


class UnsupportedEncodingError(FrameError):
    """The pixel encoding or compressed format is not one this package decodes."""


class FrameSizeError(FrameError):
    """Width, height, step or buffer length do not fit together or are not allowed."""


class DecodeError(FrameError):
    """A compressed image (JPEG, PNG) could not be decoded."""


class BoxError(FrameError):
    """A detector box cannot be classified (empty, not finite, outside the frame); the frame's
    other boxes still are."""


class BoxesFileError(RdkClassifierError, ValueError):
    """A boxes file (``classify --boxes``) is not a bounded list of valid boxes."""


class SerializedMessageError(FrameError):
    """Serialized (CDR) message bytes are truncated, inconsistent or of an unknown encapsulation."""


class ModelError(RdkClassifierError):
    """A model cannot be found, loaded or run."""


class UnknownModelError(ModelError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model is known but its file is not on this machine."""


class BackendUnavailableError(ModelError):
    """The requested runtime (BPU, onnxruntime) cannot be imported or used here."""


class DownloadError(RdkClassifierError):
    """A model download failed; the partial file is kept for resuming."""


class ClassNamesError(RdkClassifierError):
    """A class-names file cannot be read, is malformed, or does not fit the model's outputs."""


class ModelOutputError(RdkClassifierError):
    """The model's output for one frame is unusable (NaN or infinity); the frame is skipped."""


class SocMismatchError(ModelError):
    """A model file is built for another RDK chip than this board's (an S100 .hbm on an S600,
    a .bin on an S100, an .hbm on an X5): BPU models are compiled per chip."""


class ModelUnavailableHereError(ModelError):
    """The model asked for cannot run on this machine (a BPU .bin without a BPU runtime) and no
    fallback to the CPU default was allowed."""


class CalibrationError(RdkClassifierError):
    """A calibration set cannot be built or read (missing, empty, wrong size)."""


class NormalizationError(ModelError, ValueError):
    """A mean/scale value is not one or three numbers."""


class OutputError(RdkClassifierError, OSError):
    """An output cannot be written safely (exists, is a symlink, is an input, cannot be created)."""


class OutputExistsError(OutputError, FileExistsError):
    """The output exists and ``--force`` was not given."""


class BudgetError(RdkClassifierError, ValueError):
    """Untrusted data would need more memory than the budget allows (``rdk_classifier.budget``);
    refused before it is read or inflated."""


class LabelFileError(RdkClassifierError):
    """A ground-truth file (val.txt) line is not ``<file name> <class index>``, or the file cannot be read."""


class EvaluationError(RdkClassifierError):
    """The evaluation cannot run as asked (no image folder, none of the listed images in it)."""


class BagError(RdkClassifierError):
    """The bag cannot be processed as asked (missing input, existing output, unknown topic)."""


class ToolchainConfigError(RdkClassifierError):
    """A value cannot go into a toolchain config or script safely (control characters, not a
    plain name, not a BPU architecture)."""
