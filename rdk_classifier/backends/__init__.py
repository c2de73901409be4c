"""Inference runtimes behind one interface: ``cpu`` (ONNX Runtime) and ``bpu`` (RDK X5)."""

from __future__ import annotations

from .base import Backend, InputSpec

BACKENDS = ("auto", "bpu", "cpu")


def create_backend(model, threads: int = 1, bpu_core: int = -1, bpu_priority: int = 0) -> Backend:
    """Load a resolved model (``rdk_classifier.zoo.ResolvedModel``) on its runtime."""
    if model.runtime == "bpu":
        from .bpu import BpuBackend

        return BpuBackend(model.path, core_id=bpu_core, priority=bpu_priority,
                          soc=getattr(model, "soc", None))
    from .cpu import CpuBackend

    return CpuBackend(model.path, model.info.mean, model.info.scale, threads=threads,
                      input_size=model.info.input_size,
                      input_type=getattr(model.info, "input_type_train", "rgb"))


__all__ = ["Backend", "InputSpec", "BACKENDS", "create_backend"]
