"""The node's camera paths through the rclpy stand-in (test/rclpy_standin.py): raw (serialized
bytes) and typed subscriptions give the same Classification messages for bgr8, nv12, jpeg and
hbmem frames; hbm_img_msgs is optional; QoS overrides by parameter; lazy mode; malloc tuning."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

import rclpy_standin
from rdk_classifier.ros.rosbags_types import CLASSIFICATION

from ros_frames import CAT_CLASSES, ESPRESSO, PHOTOS, compressed_msg, image_msg, load_bgr, nv12_bytes

TIMEOUT = 30.0
STAMP = 1_712_345_678_123_456_789
HBM = "hbm_img_msgs/msg/HbmMsg1080P"


@pytest.fixture(params=[True], ids=["hbm"])
def ros(monkeypatch, request):
    with rclpy_standin.node_harness(monkeypatch, hbm=request.param) as graph:
        yield graph


@pytest.fixture
def ros_without_hbm(monkeypatch):
    with rclpy_standin.node_harness(monkeypatch, hbm=False) as graph:
        yield graph


@pytest.fixture(scope="module")
def frames():
    chelsea = load_bgr(PHOTOS / "chelsea.png")
    coffee = load_bgr(PHOTOS / "coffee.png")
    return {"chelsea": chelsea, "coffee_1080p": cv2.resize(coffee, (1920, 1080))}


def hbm_msg(ts, bgr, encoding="nv12", stamp_ns=STAMP, index=3):
    h, w = bgr.shape[:2]
    pixels = nv12_bytes(bgr) if encoding == "nv12" else bgr.reshape(-1)
    data = np.zeros(6220800, np.uint8)
    data[:pixels.size] = pixels
    data[pixels.size:] = 77    # the unused rest of the fixed array must not matter
    enc = np.zeros(12, np.uint8)
    enc[:len(encoding)] = np.frombuffer(encoding.encode(), np.uint8)
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return ts.types[HBM](index=index, time_stamp=ts.types["builtin_interfaces/msg/Time"](
        sec=sec, nanosec=nanosec), height=h, width=w, data_size=pixels.size,
        step=w if encoding == "nv12" else w * 3, encoding=enc, data=data)


def serialized(graph, msg, typename=CLASSIFICATION):
    return bytes(graph.typestore.serialize_cdr(msg, typename))


def run(graph, node, topic, msg, out):
    assert graph.publish(topic, msg) == 1
    assert node.wait_idle(TIMEOUT)
    return graph.published(out)[-1]


def test_raw_and_typed_subscriptions_publish_identical_results(monkeypatch, frames):
    """One node per mode, the same four frames: byte-identical Classification messages."""
    got = {}
    for raw in (True, False):
        with rclpy_standin.node_harness(monkeypatch, hbm=True) as graph:
            node = graph.make(image_topics=["cam/image_raw"], compressed_topics=["usb/image"],
                              hbmem_topics=["hbmem_img"], raw_subscriptions=raw)
            subs = {s.topic: s for s in graph.subscriptions("/cam/image_raw")
                    + graph.subscriptions("/usb/image") + graph.subscriptions("/hbmem_img")}
            assert {t: s.raw for t, s in subs.items()} == dict.fromkeys(subs, raw)
            ts = graph.typestore
            chelsea = frames["chelsea"]
            got[raw] = [
                serialized(graph, run(graph, node, "/cam/image_raw",
                                      image_msg(ts, chelsea, "bgr8", STAMP, "cam", pad=5),
                                      "/cam/image_raw/classification")),
                serialized(graph, run(graph, node, "/cam/image_raw",
                                      image_msg(ts, chelsea, "nv12", STAMP + 1, "cam", pad=4),
                                      "/cam/image_raw/classification")),
                serialized(graph, run(graph, node, "/usb/image",
                                      compressed_msg(ts, chelsea, STAMP + 2, "usb"),
                                      "/usb/image/classification")),
                serialized(graph, run(graph, node, "/hbmem_img",
                                      hbm_msg(ts, frames["coffee_1080p"], "nv12", STAMP + 3),
                                      "/hbmem_img/classification")),
                serialized(graph, run(graph, node, "/hbmem_img",
                                      hbm_msg(ts, frames["coffee_1080p"], "bgr8", STAMP + 4),
                                      "/hbmem_img/classification")),
            ]
            assert node.counters()["/hbmem_img"]["bad_frames"] == 0

    assert got[True] == got[False]
    ts = graph.typestore
    hbm_result = ts.deserialize_cdr(got[True][3], CLASSIFICATION)
    assert int(hbm_result.results[0].class_id) == ESPRESSO
    assert (hbm_result.header.stamp.sec, hbm_result.header.stamp.nanosec) == \
        divmod(STAMP + 3, 10**9)
    assert hbm_result.header.frame_id == "hbmem_img"   # the default: the topic, no leading '/'
    cat = ts.deserialize_cdr(got[True][0], CLASSIFICATION)
    assert {int(h.class_id) for h in cat.results} & set(CAT_CLASSES)
    assert cat.header.frame_id == "cam"


def test_hbmem_subscription_qos_type_and_frame_id(ros, frames):
    node = ros.make(image_topics=[""], hbmem_topics=["hbmem_img"], hbmem_frame_id="default_cam")
    (sub,) = ros.subscriptions("/hbmem_img")
    assert sub.msg_type is ros.typestore.types[HBM]
    assert (sub.qos_profile.reliability, sub.qos_profile.depth) == \
        (rclpy_standin.ReliabilityPolicy.BEST_EFFORT, 1)
    out = run(ros, node, "/hbmem_img", hbm_msg(ros.typestore, frames["coffee_1080p"]),
              "/hbmem_img/classification")
    assert out.header.frame_id == "default_cam"
    (pub,) = ros.publishers("/hbmem_img/classification")
    assert pub.qos_profile.reliability == rclpy_standin.ReliabilityPolicy.RELIABLE


def test_hbmem_540p_sibling(ros, monkeypatch, frames):
    rclpy_standin.rosbags_types.register_hbm_img_msgs(ros.typestore)
    node = ros.make(image_topics=[""], hbmem_topics=["hbm540"], hbmem_message_type="HbmMsg540P")
    ts = ros.typestore
    bgr = cv2.resize(frames["coffee_1080p"], (960, 540))
    pixels = nv12_bytes(bgr)
    data = np.zeros(1555200, np.uint8)
    data[:pixels.size] = pixels
    enc = np.frombuffer(b"nv12" + b"\0" * 8, np.uint8).copy()
    msg = ts.types["hbm_img_msgs/msg/HbmMsg540P"](
        index=1, time_stamp=ts.types["builtin_interfaces/msg/Time"](sec=5, nanosec=6),
        height=540, width=960, data_size=pixels.size, step=960, encoding=enc, data=data)
    out = run(ros, node, "/hbm540", msg, "/hbm540/classification")
    assert int(out.results[0].class_id) == ESPRESSO and out.header.stamp.sec == 5


def test_without_hbm_img_msgs_hbmem_topics_are_reported_and_others_work(ros_without_hbm, frames):
    ros = ros_without_hbm
    node = ros.make(hbmem_topics=["hbmem_img"])
    assert ros.subscriptions("/hbmem_img") == []
    errors = [m for _, sev, m in ros.logs if sev == "ERROR"]
    assert len(errors) == 1 and "hbm_img_msgs" in errors[0] and "hbmem_img" in errors[0]
    run(ros, node, "/image_raw", image_msg(ros.typestore, frames["chelsea"], "bgr8"),
        "/image_raw/classification")
    with pytest.raises(ros.module.StartupError, match="no input topic"):
        ros.make(image_topics=[""], hbmem_topics=["hbmem_img"])


def test_bad_serialized_frames_are_counted_and_survived(ros, frames):
    node = ros.make(hbmem_topics=["hbmem_img"])
    good = image_msg(ros.typestore, frames["chelsea"], "bgr8", STAMP)
    raw = serialized(ros, good, "sensor_msgs/msg/Image")
    (sub,) = ros.subscriptions("/image_raw")
    for bad in (raw[:-1], b"\x00\x01\x00", b"\x00\x02" + raw[2:], raw[:40]):
        sub.callback(bad)
    (hsub,) = ros.subscriptions("/hbmem_img")
    hraw = serialized(ros, hbm_msg(ros.typestore, frames["coffee_1080p"]), HBM)
    hsub.callback(hraw[:-5])
    hsub.callback(hraw[:24] + (10**8).to_bytes(4, "little") + hraw[28:])   # data_size lies
    sub.callback(raw)
    assert node.wait_idle(TIMEOUT)
    assert node.counters()["/image_raw"]["bad_frames"] == 4
    assert node.counters()["/hbmem_img"]["bad_frames"] == 2
    assert len(ros.published("/image_raw/classification")) == 1
    warnings = [m for _, sev, m in ros.logs if sev == "WARN"]   # throttled: one per call site
    assert len(warnings) == 1 and "truncated" in warnings[0]


@pytest.mark.parametrize("boxes", [False, True], ids=["whole_frame", "box_mode"])
def test_qos_overrides_by_parameter(ros, boxes):
    """The same for box-mode cameras: a camera is a camera, whatever its handler."""
    node = ros.make(image_topics=["a", "b"], **{
        "qos_overrides./a.subscription.reliability": "reliable",
        "qos_overrides./a.subscription.depth": 5},
        **({"detection_topics": ["a_dets", "b_dets"]} if boxes else {}))
    qa = ros.subscriptions("/a")[0].qos_profile
    qb = ros.subscriptions("/b")[0].qos_profile
    assert (qa.reliability, qa.depth) == (rclpy_standin.ReliabilityPolicy.RELIABLE, 5)
    assert (qb.reliability, qb.depth) == (rclpy_standin.ReliabilityPolicy.BEST_EFFORT, 1)
    if boxes:  # detections: best effort, a few deep, not overridden
        qd = ros.subscriptions("/a_dets")[0].qos_profile
        assert (qd.reliability, qd.depth) == (rclpy_standin.ReliabilityPolicy.BEST_EFFORT, 10)
    assert node.get_parameter("qos_overrides./b.subscription.history").value == "keep_last"
    # the module-level default is never changed in place by an override
    assert ros.module.IMAGE_QOS.reliability == rclpy_standin.ReliabilityPolicy.BEST_EFFORT
    assert node.describe_parameter("qos_overrides./a.subscription.depth").read_only


def test_lazy_mode_subscribes_only_while_results_have_a_subscriber(ros, frames):
    node = ros.make(lazy=True, publish_debug_image=True)
    (lazy_timer,) = [t for t in ros.timers() if t.timer_period_ns == 50_000_000]
    assert ros.subscriptions("/image_raw") == []
    msg = image_msg(ros.typestore, frames["chelsea"], "bgr8", STAMP)
    lazy_timer.fire()
    assert ros.publish("/image_raw", msg) == 0          # nobody listens: not even received
    ros.fire_timers()
    (diag,) = ros.published("/diagnostics")
    assert "idle" in diag.status[0].message and diag.status[0].level == 0   # OK, not WARN
    ros.subscribe("/diagnostics")                        # diagnostics consumers do not count
    lazy_timer.fire()
    assert ros.subscriptions("/image_raw") == []

    ros.subscribe("/image_raw/classification")
    lazy_timer.fire()                                    # within one poll period
    assert len(ros.subscriptions("/image_raw")) == 1
    run(ros, node, "/image_raw", msg, "/image_raw/classification")
    lazy_timer.fire()
    assert len(ros.subscriptions("/image_raw")) == 1     # stays while someone listens
    ros.unsubscribe("/image_raw/classification")
    lazy_timer.fire()
    assert ros.subscriptions("/image_raw") == []
    ros.subscribe("/image_raw/classification/debug_image")  # the overlay needs inference too
    lazy_timer.fire()
    assert len(ros.subscriptions("/image_raw")) == 1
    assert node.counters()["/image_raw"]["published"] == 1


def test_lazy_by_default_and_subscribed_at_start_when_not(ros):
    sys.modules["rclpy"].init()
    node = ros.module.ClassifierNode()          # the shipped defaults
    try:
        assert ros.subscriptions("/image_raw") == []
        assert any(t.timer_period_ns == 50_000_000 for t in ros.timers())
    finally:
        node.destroy_node()
    ros.make(lazy=False, image_topics=["other"])
    assert len(ros.subscriptions("/other")) == 1


def test_malloc_tuning_is_logged_or_off(ros, monkeypatch):
    monkeypatch.setattr(ros.module, "tune_malloc", lambda: "glibc malloc: tuned")
    ros.make()
    assert any("glibc malloc: tuned" in m for _, _, m in ros.logs)
    ros.logs.clear()
    ros.make(malloc_tuning=False, image_topics=["other"])
    assert not any("glibc malloc" in m for _, _, m in ros.logs)


FAULTS = textwrap.dedent("""
    import resource, sys
    from rdk_classifier.ros.malloc_tuning import tune_malloc
    print(tune_malloc() is not None)
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blobs = [bytes(6_220_800) for _ in range(3)]      # a few frames' worth, then freed
    del blobs
    f0 = faults()
    for _ in range(20):                               # as a subscriber's receive buffers
        a = bytearray(6_220_800); b = bytes(a); del a, b
    print(faults() - f0)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
@pytest.mark.parametrize("switch", ["1", "0"])
def test_malloc_tuning_removes_the_page_faults_of_frame_buffers(switch):
    env = {**os.environ, "RDK_CLASSIFIER_MALLOC_TUNING": switch}
    env.pop("GLIBC_TUNABLES", None)
    if switch == "0":
        # The control. glibc's mmap threshold starts at 128 KiB and then follows the largest
        # freed chunk, so whether an untuned process hands a freed frame back to the kernel
        # depends on its heap's history; and under qemu-user (the aarch64 check) a heap shrunk
        # and grown again shows no faults, as the emulator never unmaps a shrunk brk. Pinning
        # the threshold at its starting value gives the mmap-per-buffer case on every machine.
        env["GLIBC_TUNABLES"] = "glibc.malloc.mmap_threshold=131072"
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    tuned, faults = out[0] == "True", int(out[1])
    assert tuned == (switch == "1")
    pages = 20 * 2 * 6_220_800 // 4096                   # two fresh 6.2 MB buffers per frame
    if tuned:
        assert faults < pages // 20, faults              # buffers reused: (almost) no faults
    else:
        assert faults > pages // 2, faults               # mmap per buffer: faults
