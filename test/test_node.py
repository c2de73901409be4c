"""The node module end to end, driven through the rclpy stand-in (test/rclpy_standin.py) with
real ROS 2 Humble messages (rosbags classes): frames in, Classification / LabelInfo out, parameter
changes at run time, bad frames, diagnostics. The real-rclpy tests are in test_node_rclpy.py."""

from __future__ import annotations

import gc
import signal
import threading
import weakref

import pytest

import rclpy_standin
from rdk_classifier.classifier import Classifier
from rdk_classifier.class_names import load_class_names
from rdk_classifier.ros.rosbags_types import CLASSIFICATION, LABEL_INFO, VISION_INFO
from rdk_classifier.zoo import DEFAULT_MODEL

from ros_frames import (CAT_CLASSES, IMAGENET, PHOTOS, compressed_msg, corrupt_jpeg, image_msg,
                        imagenet_labels, load_bgr)

TIMEOUT = 30.0
FP32 = "EfficientNet_Lite0_fp32"


@pytest.fixture
def ros(monkeypatch):
    with rclpy_standin.node_harness(monkeypatch) as graph:
        yield graph


@pytest.fixture(scope="module")
def chelsea():
    return load_bgr(PHOTOS / "chelsea.png")


def feed(graph, node, topic, msg):
    assert graph.publish(topic, msg) == 1
    assert node.wait_idle(TIMEOUT)


def set_param(node, name, value):
    return node.set_parameters([rclpy_standin.Parameter(name, value=value)])[0]


def results(graph, topic):
    return graph.published(topic)


def cdr(graph, msg, typename):
    ts = graph.typestore
    return ts.deserialize_cdr(bytes(ts.serialize_cdr(msg, typename)), typename)


def test_frames_in_classifications_out(ros, classifier, chelsea):
    node = ros.make(image_topics=["cam0/image_raw"], compressed_topics=["cam1/image"])
    qos = {s.topic: s.qos_profile for n in ros.nodes for s in n._subscriptions}
    assert set(qos) == {"/cam0/image_raw", "/cam1/image"}
    for q in qos.values():
        assert (q.reliability, q.depth) == (rclpy_standin.ReliabilityPolicy.BEST_EFFORT, 1)
    out0, out1 = "/cam0/image_raw/classification", "/cam1/image/classification"
    for topic in (out0, out1):
        (pub,) = ros.publishers(topic)
        assert pub.qos_profile.reliability == rclpy_standin.ReliabilityPolicy.RELIABLE

    ts = ros.typestore
    frames = [
        ("/cam0/image_raw", image_msg(ts, chelsea, "bgr8", 1_000_000_001, "cam0_optical")),
        ("/cam0/image_raw", image_msg(ts, chelsea, "nv12", 1_000_000_002, "cam0_optical",
                                      pad=32)),
        ("/cam0/image_raw", image_msg(ts, chelsea, "rgb8", 1_000_000_003, "cam0_optical")),
    ]
    labels = imagenet_labels()
    jpgs = ["imagenet_00_243.jpg", "imagenet_02_438.jpg", "imagenet_10_541.jpg"]
    for i, name in enumerate(jpgs):
        frames.append(("/cam1/image", compressed_msg(ts, load_bgr(IMAGENET / name),
                                                     2 * 10**9 + i, "cam1_optical")))
    for topic, msg in frames:
        feed(ros, node, topic, msg)

    got0, got1 = results(ros, out0), results(ros, out1)
    assert len(got0) == 3 and len(got1) == 3
    for (_, frame), out in zip(frames, got0 + got1):
        back = cdr(ros, out, CLASSIFICATION)
        assert (back.header.stamp.sec, back.header.stamp.nanosec, back.header.frame_id) == \
            (frame.header.stamp.sec, frame.header.stamp.nanosec, frame.header.frame_id)
        assert len(back.results) == 5
        scores = [h.score for h in back.results]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
        assert all(h.class_id.isdigit() for h in back.results)
    for out in got0:
        assert int(out.results[0].class_id) in CAT_CLASSES
    for name, out in zip(jpgs, got1):
        assert str(labels[name]) in [h.class_id for h in out.results]
    # the node's numbers are the core path's numbers
    direct = classifier.classify_image(chelsea)
    assert [int(h.class_id) for h in got0[0].results] == [p.class_id for p in direct.top]
    assert [h.score for h in got0[0].results] == pytest.approx([p.score for p in direct.top],
                                                               abs=1e-6)
    c = node.counters()
    assert c["/cam0/image_raw"] == {"received": 3, "processed": 3, "dropped": 0, "errors": 0,
                                    "published": 3, "bad_frames": 0}


def test_label_info_and_vision_info_latched_at_start(ros):
    ros.make()
    (label_pub,) = ros.publishers("/label_info")
    (info_pub,) = ros.publishers("/vision_info")
    for pub in (label_pub, info_pub):
        assert pub.qos_profile.durability == rclpy_standin.DurabilityPolicy.TRANSIENT_LOCAL
        assert pub.qos_profile.reliability == rclpy_standin.ReliabilityPolicy.RELIABLE
        assert len(pub.published) == 1
    label_info = cdr(ros, label_pub.published[0], LABEL_INFO)
    assert [(c.class_id, c.class_name) for c in label_info.class_map] == \
        list(enumerate(load_class_names()))
    assert label_info.threshold == 0.0
    info = cdr(ros, info_pub.published[0], VISION_INFO)
    assert (info.method, info.database_location, info.database_version) == \
        (DEFAULT_MODEL, "imagenet1k", 1)
    assert info.header.stamp.sec > 0
    # the default: one raw camera on image_raw, results beside it
    assert [s.topic for s in ros.subscriptions("/image_raw")] == ["/image_raw"]
    assert ros.publishers("/image_raw/classification")


def test_parameters_change_at_run_time(ros, chelsea):
    node = ros.make()
    frame = image_msg(ros.typestore, chelsea, "bgr8", 5, "cam")
    out = "/image_raw/classification"

    assert set_param(node, "top_k", 3).successful
    feed(ros, node, "/image_raw", frame)
    assert len(results(ros, out)[-1].results) == 3

    # top_k and score_threshold at once
    r = node.set_parameters_atomically([rclpy_standin.Parameter("top_k", value=10),
                                        rclpy_standin.Parameter("score_threshold", value=0.05)])
    assert r.successful
    feed(ros, node, "/image_raw", frame)
    last = results(ros, out)[-1]
    assert 1 <= len(last.results) < 10 and all(h.score >= 0.05 for h in last.results)
    label_infos = ros.published("/label_info")
    assert len(label_infos) == 2 and label_infos[-1].threshold == pytest.approx(0.05)

    assert set_param(node, "class_id_format", "name").successful
    feed(ros, node, "/image_raw", frame)
    names = load_class_names()
    assert all(h.class_id in names for h in results(ros, out)[-1].results)
    assert node.get_parameter("class_id_format").value == "name"


@pytest.mark.parametrize("name,value,reason", [
    ("top_k", 0, "out of range"),
    ("score_threshold", 1.5, "out of range"),
    ("score_threshold", 1, "Wrong parameter type"),           # an integer for a double
    ("class_id_format", "label", "class_id_format"),
    ("backend", "gpu", "backend"),
    ("resize_mode", "stretch", "resize_mode"),
    ("model", "NoSuchModel_v9", "NoSuchModel_v9"),
    ("image_topics", ["other"], "read-only"),
])
def test_invalid_values_are_rejected_with_a_reason(ros, chelsea, name, value, reason):
    node = ros.make()
    before = node.get_parameter(name).value
    r = set_param(node, name, value)
    assert not r.successful and reason in r.reason
    assert node.get_parameter(name).value == before
    feed(ros, node, "/image_raw", image_msg(ros.typestore, chelsea, "bgr8"))  # still working
    assert len(results(ros, "/image_raw/classification")) == 1
    assert len(ros.published("/vision_info")) == 1                           # model unchanged


def test_model_switch_without_restart(ros, chelsea):
    node = ros.make()
    frame = image_msg(ros.typestore, chelsea, "nv12", 7, "cam")
    feed(ros, node, "/image_raw", frame)
    assert set_param(node, "model", FP32).successful
    feed(ros, node, "/image_raw", frame)
    infos = [cdr(ros, m, VISION_INFO) for m in ros.published("/vision_info")]
    assert [(i.method, i.database_version) for i in infos] == [(DEFAULT_MODEL, 1), (FP32, 2)]
    assert len(ros.published("/label_info")) == 2
    fp32 = Classifier.from_model(FP32, backend="cpu")
    try:
        expect = fp32.classify_raw(frame.data, frame.width, frame.height, "nv12", frame.step)
    finally:
        fp32.close()
    int8_out, fp32_out = results(ros, "/image_raw/classification")
    assert [int(h.class_id) for h in fp32_out.results] == [p.class_id for p in expect.top]
    assert [h.score for h in fp32_out.results] == pytest.approx([p.score for p in expect.top],
                                                                abs=1e-6)
    assert [h.score for h in int8_out.results] != [h.score for h in fp32_out.results]
    assert any(FP32 in msg for _, sev, msg in ros.logs if sev == "INFO")


def test_model_switches_while_frames_stream_in(ros, chelsea):
    """Swaps happen between frames: no frame fails, every result is a full top-5."""
    node = ros.make()
    frame = image_msg(ros.typestore, chelsea, "bgr8")
    stop = threading.Event()

    def camera():
        while not stop.is_set():
            ros.publish("/image_raw", frame)

    t = threading.Thread(target=camera)
    t.start()
    try:
        for model in (FP32, DEFAULT_MODEL, FP32):
            assert set_param(node, "model", model).successful
    finally:
        stop.set()
        t.join(TIMEOUT)
    # frames prepared for a swapped-out model are dropped, so the stream may not have produced a
    # result yet: one more frame after the last swap must come through the current model
    assert node.wait_idle(TIMEOUT)
    ros.publish("/image_raw", frame)
    assert node.wait_idle(TIMEOUT)
    c = node.counters()["/image_raw"]
    assert c["errors"] == 0 and c["bad_frames"] == 0
    assert c["published"] >= 1 and c["received"] == c["published"] + c["dropped"]
    outs = results(ros, "/image_raw/classification")
    assert all(len(o.results) == 5 and int(o.results[0].class_id) in CAT_CLASSES for o in outs)


def test_bad_frames_are_counted_logged_once_and_survived(ros, chelsea):
    node = ros.make(compressed_topics=["image_jpeg"])
    ts = ros.typestore
    unknown = image_msg(ts, chelsea, "bgr8", 1)
    unknown.encoding = "bayer_grbg8"
    short = image_msg(ts, chelsea, "bgr8", 2)
    short.data = short.data[: short.data.size // 2]
    odd = image_msg(ts, chelsea, "nv12", 3)
    odd.width -= 1                          # NV12 with an odd width
    for msg in (unknown, short, odd):
        feed(ros, node, "/image_raw", msg)
    feed(ros, node, "/image_jpeg", compressed_msg(ts, corrupt_jpeg(chelsea), 4))
    feed(ros, node, "/image_raw", image_msg(ts, chelsea, "bgr8", 5, "good"))

    c = node.counters()
    assert c["/image_raw"] == {"received": 4, "processed": 4, "dropped": 0, "errors": 0,
                               "published": 1, "bad_frames": 3}
    assert c["/image_jpeg"] == {"received": 1, "processed": 1, "dropped": 0, "errors": 0,
                                "published": 0, "bad_frames": 1}
    # found in the subscription callback: only the good frame ever reached a worker
    raw_cam, jpeg_cam = node._cameras
    assert raw_cam.worker.stats().received == 1 and jpeg_cam.worker.stats().received == 0
    (good,) = results(ros, "/image_raw/classification")
    assert good.header.frame_id == "good"
    assert results(ros, "/image_jpeg/classification") == []
    warnings = [msg for _, sev, msg in ros.logs if sev == "WARN"]
    assert len(warnings) == 1               # throttled: one call site, within 5 s
    assert "bayer_grbg8" in warnings[0] and "/image_raw" in warnings[0]


def test_debug_image_only_when_enabled_and_subscribed(ros, chelsea):
    node = ros.make(publish_debug_image=True, debug_image_max_width=320)
    debug_topic = "/image_raw/classification/debug_image"
    frame = image_msg(ros.typestore, chelsea, "nv12", 9, "cam")
    feed(ros, node, "/image_raw", frame)
    assert ros.published(debug_topic) == []        # nobody listens: not computed
    ros.subscribe(debug_topic)
    feed(ros, node, "/image_raw", frame)
    (img,) = ros.published(debug_topic)
    assert (img.width, img.encoding, img.header.frame_id) == (320, "bgr8", "cam")
    assert img.data.size == img.height * img.step
    assert set_param(node, "publish_debug_image", False).successful
    feed(ros, node, "/image_raw", frame)
    assert len(ros.published(debug_topic)) == 1


def test_debug_publisher_created_when_enabled_at_run_time(ros, chelsea):
    node = ros.make()
    debug_topic = "/image_raw/classification/debug_image"
    assert ros.publishers(debug_topic) == []
    assert set_param(node, "publish_debug_image", True).successful
    ros.subscribe(debug_topic)
    feed(ros, node, "/image_raw", image_msg(ros.typestore, chelsea, "bgr8"))
    assert len(ros.published(debug_topic)) == 1


def test_diagnostics_fallback_and_periodic_log(ros, chelsea):
    node = ros.make(image_topics=["a/image", "b/image"], log_period=2.0)
    assert node.get_parameter("diagnostics_period").value == 1.0
    periods = sorted(t.timer_period_ns for t in ros.timers())
    assert periods == [1_000_000_000, 2_000_000_000]
    feed(ros, node, "/a/image", image_msg(ros.typestore, chelsea, "bgr8"))
    ros.fire_timers()
    (array_msg,) = ros.published("/diagnostics")
    back = cdr(ros, array_msg, "diagnostic_msgs/msg/DiagnosticArray")
    by_name = {s.name: s for s in back.status}
    a, b = by_name["classifier_node: /a/image"], by_name["classifier_node: /b/image"]
    ok, warn = (ros.typestore.types["diagnostic_msgs/msg/DiagnosticStatus"].OK,
                ros.typestore.types["diagnostic_msgs/msg/DiagnosticStatus"].WARN)
    assert (a.level, b.level) == (ok, warn)
    assert b.message == "no frames received"
    values = {kv.key: kv.value for kv in a.values}
    assert values["results published"] == "1" and values["model"] == DEFAULT_MODEL
    assert float(values["inference (ms)"]) > 0 and float(values["input rate (Hz)"]) > 0
    # the age of the camera's results (header stamp to publish) and its share of the model
    b_values = {kv.key: kv.value for kv in b.values}
    assert float(values["result age p50 (ms)"]) > 0 and b_values["result age p50 (ms)"] == "-"
    assert (values["weight"], values["max rate (Hz)"]) == ("1", "no limit")
    assert a.hardware_id == "cpu"
    lines = [msg for _, sev, msg in ros.logs if sev == "INFO" and "Hz" in msg]
    assert len(lines) == 1 and "/a/image: in" in lines[0] and "/b/image: in" in lines[0]


def test_one_model_for_every_camera_and_single_output_topic(ros, chelsea, monkeypatch):
    loads = []
    real = Classifier.from_config.__func__

    def counting(cls, config):
        loads.append(config.model)
        return real(cls, config)

    monkeypatch.setattr(Classifier, "from_config", classmethod(counting))
    node = ros.make(image_topics=["left/image_raw", "right/image_raw", ""],
                    output_topic="classifications")
    assert set(node.counters()) == {"/left/image_raw", "/right/image_raw"}
    assert len(ros.publishers("/classifications")) == 1
    assert loads == [DEFAULT_MODEL]  # one model load, whatever the number of cameras
    clfs = {id(cam.classifier) for cam in node._cameras}
    assert len(clfs) == 1
    feed(ros, node, "/left/image_raw", image_msg(ros.typestore, chelsea, "bgr8", 1, "left"))
    feed(ros, node, "/right/image_raw", image_msg(ros.typestore, chelsea, "nv12", 2, "right"))
    assert [m.header.frame_id for m in ros.published("/classifications")] == ["left", "right"]


def test_frames_faster_than_inference_never_queue(ros, chelsea):
    node = ros.make()
    frame = image_msg(ros.typestore, chelsea, "bgr8")
    for _ in range(20):
        ros.publish("/image_raw", frame)     # no waiting: the camera outruns the model
    assert node.wait_idle(TIMEOUT)
    c = node.counters()["/image_raw"]
    assert c["received"] == 20
    assert c["published"] + c["dropped"] == 20 and c["published"] < 20


class GatedPublisher:
    """Holds the worker in the publish of its first result (outside the camera lock, as a slow
    publish would), so that the test decides what arrives meanwhile."""

    def __init__(self, monkeypatch, publisher) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        real = publisher.publish

        def publish(msg):
            self.entered.set()
            assert self.release.wait(TIMEOUT)
            real(msg)

        monkeypatch.setattr(publisher, "publish", publish)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release.set()


def stamps(graph, topic):
    return [m.header.stamp.nanosec for m in results(graph, topic)]


@pytest.mark.parametrize("debug", [False, True])
def test_only_the_newest_prepared_frame_waits_and_it_holds_no_camera_message(ros, chelsea,
                                                                             monkeypatch, debug):
    # typed messages: the test follows the references to their data arrays
    node = ros.make(publish_debug_image=debug, raw_subscriptions=False)
    if debug:
        ros.subscribe("/image_raw/classification/debug_image")
    cam = node._cameras[0]
    out = "/image_raw/classification"
    with GatedPublisher(monkeypatch, cam.publisher) as gate:
        ros.publish("/image_raw", image_msg(ros.typestore, chelsea, "bgr8", 1))
        assert gate.entered.wait(TIMEOUT)       # the worker is busy with frame 1
        data = []
        for k in range(2, 7):                   # frames 2..6 arrive while it is busy
            msg = image_msg(ros.typestore, chelsea, "bgr8", k)
            data.append(weakref.ref(msg.data))
            ros.publish("/image_raw", msg)
            del msg
        gc.collect()
        w = cam.worker.stats()
        assert (w.received, w.dropped, w.pending) == (6, 4, True)
        # the slot holds frame 6 converted (model-size NV12); its camera message is gone unless
        # the debug overlay, enabled and subscribed, will draw on it
        assert [r() is not None for r in data] == [False] * 4 + [debug]
    assert node.wait_idle(TIMEOUT)
    assert stamps(ros, out) == [1, 6]           # frame 1, then the newest; none in between
    assert node.counters()["/image_raw"] == {"received": 6, "processed": 2, "dropped": 4,
                                             "errors": 0, "published": 2, "bad_frames": 0}
    debug_images = ros.published("/image_raw/classification/debug_image")
    assert [m.header.stamp.nanosec for m in debug_images] == ([1, 6] if debug else [])
    report = cam.stats.report(cam.worker_stats())
    assert report.preprocess_ms > 0 and report.inference_ms > 0  # conversion time carried over
    assert (report.received, report.dropped, report.published) == (6, 4, 2)


@pytest.mark.parametrize("name,value", [("model", FP32), ("resize_mode", "letterbox")])
def test_a_model_change_drops_the_frame_prepared_for_the_old_model(ros, chelsea, monkeypatch,
                                                                    name, value):
    node = ros.make()
    cam = node._cameras[0]
    old = cam.classifier
    out = "/image_raw/classification"
    frame = lambda k: image_msg(ros.typestore, chelsea, "bgr8", k)  # noqa: E731
    with GatedPublisher(monkeypatch, cam.publisher) as gate:
        ros.publish("/image_raw", frame(1))
        assert gate.entered.wait(TIMEOUT)
        ros.publish("/image_raw", frame(2))    # converted by the old model's preprocessor
        assert cam.worker.stats().pending
        assert set_param(node, name, value).successful  # the swap: frame 1 is past the model
        assert cam.classifier is not old
    assert node.wait_idle(TIMEOUT)
    assert stamps(ros, out) == [1]              # frame 2 was not run through the new model
    assert node.counters()["/image_raw"] == {"received": 2, "processed": 1, "dropped": 1,
                                             "errors": 0, "published": 1, "bad_frames": 0}
    feed(ros, node, "/image_raw", frame(3))
    assert stamps(ros, out) == [1, 3]
    assert node.counters()["/image_raw"] == {"received": 3, "processed": 2, "dropped": 1,
                                             "errors": 0, "published": 2, "bad_frames": 0}
    expect = Classifier.from_model(**{"backend": "cpu", name: value})
    try:
        want = expect.classify_image(chelsea).top
    finally:
        expect.close()
    got = results(ros, out)[-1].results
    assert [int(h.class_id) for h in got] == [p.class_id for p in want]
    assert [h.score for h in got] == pytest.approx([p.score for p in want], abs=1e-6)
    assert [h.score for h in got] != [h.score for h in results(ros, out)[0].results]


def test_an_unexpected_failure_in_the_callback_is_counted_not_raised(ros, chelsea, monkeypatch):
    from rdk_classifier.ros import whole_frame

    node = ros.make()
    real = whole_frame.prepare_message
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(whole_frame, "prepare_message", failing_once)
    feed(ros, node, "/image_raw", image_msg(ros.typestore, chelsea, "bgr8", 1))  # no exception
    feed(ros, node, "/image_raw", image_msg(ros.typestore, chelsea, "bgr8", 2))
    assert stamps(ros, "/image_raw/classification") == [2]
    assert node.counters()["/image_raw"] == {"received": 2, "processed": 1, "dropped": 0,
                                             "errors": 1, "published": 1, "bad_frames": 0}
    errors = [msg for _, sev, msg in ros.logs if sev == "ERROR"]
    assert len(errors) == 1 and "RuntimeError: boom" in errors[0]


def test_missing_model_is_fatal_at_start_with_how_to_get_it(ros, monkeypatch, tmp_path):
    monkeypatch.setenv("RDK_CLASSIFIER_CACHE", str(tmp_path))
    monkeypatch.setenv("RDK_CLASSIFIER_SYSTEM_MODEL_DIR", str(tmp_path))
    previous = signal.getsignal(signal.SIGINT)
    try:
        code = ros.module.main(["--ros-args", "-p", "model:=MobileOne_S1", "-p", "backend:=bpu"])
    finally:
        signal.signal(signal.SIGINT, previous)  # main() ignores SIGINT while it shuts down
    assert code == 1
    fatal = [msg for _, sev, msg in ros.logs if sev == "FATAL"]
    assert len(fatal) == 1
    assert "MobileOne_S1" in fatal[0] and "zoo fetch MobileOne_S1" in fatal[0]
    assert not ros.initialized                   # main shut rclpy down


def test_missing_model_file_and_bad_parameters_fail_at_start(ros, tmp_path):
    with pytest.raises(ros.module.StartupError, match="model file not found"):
        ros.make(model=str(tmp_path / "nothing.onnx"))
    with pytest.raises(ros.module.StartupError, match="class_id_format"):
        ros.make(class_id_format="labels")


def test_config_file_documents_every_default():
    import yaml
    from pathlib import Path

    from rdk_classifier.ros.settings import PARAMETERS

    config = Path(__file__).parent.parent / "config" / "classifier.yaml"
    params = yaml.safe_load(config.read_text())["/**"]["ros__parameters"]
    declared = {p.name: p for p in PARAMETERS}
    # every parameter but the empty string arrays (an empty list has no ROS type; commented)
    assert set(params) == set(declared) - {p.name for p in PARAMETERS if p.default is None}
    for name, value in params.items():
        default = declared[name].default
        assert value == default and type(value) is type(default), name


def test_an_override_of_the_wrong_type_fails_at_start_with_the_reason(ros):
    with pytest.raises(ros.module.StartupError, match="top_k"):
        ros.make(top_k="five")
    with pytest.raises(ros.module.StartupError, match="score_threshold"):
        ros.make(score_threshold=3.0)
    assert sum(1 for _, sev, _ in ros.logs if sev == "FATAL") == 2


def test_a_bpu_model_without_a_bpu_is_refused_unless_the_fallback_is_asked_for(ros, chelsea):
    with pytest.raises(ros.module.StartupError, match="RepViT_m1_0 is a BPU model"):
        ros.make(model="RepViT_m1_0")
    node = ros.make(model="RepViT_m1_0", fallback_to_cpu=True)
    warnings = [msg for _, sev, msg in ros.logs if sev == "WARN"]
    assert sum("INSTEAD of RepViT_m1_0" in m for m in warnings) == 1  # once, on the node logger
    info = cdr(ros, ros.published("/vision_info")[-1], VISION_INFO)
    assert info.method == f"{DEFAULT_MODEL} (CPU fallback for RepViT_m1_0)"
    feed(ros, node, "/image_raw", image_msg(ros.typestore, chelsea, "bgr8"))
    assert len(results(ros, "/image_raw/classification")) == 1
    ros.fire_timers()
    (status,) = cdr(ros, ros.published("/diagnostics")[-1],
                    "diagnostic_msgs/msg/DiagnosticArray").status
    assert status.level == ros.typestore.types["diagnostic_msgs/msg/DiagnosticStatus"].WARN
    assert status.message == f"CPU fallback: {DEFAULT_MODEL} runs"
    assert {kv.key: kv.value for kv in status.values}["fallback"].startswith("RepViT_m1_0")
    assert not set_param(node, "fallback_to_cpu", False).successful  # would refuse the model


def test_diagnostics_through_diagnostic_updater_when_installed(ros, chelsea, monkeypatch):
    """Where diagnostic_updater is installed the node registers one task per camera with it; a
    small stand-in of its API (Updater, setHardwareID, add, DiagnosticStatusWrapper's summary/add)
    records what the real one would publish."""
    import sys
    import types

    class Wrapper:
        def __init__(self):
            self.level, self.message, self.values = None, None, {}

        def summary(self, level, message):
            self.level, self.message = level, message

        def add(self, key, value):
            self.values[key] = value

    class Updater:
        instances = []

        def __init__(self, node, period):
            self.node, self.period, self.tasks, self.hardware_id = node, period, {}, None
            Updater.instances.append(self)

        def setHardwareID(self, hardware_id):  # noqa: N802 (diagnostic_updater's API)
            self.hardware_id = hardware_id

        def add(self, name, task):
            self.tasks[name] = task

    monkeypatch.setitem(sys.modules, "diagnostic_updater",
                        types.SimpleNamespace(Updater=Updater))
    node = ros.make(image_topics=["a/image"], diagnostics_period=2.0)
    (updater,) = Updater.instances
    assert (updater.node, updater.period, updater.hardware_id) == (node, 2.0, "cpu")
    assert set(updater.tasks) == {"/a/image"}
    assert ros.publishers("/diagnostics") == []  # the updater publishes, not the node
    feed(ros, node, "/a/image", image_msg(ros.typestore, chelsea, "bgr8"))
    stat = updater.tasks["/a/image"](Wrapper())
    status_type = ros.typestore.types["diagnostic_msgs/msg/DiagnosticStatus"]
    assert stat.level == status_type.OK and stat.message.endswith("Hz")
    assert stat.values["results published"] == "1" and stat.values["model"] == DEFAULT_MODEL


def test_camera_policies_reach_the_scheduler(ros, chelsea):
    node = ros.make(image_topics=["a/image", "b/image"], max_rate=5.0,
                    camera_policies=["a/image weight=2"])
    kv = {cam.topic: dict(node._schedule_key_values(cam)) for cam in node._cameras}
    assert (kv["a/image"]["weight"], kv["a/image"]["max rate (Hz)"]) == ("2", "5")
    assert (kv["b/image"]["weight"], kv["b/image"]["max rate (Hz)"]) == ("1", "5")
    feed(ros, node, "/a/image", image_msg(ros.typestore, chelsea, "bgr8", 7, "a"))
    assert node.counters()["/a/image"]["published"] == 1
    with pytest.raises(ros.module.StartupError, match="names no camera topic"):
        ros.make(image_topics=["a/image"], camera_policies=["c/image weight=2"])


def test_the_soc_parameter_reaches_the_zoo_and_the_bpu_backend(ros, chelsea, model_dirs,
                                                               monkeypatch, tmp_path):
    """Issue 22: the node's ``soc`` picks the chip's build in the zoo (over
    $RDK_CLASSIFIER_SOC) and the BPU backend feeds that build its contract (Y + UV on the S
    series), through the same path as the CLI; a file built for another chip is refused."""
    import bpu_doubles
    from rdk_classifier import zoo

    system, _ = model_dirs
    monkeypatch.setenv("RDK_CLASSIFIER_SOC", "x5")  # the parameter wins over the environment
    (system / "resnet18_224x224_nv12.hbm").write_bytes(b"x")
    (system / "resnet18_224x224_nv12.bin").write_bytes(b"x")  # the X5 file: not for an S600
    runtime = bpu_doubles.install_hbm_runtime_s(monkeypatch)
    asked = []
    real = zoo.resolve_model

    def resolve(model, *args, **kwargs):
        asked.append((model, kwargs.get("soc")))
        return real(model, *args, **kwargs)

    monkeypatch.setattr(zoo, "resolve_model", resolve)
    node = ros.make(model="ResNet18", backend="bpu", soc="s600")
    assert asked == [("ResNet18", "s600")]
    (double,) = runtime.instances
    assert list(double.hbm_descs) == [str(system / "resnet18_224x224_nv12.hbm")]
    feed(ros, node, "/image_raw", image_msg(ros.typestore, chelsea, "bgr8"))
    assert len(results(ros, "/image_raw/classification")) == 1
    (seen,) = double.inputs_seen_s  # the S-series contract: Y and UV, not one packed NV12
    assert {k: v.shape for k, v in seen.items()} == {"input_y": (1, 224, 224, 1),
                                                     "input_uv": (1, 112, 112, 2)}
    assert set_param(node, "soc", "S100").successful  # a reload: the S100 build of ResNet18
    assert asked[-1] == ("ResNet18", "S100") and len(runtime.instances) == 2
    s600_file = tmp_path / "rdk_s600" / "resnet18_224x224_nv12.hbm"
    s600_file.parent.mkdir()
    s600_file.write_bytes(b"x")
    with pytest.raises(ros.module.StartupError, match="(?i)s600"):
        ros.make(model=str(s600_file), backend="bpu", soc="s100")
    assert not set_param(node, "soc", "s900").successful
