"""Whole-frame mode: the frame handler of a camera whose every frame is classified as a whole.

Each frame becomes model-size NV12 in the subscription callback (``messages.prepare_message``),
so a ~75 KB ``PreparedFrame`` waits in the runner's slot instead of the camera message and the
conversion of the next frame overlaps inference; the runner does inference and top-k
(``classify_prepared``). The sinks publish ``Classification`` on ``<input>/classification`` (or
``output_topic``), ``PerceptionTargets`` with ``publish_perception_targets`` and the debug image.
"""

from __future__ import annotations

from typing import Any, Optional

from ..classifier import Classifier, PreparedFrame, classify_prepared
from .camera import Camera, Outcome, Wiring
from .messages import prepare_message
from .settings import NodeSettings, output_topic_for
from .sinks import ClassificationSink, DebugImageSink, TargetsSink


class WholeFrame:
    """Whole-frame mode: each frame becomes model-size NV12 in the callback (a small
    ``PreparedFrame`` waits for the worker instead of the camera message); the worker runs
    inference and top-k. A frame prepared for the model before a swap is dropped."""

    name = "classify"

    def wire(self, cam: Camera, wiring: Wiring) -> None:
        settings = wiring.settings()
        cam.output_name = output_topic_for(settings, cam.input_name)
        cam.publisher = wiring.publisher(wiring.types.Classification, cam.output_name)
        cam.sinks.append(ClassificationSink(cam.publisher, wiring.types))
        if settings.publish_perception_targets:
            cam.sinks.append(TargetsSink.for_output(wiring, cam.output_name))
        cam.sinks.append(DebugImageSink(wiring, cam.input_name))

    def subscribe(self, cam: Camera) -> None:
        pass

    def unsubscribe(self, cam: Camera) -> None:
        pass

    def on_frame(self, cam: Camera, msg: Any) -> PreparedFrame:
        return prepare_message(cam.classifier, msg,
                               keep_message=cam.keeps_message(cam.wiring.settings()))

    def run(self, clf: Classifier, job: PreparedFrame,
            settings: NodeSettings) -> Optional[Outcome]:
        if job.classifier is not clf:
            return None
        result = classify_prepared(clf, job, top=settings.top_k)
        return Outcome(job.header, result, clf.model_name, message=job.message)

    def counts(self) -> Optional[dict[str, int]]:
        return None

    def key_values(self) -> list[tuple[str, str]]:
        return []


__all__ = ["WholeFrame"]
