"""Box mode under the REAL rclpy (ROS 2 Humble or Jazzy), two processes: classifier_node runs in its
own process; this one publishes camera frames and a detector's messages (vision_msgs/Detection2DArray
on one camera, ai_msgs/PerceptionTargets on another, when ai_msgs is built) over DDS, detections
sometimes before their frame, and gets the classified boxes back with the frames' stamps.
Skipped where rclpy (or vision_msgs) is not installed (CI); run in a sourced ROS 2 environment:

    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q test/test_node_boxes_rclpy.py
"""

from __future__ import annotations

import array
import os
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from box_scenes import jpeg, scene  # noqa: E402
from ros_frames import nv12_bytes  # noqa: E402
from rdk_classifier.frames import Frame  # noqa: E402
from rdk_classifier.regions import Box, classify_boxes  # noqa: E402
from rdk_classifier.ros.detections import detection_types_from_ros_packages  # noqa: E402
from rdk_classifier.ros.messages import make_header  # noqa: E402

TIMEOUT = 60.0
T0 = 1_800_000_000_000_000_000
QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                 reliability=ReliabilityPolicy.RELIABLE)
try:
    import ai_msgs.msg  # noqa: F401
    HAVE_AI = True
except ImportError:
    HAVE_AI = False


def start_node(*params: str):
    """classifier_node in a second process, on a test domain."""
    env = dict(os.environ, ROS_DOMAIN_ID=os.environ.get("RDK_CLASSIFIER_TEST_DOMAIN", "43"))
    args = [a for p in ("log_period:=0.0",) + params for a in ("-p", p)]
    cmd = [sys.executable, "-c", "import sys; from rdk_classifier.ros.node import main; "
           "sys.exit(main(sys.argv))", "--ros-args", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True), env


def stop(proc) -> str:
    proc.send_signal(2)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


class Peer:
    """The other process's side: a camera, a detector, a listener."""

    def __init__(self, env) -> None:
        self.ctx = rclpy.context.Context()
        rclpy.init(context=self.ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
        self.node = Node("box_peer", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)

    def wait(self, condition, proc, timeout=TIMEOUT) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            self.ex.spin_once(timeout_sec=0.1)
            assert proc.poll() is None, proc.stdout.read()
        return condition()

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def _stamp(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_two_process_detection2d_array_nv12():
    proc, env = start_node("image_topics:=['tb_cam/image_raw']",
                           "detection_topics:=['tb_cam/detections']")
    canvas, places = scene()
    h, w = canvas.shape[:2]
    T = detection_types_from_ros_packages()
    p = Peer(env)
    peer, ex = p.node, p.ex
    try:
        cam_pub = peer.create_publisher(Image, "/tb_cam/image_raw", QOS)
        det_pub = peer.create_publisher(T.Detection2DArray, "/tb_cam/detections", QOS)
        got: list = []
        peer.create_subscription(T.Detection2DArray, "/tb_cam/detections/classification",
                                 got.append, QOS)
        nv12 = nv12_bytes(canvas)
        rects = [rect for _, rect in places]

        def frame(stamp):
            return Image(header=make_header(T, stamp, "tb_cam"), height=h, width=w,
                         encoding="nv12", is_bigendian=0, step=w,
                         data=array.array("B", nv12.tobytes()))

        def detections(stamp, chosen):
            dets = []
            for k in chosen:
                x, y, bw, bh = rects[k]
                hyp = T.ObjectHypothesisWithPose()
                hyp.hypothesis.class_id, hyp.hypothesis.score = "object", 0.9
                bbox = T.BoundingBox2D()
                bbox.center.position.x, bbox.center.position.y = x + bw / 2, y + bh / 2
                bbox.size_x, bbox.size_y = float(bw), float(bh)
                dets.append(T.Detection2D(header=make_header(T, stamp, "tb_cam"), results=[hyp],
                                          bbox=bbox, id=f"k{k}"))
            return T.Detection2DArray(header=make_header(T, stamp, "tb_cam"), detections=dets)

        assert p.wait(lambda: cam_pub.get_subscription_count()
                      and det_pub.get_subscription_count()
                      and peer.count_publishers("/tb_cam/detections/classification"), proc)
        sent = {}
        for i in range(4):
            stamp = T0 + i * 33_333_333
            chosen = [k for k in range(len(rects)) if (k + i) % 2]
            sent[stamp] = chosen
            if i % 2:  # detections first, then the frame
                det_pub.publish(detections(stamp, chosen))
                ex.spin_once(timeout_sec=0.05)
                cam_pub.publish(frame(stamp))
            else:
                cam_pub.publish(frame(stamp))
                ex.spin_once(timeout_sec=0.05)
                det_pub.publish(detections(stamp, chosen))
            end = time.monotonic() + TIMEOUT
            while time.monotonic() < end and not any(_stamp(m) == stamp for m in got):
                ex.spin_once(timeout_sec=0.1)
        assert sorted(_stamp(m) for m in got) == sorted(sent)
        from rdk_classifier.classifier import Classifier

        clf = Classifier.from_model(backend="cpu")
        frame_region = Frame.from_raw(nv12, w, h, "nv12")
        for m in got:
            chosen = sent[_stamp(m)]
            assert [d.id for d in m.detections] == [f"k{k}" for k in chosen]
            assert m.header.frame_id == "tb_cam"
            direct = classify_boxes(clf, frame_region, [Box(*rects[k]) for k in chosen])
            assert [d.results[0].hypothesis.class_id for d in m.detections] == \
                [str(b.result.top[0].class_id) for b in direct.classified]

    finally:
        p.close()
        log = stop(proc)
    assert "Traceback" not in log, log


@pytest.mark.skipif(not HAVE_AI, reason="ai_msgs (D-Robotics hobot_msgs) is not built here")
def test_two_process_perception_targets_jpeg():
    """A TROS detector's PerceptionTargets on a jpeg camera; results also as PerceptionTargets."""
    proc, env = start_node("image_topics:=['']", "compressed_topics:=['tb_usb/image']",
                           "detection_topics:=['tb_usb/targets']", "detection_type:=ai_msgs",
                           "publish_perception_targets:=true", "class_id_format:=name")
    canvas, places = scene()
    T = detection_types_from_ros_packages()
    p = Peer(env)
    try:
        usb_pub = p.node.create_publisher(CompressedImage, "/tb_usb/image", QOS)
        tgt_pub = p.node.create_publisher(T.PerceptionTargets, "/tb_usb/targets", QOS)
        out_targets: list = []
        out_dets: list = []
        p.node.create_subscription(T.PerceptionTargets, "/tb_usb/targets/classification/targets",
                                   out_targets.append, QOS)
        p.node.create_subscription(T.Detection2DArray, "/tb_usb/targets/classification",
                                   out_dets.append, QOS)
        assert p.wait(lambda: usb_pub.get_subscription_count()
                      and tgt_pub.get_subscription_count(), proc)
        assert p.wait(lambda: p.node.count_publishers("/tb_usb/targets/classification")
                      and p.node.count_publishers("/tb_usb/targets/classification/targets"),
                      proc)
        data = array.array("B", jpeg(canvas))
        for i, (k, kind) in enumerate(((1, "cup"), (0, "cat"))):
            stamp = T0 + 10**9 + i
            x, y, bw, bh = places[k][1]
            roi = T.Roi(type=kind, confidence=0.8)
            roi.rect.x_offset, roi.rect.y_offset, roi.rect.width, roi.rect.height = x, y, bw, bh
            msg = T.PerceptionTargets(header=make_header(T, stamp, "tb_usb"), fps=30,
                                      targets=[T.Target(type=kind, track_id=9 + i, rois=[roi])])
            frame = CompressedImage(header=make_header(T, stamp, "tb_usb"), format="jpeg",
                                    data=data)
            first, second = ((tgt_pub, msg), (usb_pub, frame))[::1 if i == 0 else -1]
            first[0].publish(first[1])
            p.ex.spin_once(timeout_sec=0.05)
            second[0].publish(second[1])
            assert p.wait(lambda: len(out_targets) > i and len(out_dets) > i, proc)
        for i, (t_msg, d_msg) in enumerate(zip(out_targets, out_dets)):
            assert _stamp(t_msg) == _stamp(d_msg) == T0 + 10**9 + i
            (target,) = t_msg.targets
            assert target.track_id == 9 + i and d_msg.detections[0].id == str(9 + i)
            assert [q.type.split("_")[-1] for q in t_msg.perfs] == ["preprocess", "infer",
                                                                    "postprocess", "pipeline"]
        assert out_targets[0].targets[0].type == "espresso"
        assert out_dets[0].detections[0].results[0].hypothesis.class_id == "espresso"
        assert out_dets[1].detections[0].results[0].hypothesis.class_id in (
            "tabby cat", "tiger cat", "Egyptian Mau", "Persian cat", "Siamese cat")
    finally:
        p.close()
        log = stop(proc)
    assert "Traceback" not in log, log


# --- a box-mode camera is received like any other: raw or typed, QoS override, lazy, hbmem ------
def _hbm_frame(nv12, w, h, stamp):
    import numpy as np
    from hbm_img_msgs.msg import HbmMsg1080P

    msg = HbmMsg1080P()
    msg.index = 1
    msg.time_stamp.sec, msg.time_stamp.nanosec = divmod(stamp, 10**9)
    msg.height, msg.width, msg.step, msg.data_size = h, w, w, nv12.size
    enc = np.zeros(12, np.uint8)
    enc[:4] = np.frombuffer(b"nv12", np.uint8)
    msg.encoding = enc
    data = np.zeros(6220800, np.uint8)
    data[:nv12.size] = nv12
    msg.data = data
    return msg


@pytest.mark.parametrize("raw", ["true", "false"])
def test_two_process_box_camera_paths(raw):
    """Lazy (no camera or detector subscription until the results have a listener), the QoS
    override parameter, raw or typed frames, and an hbmem camera when hbm_img_msgs is built:
    each box's answer is the core path's on the same frame."""
    try:
        import hbm_img_msgs.msg  # noqa: F401
        have_hbm = True
    except ImportError:
        have_hbm = False
    params = ["image_topics:=['tc_cam']", f"raw_subscriptions:={raw}", "lazy:=true",
              "qos_overrides./tc_cam.subscription.reliability:=reliable"]
    if have_hbm:
        params += ["hbmem_topics:=['tc_hbm']", "detection_topics:=['tc_dets', 'tc_hdets']"]
    else:
        params += ["detection_topics:=['tc_dets']"]
    proc, env = start_node(*params)
    canvas, places = scene()
    h, w = canvas.shape[:2]
    nv12 = nv12_bytes(canvas)
    T = detection_types_from_ros_packages()
    p = Peer(env)
    peer = p.node
    try:
        cam_pub = peer.create_publisher(Image, "/tc_cam", QOS)
        det_pub = peer.create_publisher(T.Detection2DArray, "/tc_dets", QOS)
        assert p.wait(lambda: peer.count_publishers("/tc_dets/classification"), proc)
        end = time.monotonic() + 1.0   # the node is up: lazy, it does not receive yet
        while time.monotonic() < end:
            p.ex.spin_once(timeout_sec=0.1)
        assert cam_pub.get_subscription_count() == 0 and det_pub.get_subscription_count() == 0
        got: list = []
        peer.create_subscription(T.Detection2DArray, "/tc_dets/classification", got.append, QOS)
        assert p.wait(lambda: cam_pub.get_subscription_count()
                      and det_pub.get_subscription_count(), proc)
        (info,) = peer.get_subscriptions_info_by_topic("/tc_cam")
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE  # the override

        x, y, bw, bh = places[1][1]

        def detections(stamp):
            hyp = T.ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = "object", 0.9
            bbox = T.BoundingBox2D()
            bbox.center.position.x, bbox.center.position.y = x + bw / 2, y + bh / 2
            bbox.size_x, bbox.size_y = float(bw), float(bh)
            d = T.Detection2D(header=make_header(T, stamp, "tc"), results=[hyp], bbox=bbox,
                              id="cup")
            return T.Detection2DArray(header=make_header(T, stamp, "tc"), detections=[d])

        stamp = T0 + 5 * 10**9
        cam_pub.publish(Image(header=make_header(T, stamp, "tc"), height=h, width=w,
                              encoding="nv12", is_bigendian=0, step=w,
                              data=array.array("B", nv12.tobytes())))
        p.ex.spin_once(timeout_sec=0.05)
        det_pub.publish(detections(stamp))
        assert p.wait(lambda: got, proc)
        from rdk_classifier.classifier import Classifier

        clf = Classifier.from_model(backend="cpu")
        direct = classify_boxes(clf, Frame.from_raw(nv12, w, h, "nv12"), [Box(x, y, bw, bh)])
        want = [str(q.class_id) for q in direct.classified[0].result.top]
        (m,) = got
        assert _stamp(m) == stamp and [d.id for d in m.detections] == ["cup"]
        assert [r.hypothesis.class_id for r in m.detections[0].results] == want
        if have_hbm:
            from hbm_img_msgs.msg import HbmMsg1080P

            hbm_pub = peer.create_publisher(HbmMsg1080P, "/tc_hbm", QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=1,
                reliability=ReliabilityPolicy.BEST_EFFORT))
            hdet_pub = peer.create_publisher(T.Detection2DArray, "/tc_hdets", QOS)
            hgot: list = []
            peer.create_subscription(T.Detection2DArray, "/tc_hdets/classification",
                                     hgot.append, QOS)
            assert p.wait(lambda: hbm_pub.get_subscription_count()
                          and hdet_pub.get_subscription_count(), proc)
            hstamp = stamp + 1
            hdet_pub.publish(detections(hstamp))
            p.ex.spin_once(timeout_sec=0.05)
            hbm_pub.publish(_hbm_frame(nv12, w, h, hstamp))
            assert p.wait(lambda: hgot, proc)
            (hm,) = hgot
            assert _stamp(hm) == hstamp and hm.header.frame_id == "tc_hbm"
            assert [r.hypothesis.class_id for r in hm.detections[0].results] == want
    finally:
        p.close()
        log = stop(proc)
    assert "Traceback" not in log, log
