"""``python -m rdk_classifier zoo list|show|fetch``: browse and download the model registry."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .. import boards, zoo
from ..errors import ModelError

SOC_HELP = ("the board's chip: x5, s100, s100p, s600, or auto (/sys/class/boardinfo/soc_name, "
            f"${boards.SOC_ENV})")

#: the fields `zoo list --json` always carries (to_dict adds the rest)
LIST_FIELDS = ("name", "family", "bin_file", "url", "input_size", "params_m", "float_top1",
               "quant_top1", "latency_ms", "latency_mt_ms", "fps", "recommended")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo", help="list, show and download RDK Model Zoo models",
        description="The model registry: every RDK Model Zoo classification model with its file, "
                    "URL and the published figures (params M, float/quantized top-1 %, BPU "
                    "latency ms single/multi-threaded, FPS on RDK X5), plus the CPU models.")
    sub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)

    p_list = sub.add_parser("list", help="the models as a table (or JSON lines)",
                            description="List the registry. Figures: the seed table's, '-' where "
                                        "it has none; * marks its recommended (bold) rows; 'on "
                                        "board' marks the files already in the board's "
                                        "/opt/hobot/model/x5/basic/.")
    p_list.add_argument("--json", action="store_true", help="one JSON object per line per model")
    p_list.add_argument("--family", metavar="F", help="only this family (Transformer, CNN)")
    p_list.add_argument("--recommended", action="store_true",
                        help="only the seed table's recommended (bold) models")
    p_list.add_argument("--soc", metavar="SOC",
                        help="only the models with a build for this chip, with that build's "
                             "file and published figures; " + SOC_HELP)
    p_list.set_defaults(func=run)

    p_show = sub.add_parser("show", help="every field of one model, and where its file is")
    p_show.add_argument("name", help="model name (case-insensitive)")
    p_show.add_argument("--json", action="store_true", help="one JSON object")
    p_show.add_argument("--cache-dir", type=Path, help="cache directory to look in")
    p_show.add_argument("--soc", metavar="SOC", help="where this chip's file is; " + SOC_HELP)
    p_show.set_defaults(func=run)

    p_fetch = sub.add_parser(
        "fetch", help="download a model's .bin (resumable)",
        description="Download a model into the cache ($RDK_CLASSIFIER_CACHE or "
                    "~/.cache/rdk_classifier), unless /opt/hobot/model/x5/basic already has it. "
                    "An interrupted download is resumed by running the same command again.")
    p_fetch.add_argument("name", help="model name (case-insensitive)")
    p_fetch.add_argument("--dest", type=Path, metavar="DIR", help="directory to save into")
    p_fetch.add_argument("--base-url", metavar="URL",
                         help=f"download from this mirror (also ${zoo.BASE_URL_ENV})")
    p_fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_fetch.add_argument("--deadline", type=float, default=None, metavar="S",
                         help="give up when the download takes longer than this (seconds, "
                              "default 3600)")
    p_fetch.add_argument("--soc", metavar="SOC",
                         help="download this chip's build (S series: the .hbm from "
                              "rdk_<soc>/..., into <cache>/<soc>/; --base-url is then the "
                              "archive root); " + SOC_HELP + "; default: the X5 .bin")
    p_fetch.set_defaults(func=run)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "zoo_command", None)
    if command == "list":
        return _list(args)
    if command == "show":
        return _show(args)
    if command == "fetch":
        return _fetch(args)
    print("usage: python -m rdk_classifier zoo {list,show,fetch} ...", file=sys.stderr)
    return 2


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value) if all(isinstance(v, int) for v in value) \
            else ", ".join(str(v) for v in value)
    return str(value)


def _soc(value: str | None) -> str | None:
    """--soc: None if not given, else the chip (auto: detected; an error if none is found)."""
    if value is None:
        return None
    soc, source = boards.detect_soc(value)
    if soc is None:
        raise ModelError(f"--soc auto: cannot tell the chip ({source}); give it "
                             f"(--soc x5|s100|s100p|s600)")
    return soc


def _list_soc(models: list, soc: str, as_json: bool) -> int:
    """The models of one chip, with that chip's file and figures."""
    rows = [(m, m.build(soc)) for m in models if m.runtime == "bpu" and m.build(soc) is not None]
    directory = zoo.board_model_dir(soc)
    if as_json:
        for m, b in rows:
            # "soc": the build's chip (an S100P lists s100 builds), "board_soc": the one asked
            print(json.dumps({"name": m.name, "family": m.family, **b.to_dict(),
                              "board_soc": soc, "on_board": (directory / b.file).is_file()}))
        return 0
    header = ("name", "file", "march", "input", "latency ms", "FPS", "threads", "figures from",
              "on board")
    table = [(m.name, b.file, b.march, _fmt(b.input_size), _fmt(b.latency_ms), _fmt(b.fps),
              _fmt(b.fps_threads), b.measured or "-",
              "yes" if (directory / b.file).is_file() else "") for m, b in rows]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    numeric = {4, 5, 6}

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in table:
        print(line(r))
    contract = ("one packed NV12 input" if boards.INPUT_CONTRACT[soc] == "packed_nv12"
                else "Y (1,H,W,1) + UV (1,H/2,W/2,2) inputs")
    print(f"\n{len(table)} models for the RDK {soc.upper()} ({boards.MARCH[soc]}, "
          f"{boards.MODEL_SUFFIX[soc]} files, {contract}). CPU models run on any board "
          f"(`zoo list`). `zoo fetch NAME --soc {soc}` to download; '-' = no published figure.")
    return 0


def _list(args: argparse.Namespace) -> int:
    models = zoo.list_models()
    soc = _soc(getattr(args, "soc", None))
    if args.family:
        models = [m for m in models if (m.family or "").casefold() == args.family.casefold()]
    if args.recommended:
        models = [m for m in models if m.recommended]
    if soc is not None and soc != "x5":
        return _list_soc(models, soc, args.json)
    if soc == "x5":
        models = [m for m in models if m.runtime == "cpu" or m.bin_file]
    board = {m.name: zoo.on_board(m) is not None for m in models}
    if args.json:
        for m in models:
            d = m.to_dict()
            ordered = {k: d[k] for k in LIST_FIELDS}
            ordered.update((k, v) for k, v in d.items() if k not in ordered)
            ordered["on_board"] = board[m.name]
            print(json.dumps(ordered))
        return 0
    header = ("name", "family", "runtime", "params(M)", "float top1", "quant top1",
              "latency ms", "latency ms (MT)", "FPS", "rec", "on board")
    rows = [(m.name, _fmt(m.family), m.runtime, _fmt(m.params_m), _fmt(m.float_top1),
             _fmt(m.quant_top1), _fmt(m.latency_ms), _fmt(m.latency_mt_ms), _fmt(m.fps),
             "*" if m.recommended else "", "yes" if board[m.name] else "") for m in models]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = set(range(3, 9))

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    present = sum(board.values())
    print(f"\n{len(rows)} models. Figures: RDK X5, ImageNet-1k top-1 %, BPU latency, as published "
          f"in the seed table (the 'Model Performance Data' table of the RDK Model Zoo "
          f"classification README for RDK X5), for HGNetV2 in the zoo's HGNetV2 sample; '-' = none "
          f"published; rec '*' = the table's recommended (bold) rows. `zoo show NAME` for details, "
          f"`zoo fetch NAME` to download; `zoo list --soc s100|s100p|s600` for the S-series files.")
    print(f"on board: {present} of these are in {zoo.system_model_dir()} already"
          if present else f"on board: none found in {zoo.system_model_dir()} (not an RDK X5?)")
    return 0


def _show(args: argparse.Namespace) -> int:
    info = zoo.get_model(args.name)
    soc = _soc(getattr(args, "soc", None))
    if soc is not None and info.runtime == "bpu":
        build = zoo.build_for(info, soc)  # a model without a build for this chip: says so
    if soc is not None and soc != "x5" and info.runtime == "bpu":
        candidates = zoo.build_candidates(build, soc, cache_dir=args.cache_dir)
    else:
        candidates = zoo.local_candidates(info, cache_dir=args.cache_dir)
    local = next((p for p in candidates if p.is_file()), None)
    d = info.to_dict()
    d["local_path"] = str(local) if local else None
    d["searched"] = [str(p) for p in candidates]
    if args.json:
        print(json.dumps(d))
        return 0
    # a registry row's user-model fields (model_facts) say nothing here; --json has them all
    hidden = ("searched", "builds", "input_type_train", "class_names", "user_file")
    width = max(len(k) for k in d if k not in hidden)
    for key, value in d.items():
        if key in hidden:
            continue
        print(f"{key.ljust(width)}  {_fmt(value)}"
              + (" (in the seed table: the RDK Model Zoo classification README's 'Model "
                 "Performance Data' for RDK X5)" if key == "in_seed_table" else ""))
    for b in info.builds:
        figures = ", ".join(f"{k} {getattr(b, k)}" for k in ("latency_ms", "fps", "fps_threads")
                            if getattr(b, k) is not None)
        print(f"{'build ' + b.soc:<{width}}  {b.file} ({b.march}, {b.input_contract}, "
              f"{_fmt(b.input_size)}) {b.url or '(not published for download)'}"
              + (f"; {figures} ({b.measured})" if figures else ""))
    if local:
        from ..download import DownloadError, check_model_file

        try:
            check_model_file(local, getattr(info, "sha256", None))
            print(f"\npresent locally: {local}")
        except DownloadError as exc:
            print(f"\npresent locally but not usable: {exc}")
    else:
        print(f"\nnot present locally (looked in {', '.join(d['searched'])}); download with: "
              f"{zoo.fetch_command(info.name)}" + (f" --soc {soc}" if soc else ""))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from ..download import DEADLINE_S, fetch_model  # urllib/tqdm only when downloading

    info = zoo.get_model(args.name)
    soc = _soc(getattr(args, "soc", None))
    if soc is not None and soc != "x5" and info.runtime == "bpu":
        build = zoo.build_for(info, soc)
        # the build as a registry row download.fetch_model knows: its file, its path under the
        # archive root, this chip's board folder, and the cache folder of the build's chip
        as_row = dataclasses.replace(info, bin_file=build.file, url_path=build.url_path,
                                     sha256=None)
        dest = args.dest if args.dest is not None else zoo.default_cache_dir() / build.soc
        path = fetch_model(as_row, dest=dest, base_url=args.base_url or zoo.s_base_url(),
                           progress=not args.no_progress, system_dir=zoo.board_model_dir(soc),
                           deadline=args.deadline if args.deadline is not None else DEADLINE_S)
        print(path)
        return 0
    if soc == "x5" and info.runtime == "bpu":
        zoo.build_for(info, "x5")  # an S-only model: say so
    path = fetch_model(info, dest=args.dest, base_url=args.base_url,
                       progress=not args.no_progress, sha256=getattr(info, "sha256", None),
                       deadline=args.deadline if args.deadline is not None else DEADLINE_S)
    print(path)
    return 0
