"""``python -m rdk_classifier <command>``: thin shells over the core, one module per command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import RdkClassifierError

# each module defines add_parser(subparsers) and a run(args) -> int it sets as ``func``
COMMANDS = ("classify", "zoo", "evaluate", "bench", "bag", "calib", "quantize", "toolchain_config",
            "doctor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rdk_classifier",
        description="Image classification with RDK Model Zoo models: BPU on an RDK X5, "
                    "ONNX Runtime on the CPU elsewhere.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except RdkClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `zoo list | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
