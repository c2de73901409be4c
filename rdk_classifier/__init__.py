"""rdk_classifier: image classification for ROS 2 robots on the D-Robotics RDK X5.

The Python API (the core imports no ROS module; ``rdk_classifier.ros`` holds the node)::

    from rdk_classifier import Classifier
    with Classifier.from_model() as clf:             # the default CPU model, or a zoo name
        print(clf.classify_file("photo.jpg"))        # top-5 with class names and stage times

- ``Classifier`` / ``ClassifierConfig`` / ``Result`` (``Prediction``, ``Timing``): the one path
  (frame -> NV12 at the model's size -> backend -> top-k) that the node and every tool use;
- ``Frame`` / ``Preprocessor``: any input as one frame, a rectangle of it to NV12;
- ``list_models`` / ``get_model`` / ``resolve_model`` / ``fetch_model``: the model registry;
- the typed errors (``RdkClassifierError`` and its subclasses).
"""

from .classifier import Classifier, ClassifierConfig, Prediction, Result, Timing
from .download import fetch_model
from .errors import (BackendUnavailableError, DecodeError, DownloadError, FrameError,
                     FrameSizeError, ModelError, ModelNotFoundError, ModelUnavailableHereError,
                     RdkClassifierError, UnknownModelError, UnsupportedEncodingError)
from .frames import Frame, Preprocessor
from .zoo import DEFAULT_MODEL, ModelInfo, get_model, list_models, resolve_model

__version__ = "0.1.0"

__all__ = [
    "Classifier", "ClassifierConfig", "Prediction", "Result", "Timing",
    "Frame", "Preprocessor",
    "DEFAULT_MODEL", "ModelInfo", "get_model", "list_models", "resolve_model", "fetch_model",
    "RdkClassifierError", "FrameError", "UnsupportedEncodingError", "FrameSizeError",
    "DecodeError", "ModelError", "UnknownModelError", "ModelNotFoundError",
    "ModelUnavailableHereError", "BackendUnavailableError", "DownloadError",
    "__version__",
]
