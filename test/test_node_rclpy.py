"""classifier_node under the REAL rclpy (ROS 2 Humble or Jazzy). Skipped where rclpy is not
installed (CI); run on a ROS 2 machine after sourcing its setup file:

    python -m pytest -q test/test_node_rclpy.py

(If pytest fails to load the ``launch_testing`` plugin of the ROS installation, which predates
pytest 8, add ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``.)

Frames go over DDS from a second node in the same process; results come back the same way.
"""

from __future__ import annotations

import array
import os
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("sensor_msgs.msg")
pytest.importorskip("vision_msgs.msg")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile,  # noqa: E402
                       ReliabilityPolicy)
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Classification, LabelInfo, VisionInfo  # noqa: E402

from rdk_classifier.class_names import load_class_names  # noqa: E402
from rdk_classifier.ros.node import ClassifierNode  # noqa: E402
from rdk_classifier.zoo import DEFAULT_MODEL  # noqa: E402

from ros_frames import (CAT_CLASSES, IMAGENET, PHOTOS, corrupt_jpeg, imagenet_labels,  # noqa: E402
                        load_bgr, nv12_bytes)

TIMEOUT = 20.0
SENSOR = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                    reliability=ReliabilityPolicy.BEST_EFFORT,
                    durability=DurabilityPolicy.VOLATILE)
RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                      reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def header(stamp_ns: int, frame_id: str) -> Header:
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return h


def image(bgr, encoding: str, stamp_ns: int, frame_id: str = "cam") -> Image:
    h, w = bgr.shape[:2]
    data = nv12_bytes(bgr) if encoding == "nv12" else bgr.reshape(-1)
    step = w if encoding == "nv12" else w * 3
    return Image(header=header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
                 is_bigendian=0, step=step, data=array.array("B", data.tobytes()))


def jpeg(data: bytes, stamp_ns: int, frame_id: str = "usb") -> CompressedImage:
    return CompressedImage(header=header(stamp_ns, frame_id), format="jpeg",
                           data=array.array("B", data))


class Bench:
    """The node under test, and a second node that plays camera and listener."""

    def __init__(self, context, **params) -> None:
        self.context = context
        params.setdefault("lazy", False)   # the camera is fed before any listener exists
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = ClassifierNode(context=context, parameter_overrides=overrides)
        self.peer = Node("test_peer", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.received: dict[str, list] = {}
        self.publishers: dict[str, object] = {}

    def listen(self, topic: str, msg_type, qos=RELIABLE) -> list:
        box = self.received.setdefault(topic, [])
        self.peer.create_subscription(msg_type, topic, box.append, qos)
        return box

    def camera(self, topic: str, msg_type):
        self.publishers[topic] = self.peer.create_publisher(msg_type, topic, SENSOR)
        return self.publishers[topic]

    def spin_until(self, condition, timeout: float = TIMEOUT) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def send(self, topic: str, msg, box: list, timeout: float = TIMEOUT):
        """Publish (again, best effort) until the result with this frame's stamp arrives
        (an HbmMsg's stamp is its time_stamp)."""
        st = msg.header.stamp if hasattr(msg, "header") else msg.time_stamp
        stamp = (st.sec, st.nanosec)

        def arrived():
            return any((r.header.stamp.sec, r.header.stamp.nanosec) == stamp for r in box)

        end = time.monotonic() + timeout
        while time.monotonic() < end and not arrived():
            self.publishers[topic].publish(msg)
            self.spin_until(arrived, 0.5)
        assert arrived(), f"no result for {topic} @ {stamp}"
        return next(r for r in box if (r.header.stamp.sec, r.header.stamp.nanosec) == stamp)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def context():
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx, domain_id=int(os.environ.get("RDK_CLASSIFIER_TEST_DOMAIN", "42")))
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture
def bench(context):
    b = Bench(context, image_topics=["rt_cam/image_raw"], compressed_topics=["rt_usb/image"],
              log_period=0.0)
    yield b
    b.close()


def test_bgr8_nv12_and_jpeg_frames_over_dds(bench):
    chelsea = load_bgr(PHOTOS / "chelsea.png")
    bench.camera("/rt_cam/image_raw", Image)
    bench.camera("/rt_usb/image", CompressedImage)
    raw_out = bench.listen("/rt_cam/image_raw/classification", Classification)
    jpg_out = bench.listen("/rt_usb/image/classification", Classification)

    for i, enc in enumerate(("bgr8", "nv12")):
        res = bench.send("/rt_cam/image_raw", image(chelsea, enc, 10**9 + i, "cam_optical"),
                         raw_out)
        assert res.header.frame_id == "cam_optical"
        assert len(res.results) == 5 and int(res.results[0].class_id) in CAT_CLASSES
        assert res.results[0].score >= res.results[-1].score > 0
    name = "imagenet_00_243.jpg"
    res = bench.send("/rt_usb/image", jpeg((IMAGENET / name).read_bytes(), 2 * 10**9), jpg_out)
    assert str(imagenet_labels()[name]) in [h.class_id for h in res.results]
    assert res.header.frame_id == "usb"


def test_label_info_and_vision_info_reach_a_late_subscriber(bench):
    labels = bench.listen("/label_info", LabelInfo, LATCHED)
    infos = bench.listen("/vision_info", VisionInfo, LATCHED)
    assert bench.spin_until(lambda: labels and infos)
    assert [c.class_name for c in labels[0].class_map] == list(load_class_names())
    assert (infos[0].method, infos[0].database_location) == (DEFAULT_MODEL, "imagenet1k")


def test_parameters_model_switch_and_bad_frames(bench):
    chelsea = load_bgr(PHOTOS / "chelsea.png")
    bench.camera("/rt_cam/image_raw", Image)
    bench.camera("/rt_usb/image", CompressedImage)
    out = bench.listen("/rt_cam/image_raw/classification", Classification)
    infos = bench.listen("/vision_info", VisionInfo, LATCHED)

    (r,) = bench.node.set_parameters([Parameter("top_k", value=3)])
    assert r.successful
    assert len(bench.send("/rt_cam/image_raw", image(chelsea, "bgr8", 3 * 10**9), out).results) \
        == 3
    (r,) = bench.node.set_parameters([Parameter("top_k", value=0)])
    assert not r.successful and bench.node.get_parameter("top_k").value == 3
    (r,) = bench.node.set_parameters([Parameter("model", value="EfficientNet_Lite0_fp32")])
    assert r.successful, r.reason
    assert bench.spin_until(lambda: any(i.method == "EfficientNet_Lite0_fp32" for i in infos))
    res = bench.send("/rt_cam/image_raw", image(chelsea, "nv12", 4 * 10**9), out)
    assert int(res.results[0].class_id) in CAT_CLASSES

    bad = image(chelsea, "bgr8", 5 * 10**9)
    bad.encoding = "bayer_rggb8"
    bench.publishers["/rt_cam/image_raw"].publish(bad)
    bench.publishers["/rt_usb/image"].publish(jpeg(corrupt_jpeg(chelsea), 6 * 10**9))
    assert bench.spin_until(lambda: sum(c["bad_frames"] for c in bench.node.counters().values())
                            >= 2)
    res = bench.send("/rt_cam/image_raw", image(chelsea, "bgr8", 7 * 10**9), out)  # alive
    assert len(res.results) == 3


def test_diagnostics_on_slash_diagnostics(bench):
    from diagnostic_msgs.msg import DiagnosticArray

    arrays = bench.listen("/diagnostics", DiagnosticArray)

    def ours():
        return [s for a in arrays for s in a.status
                if s.name == "classifier_node: /rt_cam/image_raw"]

    assert bench.spin_until(lambda: ours(), timeout=5.0)
    keys = {kv.key for kv in ours()[-1].values}
    assert {"input rate (Hz)", "output rate (Hz)", "frames dropped (stale)", "bad frames",
            "preprocess (ms)", "inference (ms)", "postprocess (ms)",
            "node overhead (ms)"} <= keys
    assert ours()[-1].hardware_id == "cpu"


# --- camera paths: raw vs typed, hbmem, QoS overrides, lazy ---------------------------------------
def hbm_frame(bgr, stamp_ns: int, index: int = 1):
    """An hbm_img_msgs/HbmMsg1080P with an nv12 frame in the first data_size bytes."""
    import numpy as np
    from hbm_img_msgs.msg import HbmMsg1080P

    h, w = bgr.shape[:2]
    pixels = nv12_bytes(bgr)
    m = HbmMsg1080P()
    m.index, m.height, m.width, m.step, m.data_size = index, h, w, w, pixels.size
    m.time_stamp.sec, m.time_stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    enc = np.zeros(12, np.uint8)
    enc[:4] = np.frombuffer(b"nv12", np.uint8)
    m.encoding = enc
    data = np.zeros(6220800, np.uint8)
    data[:pixels.size] = pixels
    m.data = data
    return m


def _results_of_one_mode(context, raw: bool, frames) -> list:
    """Every frame through a node with raw_subscriptions=raw; the Classification messages."""
    from rclpy.serialization import serialize_message

    kw = {"image_topics": ["rt_cam/image_raw"], "compressed_topics": ["rt_usb/image"],
          "log_period": 0.0, "raw_subscriptions": raw}
    if frames.get("hbmem"):
        kw["hbmem_topics"] = ["rt_hbmem_img"]
    b = Bench(context, **kw)
    try:
        out = []
        for topic, msg_type, msg in frames["sequence"]:
            if topic not in b.publishers:
                b.camera(topic, msg_type)
                b.listen(topic + "/classification", Classification)
            res = b.send(topic, msg, b.received[topic + "/classification"])
            out.append(serialize_message(res))
        return out
    finally:
        b.close()


def test_raw_and_typed_subscriptions_give_identical_results(context):
    chelsea = load_bgr(PHOTOS / "chelsea.png")
    seq = [("/rt_cam/image_raw", Image, image(chelsea, "bgr8", 11 * 10**9)),
           ("/rt_cam/image_raw", Image, image(chelsea, "nv12", 12 * 10**9)),
           ("/rt_usb/image", CompressedImage,
            jpeg((IMAGENET / "imagenet_00_243.jpg").read_bytes(), 13 * 10**9))]
    hbm = True
    try:
        import cv2
        from hbm_img_msgs.msg import HbmMsg1080P
        seq.append(("/rt_hbmem_img", HbmMsg1080P,
                    hbm_frame(cv2.resize(chelsea, (1920, 1080)), 14 * 10**9)))
    except ImportError:
        hbm = False
    frames = {"sequence": seq, "hbmem": hbm}
    raw = _results_of_one_mode(context, True, frames)
    typed = _results_of_one_mode(context, False, frames)
    assert raw == typed and len(raw) == len(seq)


def test_hbmem_frames_top5_and_stamp(context):
    pytest.importorskip("hbm_img_msgs.msg")
    import cv2
    from hbm_img_msgs.msg import HbmMsg1080P

    b = Bench(context, image_topics=[""], hbmem_topics=["rt_hbmem_img"], log_period=0.0)
    try:
        b.camera("/rt_hbmem_img", HbmMsg1080P)
        out = b.listen("/rt_hbmem_img/classification", Classification)
        msg = hbm_frame(cv2.resize(load_bgr(PHOTOS / "chelsea.png"), (1920, 1080)),
                        15 * 10**9 + 7)
        res = b.send("/rt_hbmem_img", msg, out)
        assert (res.header.stamp.sec, res.header.stamp.nanosec) == (15, 7)
        assert res.header.frame_id == "rt_hbmem_img"
        assert len(res.results) == 5 and int(res.results[0].class_id) in CAT_CLASSES
    finally:
        b.close()


def test_qos_override_parameter_makes_the_camera_subscription_reliable(context):
    b = Bench(context, image_topics=["rt_cam/image_raw"], log_period=0.0,
              **{"qos_overrides./rt_cam/image_raw.subscription.reliability": "reliable",
                 "qos_overrides./rt_cam/image_raw.subscription.depth": 3})
    try:
        (info,) = b.node.get_subscriptions_info_by_topic("/rt_cam/image_raw")
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert info.qos_profile.depth == 3
    finally:
        b.close()


def test_lazy_mode_subscribes_when_the_results_get_a_subscriber(context):
    b = Bench(context, image_topics=["rt_cam/image_raw"], log_period=0.0, lazy=True)
    try:
        b.spin_until(lambda: False, 0.3)
        assert b.node.get_subscriptions_info_by_topic("/rt_cam/image_raw") == []
        b.camera("/rt_cam/image_raw", Image)
        out = b.listen("/rt_cam/image_raw/classification", Classification)
        assert b.spin_until(
            lambda: len(b.node.get_subscriptions_info_by_topic("/rt_cam/image_raw")) == 1, 5.0)
        res = b.send("/rt_cam/image_raw", image(load_bgr(PHOTOS / "chelsea.png"), "nv12",
                                                16 * 10**9), out)
        assert int(res.results[0].class_id) in CAT_CLASSES
    finally:
        b.close()


# --- what this rclpy offers (Humble or Jazzy), as the node found it -------------------------------
def test_the_feature_checks_match_what_this_rclpy_does(context):
    """``distro.probe`` says what this rclpy has; each claim is checked by using it over DDS."""
    from rdk_classifier.ros import distro

    features = distro.probe()
    print(features.summary())
    from std_msgs.msg import String

    a = Node("rt_feature_a", context=context)
    b = Node("rt_feature_b", context=context)
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(a)
    ex.add_node(b)
    try:
        matched: list = []
        callbacks = distro.matched_callbacks(features, matched.append)
        if features.publisher_matched:
            pub = a.create_publisher(String, "rt_feature", RELIABLE, event_callbacks=callbacks)
        else:
            assert callbacks is None
            from rclpy.qos_event import PublisherEventCallbacks  # Humble's: no matched
            with pytest.raises(TypeError):
                PublisherEventCallbacks(matched=matched.append)
            pub = a.create_publisher(String, "rt_feature", RELIABLE)
        got: list = []
        if features.message_info:
            b.create_subscription(String, "rt_feature", lambda m, info: got.append(
                (m.data, distro.received_ns(info))), RELIABLE)
        else:
            b.create_subscription(String, "rt_feature", lambda m: got.append((m.data, None)),
                                  RELIABLE)
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end and not got:
            pub.publish(String(data="hi"))
            ex.spin_once(timeout_sec=0.1)
        assert got and got[0][0] == "hi"
        if features.message_info:
            assert abs(got[0][1] - time.time_ns()) < 60 * 10**9   # ns, system clock
        if features.publisher_matched:
            assert matched and distro.matched_count(matched[-1]) == 1
    finally:
        ex.shutdown()
        a.destroy_node()
        b.destroy_node()


def test_lazy_mode_lets_go_when_the_last_listener_leaves(context):
    b = Bench(context, image_topics=["rt_cam/image_raw"], log_period=0.0, lazy=True)
    try:
        # the mechanism the node chose: events where rclpy has them, else the polling timer
        assert hasattr(b.node, "_lazy_timer") != b.node.features.publisher_matched
        subs = lambda: len(b.node.get_subscriptions_info_by_topic("/rt_cam/image_raw"))  # noqa
        b.listen("/rt_cam/image_raw/classification", Classification)
        assert b.spin_until(lambda: subs() == 1, 5.0)
        for sub in list(b.peer.subscriptions):
            b.peer.destroy_subscription(sub)
        assert b.spin_until(lambda: subs() == 0, 5.0)
    finally:
        b.close()


def test_result_age_in_diagnostics(bench):
    from diagnostic_msgs.msg import DiagnosticArray

    bench.camera("/rt_cam/image_raw", Image)
    out = bench.listen("/rt_cam/image_raw/classification", Classification)
    arrays = bench.listen("/diagnostics", DiagnosticArray)
    bench.send("/rt_cam/image_raw", image(load_bgr(PHOTOS / "chelsea.png"), "bgr8", 17 * 10**9),
               out)

    def values():
        for a in reversed(arrays):
            for s in a.status:
                if s.name == "classifier_node: /rt_cam/image_raw":
                    kv = {v.key: v.value for v in s.values}
                    if float(kv["receipt to result (ms)"]) > 0:
                        return kv
        return None

    assert bench.spin_until(lambda: values() is not None, 5.0)
    kv = values()
    assert float(kv["receipt to result (ms)"]) >= float(kv["inference (ms)"]) > 0
    assert kv["receipt time from"].startswith(
        "middleware" if bench.node.features.message_info else "callback")


def test_events_executor_option_in_a_node_process():
    """``executor:=events``: spun by rclpy.experimental.EventsExecutor where this rclpy has it,
    else a warning and the single-threaded executor; the node answers either way."""
    import signal
    import subprocess
    import sys
    import threading

    from rdk_classifier.ros import distro

    env = dict(os.environ, ROS_DOMAIN_ID=os.environ.get("RDK_CLASSIFIER_TEST_DOMAIN", "42"))
    cmd = [sys.executable, "-c", "import sys; from rdk_classifier.ros.node import main; "
           "sys.exit(main(sys.argv))", "--ros-args", "-p", "executor:=events",
           "-p", "log_period:=0.0", "-r", "__node:=rt_events_node"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:  # until the node has started (model loaded, executor chosen) and spun a while
        end = time.monotonic() + 120.0
        while time.monotonic() < end and proc.poll() is None and not any(
                "spinning with" in line for line in lines):
            time.sleep(0.1)
        assert proc.poll() is None, "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    out = "".join(lines)
    assert "classifying with" in out and proc.returncode == 0, out
    events = distro.probe().events_executor
    assert ("spinning with EventsExecutor" in out) == events, out
    assert ("spinning with SingleThreadedExecutor" in out) != events, out
    assert ("rclpy.experimental.EventsExecutor" in out) != events, out   # the fallback warning
