"""Classify every camera frame of a rosbag2 recording into a new bag of Classification messages.

Input: a rosbag2 (directory with metadata.yaml, or a bare .mcap / .db3 file) holding
``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage`` topics. Output: a new bag (MCAP by
default) with, for each input topic ``T``, one ``vision_msgs/msg/Classification`` per input message
on ``T + "/classification"``, with the input's header and the input's record timestamp, plus one
``LabelInfo`` and one ``VisionInfo`` (latched QoS) at the start. Every frame goes through the
node's path (``ros.messages.classify_message``), so the bag says what the node would have said.

One writer (``write_bag``) serves every mode: it owns the output bag, the latched model info, the
reading loop and its failure handling; a handler (``WholeFrameHandler`` here,
``box_bag.BoxHandler`` for detector boxes) turns each input message into output messages.

A message that cannot be deserialized or classified is reported, counted by kind and skipped,
and the run goes on (one bad frame never costs the other results); so is every message of a
selected topic that is not an image type, and the rest of an input that turns out truncated. The
output is never an existing path; it is written under a hidden name beside it, with an exclusive
claim (a second run with the same ``--out`` fails at once), and renamed into place when complete;
a run that is interrupted (Ctrl-C, SIGTERM) or fails leaves nothing behind.
rosbags is imported when a bag is processed (install the ``bag`` extra).
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence

from .. import safe_io
from ..classifier import Classifier, ClassifierConfig
from ..errors import BagError, BudgetError, FrameError
from . import messages as msgs
from . import rosbags_types as rt
from .bag_format import bag_version
from .bag_limits import bounded_inflation, check_declared_sizes, check_metadata_file

log = logging.getLogger(__name__)

STORAGES = ("mcap", "sqlite3")
OUTPUT_SUFFIX = "/classification"
LABEL_INFO_TOPIC = "/label_info"
VISION_INFO_TOPIC = "/vision_info"
IMAGE_TYPES = (rt.IMAGE, rt.COMPRESSED_IMAGE)
#: the oldest rosbag2 metadata version rosbags writes (read by Humble and Jazzy); ``ros_distro``
#: of the bag tools picks another (``rdk_classifier.ros.bag_format``)
BAG_VERSION = 8




@dataclass(frozen=True)
class Skipped:
    """A message that produced no Classification, and why."""

    topic: str
    timestamp: int
    reason: str
    kind: str = "bad frame"  # one of SKIP_KINDS


#: why messages are skipped, as counted in ``BagReport.skipped_by_kind``
SKIP_KINDS = ("corrupt message", "bad frame", "inference error", "bad box", "not an image type",
              "unreadable input")


@dataclass
class BagReport:
    output: Path
    topics: dict[str, str]                 # input topic -> output topic
    model: str
    classified: dict[str, int] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    #: every message that produced no Classification, by kind (also those not listed one by one:
    #: a connection of the wrong type, the unread rest of a truncated input)
    skipped_by_kind: Counter = field(default_factory=Counter)
    #: how the frames were fitted to the model input
    resize_mode: Optional[str] = None
    #: rosbag2 metadata version of the output (8: Humble and Jazzy read it; 9: Jazzy's own)
    version: int = BAG_VERSION

    @property
    def total_classified(self) -> int:
        return sum(self.classified.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped_by_kind.values())


def _rosbags():
    try:
        from rosbags.rosbag2 import Reader, StoragePlugin, Writer
    except ImportError:
        raise BagError("the bag tool needs rosbags: pip install 'rdk_classifier[bag]' "
                       "(or pip install rosbags)") from None
    return Reader, Writer, StoragePlugin


def _latched_qos():
    """Transient local, depth 1: what a latched topic offers (late subscribers get the last)."""
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)

    return Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
               QosTime(0, 0), QosTime(0, 0), QosLiveliness.AUTOMATIC, QosTime(0, 0), False)


def output_topic(topic: str) -> str:
    return topic.rstrip("/") + OUTPUT_SUFFIX


def _select(connections: Sequence, topics: Optional[Iterable[str]]) -> tuple[list, list]:
    """The image connections to classify, and the connections of the same topics whose type is
    not an image type (their messages are counted as skipped, never silently dropped)."""
    images = [c for c in connections if c.msgtype in IMAGE_TYPES]
    available = sorted({c.topic for c in images})
    if not topics:
        if not images:
            names = ", ".join(sorted({c.topic for c in connections})) or "none"
            raise BagError(f"the bag has no sensor_msgs/Image or CompressedImage topic "
                           f"(topics: {names})")
        chosen = images
    else:
        chosen = []
        for topic in topics:
            found = [c for c in connections if c.topic == topic]
            if not found:
                raise BagError(f"topic {topic!r} is not in the bag; image topics: "
                               f"{', '.join(available) or 'none'}")
            good = [c for c in found if c.msgtype in IMAGE_TYPES]
            if not good:
                raise BagError(f"topic {topic!r} is {found[0].msgtype}, not sensor_msgs/msg/Image "
                               f"or CompressedImage")
            chosen += good
    chosen_topics = {c.topic for c in chosen}
    mismatched = [c for c in connections
                  if c.topic in chosen_topics and c.msgtype not in IMAGE_TYPES]
    return chosen, mismatched


def check_paths(src: Path, dst: Path, storage: str, class_id_format: str) -> None:
    """Everything about the input and output that can be refused before any work starts."""
    if storage not in STORAGES:
        raise BagError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if class_id_format not in msgs.CLASS_ID_FORMATS:
        raise BagError(f"class_id_format must be one of {', '.join(msgs.CLASS_ID_FORMATS)}")
    if os.path.lexists(dst) and not dst.is_symlink():
        raise BagError(f"output {dst} exists already; choose another path (nothing is "
                       f"overwritten)")
    if not src.exists():
        raise BagError(f"input bag {src} does not exist")
    try:
        safe_io.ensure_directory(dst.parent, "output folder")
        safe_io.check_output(dst, inputs=[src], what="output bag", directory=True)
    except safe_io.OutputError as exc:
        raise BagError(str(exc)) from None


def open_reader(Reader, ReaderError, src: Path):  # noqa: N803 (rosbags classes, passed in)
    check_metadata_file(src)  # rosbags reads it whole: a regular file of bounded size
    try:
        reader = Reader(src)
        reader.open()
    except (ReaderError, OSError) as exc:
        raise BagError(f"cannot read bag {src}: {exc}") from None
    except RecursionError:
        raise BagError(f"cannot read bag {src}: its metadata.yaml is nested too deep") from None
    try:
        check_declared_sizes(reader)  # the memory budget, before anything is inflated
    except BudgetError:
        reader.close()
        raise
    return reader


def classify_bag(input_path: str | Path, output_path: str | Path,
                 topics: Optional[Sequence[str]] = None,
                 config: ClassifierConfig = ClassifierConfig(), *, storage: str = "mcap",
                 class_id_format: str = "index", score_threshold: float = 0.0,
                 top_k: Optional[int] = None, progress: Optional[bool] = None,
                 on_skip: Optional[Callable[[Skipped], None]] = None,
                 classifier: Optional[Classifier] = None,
                 ros_distro: str = "humble") -> BagReport:
    """Write ``output_path`` with one Classification per message of ``topics`` (default: every
    image topic of the bag). ``progress``: a tqdm bar on stderr (default: when it is a terminal).
    ``classifier``: an already loaded one (else built from ``config``). ``ros_distro``: the
    distro that will read the bag (``humble``: metadata version 8, read by Humble and Jazzy;
    ``jazzy``: version 9; ``auto``: from ROS_DISTRO; see ``bag_format``)."""
    Reader, _, _ = _rosbags()
    from rosbags.rosbag2 import ReaderError

    src, dst = Path(input_path), Path(output_path)
    version = bag_version(ros_distro)
    check_paths(src, dst, storage, class_id_format)
    typestore = rt.humble_typestore()
    types = rt.message_types(typestore)
    reader = open_reader(Reader, ReaderError, src)
    try:
        selected, mismatched = _select(reader.connections, topics)
        mapping = {c.topic: output_topic(c.topic) for c in selected}
        clf = classifier or Classifier.from_config(config)
        report = BagReport(dst, mapping, clf.model_name, {t: 0 for t in mapping},
                           resize_mode=clf.preprocessor.mode, version=version)
        for c in mismatched:
            if c.msgcount:
                report.skipped_by_kind["not an image type"] += c.msgcount
                log.warning("%s: %d message(s) of type %s skipped (not an image type)",
                            c.topic, c.msgcount, c.msgtype)
        handler = WholeFrameHandler(clf, typestore, types, report, class_id_format,
                                    score_threshold, top_k)
        write_bag(reader, selected, src, dst, storage, handler, progress, on_skip,
                  close_classifier=classifier is None)
    finally:
        reader.close()
    return report


def write_model_info(writer, reader, clf: Classifier, typestore, types,
                     score_threshold: float) -> None:
    """The latched ``label_info`` and ``vision_info`` at the start of an output bag."""
    latched = _latched_qos()
    start = reader.start_time if reader.message_count else 0
    header = msgs.make_header(types, start)
    label_conn = writer.add_connection(LABEL_INFO_TOPIC, rt.LABEL_INFO, typestore=typestore,
                                       offered_qos_profiles=[latched])
    info_conn = writer.add_connection(VISION_INFO_TOPIC, rt.VISION_INFO, typestore=typestore,
                                      offered_qos_profiles=[latched])
    writer.write(label_conn, start, typestore.serialize_cdr(
        msgs.label_info_message(types, clf.class_names, score_threshold, header), rt.LABEL_INFO))
    db = clf.config.class_names if clf.config is not None else None
    writer.write(info_conn, start, typestore.serialize_cdr(
        msgs.vision_info_message(types, clf.model_name, msgs.database_location(db), 1, header),
        rt.VISION_INFO))


class BagHandler(Protocol):
    """A mode of the bag tool: input messages in, output messages out."""

    @property
    def report(self) -> BagReport: ...

    clf: Classifier
    typestore: Any
    types: msgs.MessageTypes
    score_threshold: float
    #: output key (``report.classified``) -> (output topic, message type)
    outputs: dict[str, tuple[str, str]]
    desc: str

    def handle(self, conn: Any, timestamp: int, msg: Any,
               skip: Callable[[Skipped], None]) -> list[tuple[str, int, bytes]]:
        """(output key, record timestamp, serialized message) for an input message; raises
        ``FrameError`` for a frame that cannot be used (any other exception: inference error)."""
        ...

    def finish(self) -> None: ...


class WholeFrameHandler:
    """One Classification per Image / CompressedImage message."""

    desc = "classifying"

    def __init__(self, clf: Classifier, typestore: Any, types: msgs.MessageTypes,
                 report: BagReport, class_id_format: str, score_threshold: float,
                 top_k: Optional[int]) -> None:
        self.clf, self.typestore, self.types, self.report = clf, typestore, types, report
        self.class_id_format, self.score_threshold, self.top_k = (class_id_format,
                                                                   score_threshold, top_k)
        self.outputs = {topic: (out, rt.CLASSIFICATION) for topic, out in report.topics.items()}

    def handle(self, conn: Any, timestamp: int, msg: Any,
               skip: Callable[[Skipped], None]) -> list[tuple[str, int, bytes]]:
        result = msgs.classify_message(self.clf, msg, top=self.top_k)
        out = msgs.classification_message(self.types, msg.header, result.top,
                                          self.class_id_format, self.score_threshold)
        return [(conn.topic, timestamp, self.typestore.serialize_cdr(out, rt.CLASSIFICATION))]

    def finish(self) -> None:
        pass


def write_bag(reader, selected: Sequence, src: Path, dst: Path, storage: str,
              handler: BagHandler, progress: Optional[bool],
              on_skip: Optional[Callable[[Skipped], None]], close_classifier: bool) -> None:
    """The output bag of any mode: staged under a hidden name, claimed, renamed into place when
    whole (nothing left behind otherwise); model info first; then every message of ``selected``
    through ``handler``. A corrupt message, a bad frame or a failed inference is skipped; a
    truncated or corrupt input keeps what was written and counts the rest as unreadable.
    ``close_classifier``: the handler's classifier is closed at the end (made for this run)."""
    try:
        with safe_io.staged_directory(dst, inputs=[src], what="output bag") as stage, \
                bounded_inflation():
            _write(reader, selected, stage, storage, handler, progress, on_skip)
    except safe_io.OutputError as exc:
        raise BagError(str(exc)) from None
    except OSError as exc:  # the file system refused the output (disk full...): one line
        raise BagError(f"output bag {dst} not written: {exc.strerror or exc}") from None
    finally:
        if close_classifier:
            handler.clf.close()


def _write(reader, selected, dst, storage, handler: BagHandler, progress, on_skip) -> None:
    _, Writer, StoragePlugin = _rosbags()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    total = sum(c.msgcount for c in selected)
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm import tqdm

    report, typestore = handler.report, handler.typestore
    def skip(s: Skipped) -> None:
        _skip(report, on_skip, s)

    with Writer(dst, version=report.version, storage_plugin=plugin) as writer:
        out_conns = {key: writer.add_connection(out, msgtype, typestore=typestore)
                     for key, (out, msgtype) in handler.outputs.items()}
        write_model_info(writer, reader, handler.clf, typestore, handler.types,
                         handler.score_threshold)

        bar = tqdm(total=total, unit="msg", disable=not progress, file=sys.stderr,
                   desc=f"{handler.desc} {len(selected)} topic(s)")
        seen = 0
        damaged = False
        messages = reader.messages(connections=selected)
        try:
            while True:
                try:
                    conn, timestamp, raw = next(messages)
                except StopIteration:
                    break
                except BudgetError:  # over the memory budget: refused whole, not "damaged"
                    raise
                except Exception as exc:  # a truncated or corrupt input file: keep what we have
                    rest = max(1, total - seen)
                    report.skipped_by_kind["unreadable input"] += rest - 1
                    skip(Skipped("*", -1, f"input unreadable after {seen} messages "
                                 f"({type(exc).__name__}: {exc}); {rest} message(s) not read",
                                 "unreadable input"))
                    damaged = True
                    break
                seen += 1
                bar.update(1)
                try:
                    msg = typestore.deserialize_cdr(raw, conn.msgtype)
                except Exception as exc:  # undecodable CDR: a corrupt record
                    skip(Skipped(conn.topic, timestamp, f"corrupt message: {exc}",
                                 "corrupt message"))
                    continue
                try:
                    outputs = handler.handle(conn, timestamp, msg, skip)
                except FrameError as exc:
                    skip(Skipped(conn.topic, timestamp, str(exc), "bad frame"))
                    continue
                except Exception as exc:  # the model failed on this frame (NaN output, ...)
                    skip(Skipped(conn.topic, timestamp, f"{type(exc).__name__}: {exc}",
                                 "inference error"))
                    continue
                for key, stamp, data in outputs:
                    writer.write(out_conns[key], stamp, data)
                    report.classified[key] += 1
            if not damaged and seen < total:  # the index promised more than the file held
                missing = total - seen
                report.skipped_by_kind["unreadable input"] += missing - 1
                skip(Skipped("*", -1, f"the input's index lists {total} messages but only "
                             f"{seen} could be read; {missing} missing", "unreadable input"))
        finally:
            bar.close()
    handler.finish()


def _skip(report: BagReport, on_skip, skipped: Skipped) -> None:
    report.skipped.append(skipped)
    report.skipped_by_kind[skipped.kind] += 1
    if on_skip is not None:
        on_skip(skipped)
    else:
        log.warning("%s @ %d: skipped: %s", skipped.topic, skipped.timestamp, skipped.reason)


__all__ = ["BagError", "BagHandler", "BagReport", "SKIP_KINDS", "Skipped", "WholeFrameHandler",
           "classify_bag", "output_topic", "write_bag", "STORAGES", "LABEL_INFO_TOPIC",
           "VISION_INFO_TOPIC"]
