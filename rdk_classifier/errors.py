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
