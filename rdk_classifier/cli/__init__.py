"""``python -m rdk_classifier <command>``: thin shells over the core, one module per command."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from .. import budget
from ..errors import RdkClassifierError

# each module defines add_parser(subparsers) and a run(args) -> int it sets as ``func``
COMMANDS = ("classify", "zoo", "evaluate", "bench", "bag", "model_info", "calib", "quantize",
            "toolchain_config", "doctor")
#: the commands that buffer untrusted data and so take --memory-budget (rdk_classifier.budget)
BUFFERING_COMMANDS = ("bag", "quantize", "toolchain-config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rdk_classifier",
        description="Image classification with RDK Model Zoo models: BPU on an RDK X5, "
                    "ONNX Runtime on the CPU elsewhere.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for name in BUFFERING_COMMANDS:
        sub.choices[name].add_argument(
            "--memory-budget", metavar="MB", dest="memory_budget", default=None,
            help=f"memory budget for buffered input data (bag messages and caches, calibration "
                 f"files and manifests; default: {budget.DEFAULT_MEMORY_BUDGET >> 20} MB, or "
                 f"${budget.MEMORY_BUDGET_ENV})")
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, systemd, ``timeout``), handled like Ctrl-C: every ``with`` block and
    ``finally`` runs, so temporary outputs are removed and worker threads are stopped."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 ok, 1 some inputs failed, 2 error, 130 Ctrl-C,
    143 SIGTERM."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        if getattr(args, "memory_budget", None) is not None:
            budget.set_memory_budget(budget.parse_megabytes(args.memory_budget))
        return int(args.func(args) or 0)
    except RdkClassifierError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `zoo list | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    finally:
        budget.set_memory_budget(None)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(text: str, limit: int = 2000) -> str:
    """An error as one line of bounded length, whatever text it carries from its input."""
    text = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
