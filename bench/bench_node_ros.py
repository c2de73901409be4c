#!/usr/bin/env python3
"""classifier_node under a real ROS 2 (rclpy), against a naive reference node, side by side.

Needs a sourced ROS 2 Humble (rclpy, sensor_msgs, vision_msgs; hbm_img_msgs for the hbmem rows);
elsewhere it says so and exits 0.

    python bench/bench_node_ros.py                    # the whole table (~15 min on 2 cores)
    python bench/bench_node_ros.py --encodings nv12 --subjects ours,naive --duration 8
    python bench/bench_node_ros.py --lazy-only        # lazy mode: idle CPU, first result delay
    python bench/bench_node_ros.py --cameras 1,4 --rounds 3 --duration 20   # one node, N cameras

One node for many cameras (``--cameras``, issue 24): classifier_node as shipped (its ``main``, in
its own process, parameters on its command line; ``--node-param NAME:=VALUE`` adds one) subscribed
to N topics ``/bench/cam<k>/<encoding>``, each fed by its own camera process at ``--hz``; this
process subscribes to every camera's results and to /diagnostics. Per run: the node's peak RSS
(VmHWM) read just before it is stopped and its RSS sampled every 0.5 s in the window (median:
"steady"), the model loads of its process (backend instances created, counted by a hook around
``create_backend``), and per camera frames published, results answered per second, result age
p50/p99 (receive time - input stamp) and the node's own diagnostics; then the spread of the answered
rates ((max - min) / mean) and the RSS of N cameras over 1.

What runs, each in its own process (so process CPU is the subject's alone):
- a camera: publishes one 1080p frame (a committed photo scaled to 1920x1080) as bgr8 Image,
  nv12 Image, jpeg CompressedImage or nv12 HbmMsg1080P, serialized once and re-stamped per
  message (header stamp / time_stamp = wall clock at publish; HbmMsg index counts), best effort,
  at ``--hz`` (30) or as fast as it can (``max``);
- the subject, one of:
  ``ours``          classifier_node as shipped (raw subscriptions, malloc tuning);
  ``ours_typed``    the same with raw_subscriptions:=false;
  ``ours_nomalloc`` the same with malloc_tuning:=false;
  ``naive``         the reference: typed subscription, frame -> BGR (cvtColor / imdecode) ->
                    cv2.resize 224x224 -> I420 -> NV12 (bench_preprocess.naive_bgr_to_nv12),
                    inference and publish in the callback, same model and backend;
  ``recv_typed`` / ``recv_raw``  a subscription that only counts (the receive floor);
  ``bare``          no ROS: the same model's inference in a loop on a prepared NV12;
- this process: subscribes to the results (reliable) and records end-to-end latency
  (receive time - input stamp).

Per run: ``warmup`` seconds after the first result, then ``duration`` seconds measured:
process CPU time / frames answered ("cpu/frame"), minus the bare inference CPU per frame of the
same run ("outside inference"), callback time (ours: the executor-thread callback, parse +
conversion; naive: the whole callback), latency p50/p99, frames published, answered, dropped.
Subjects alternate within a round; ``--rounds`` repeats, medians reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

try:
    import rclpy  # noqa: F401
    from sensor_msgs.msg import CompressedImage, Image  # noqa: F401
    from vision_msgs.msg import Classification  # noqa: F401
    HAVE_ROS = True
except ImportError as exc:  # pragma: no cover - depends on the machine
    HAVE_ROS = False
    ROS_MISSING = str(exc)

W, H = 1920, 1080
ENCODINGS = ("bgr8", "nv12", "jpeg", "hbmem")
SUBJECTS = ("ours", "ours_typed", "ours_nomalloc", "naive", "recv_typed", "recv_raw", "bare")
TOPICS = {"bgr8": "/bench/bgr8", "nv12": "/bench/nv12", "jpeg": "/bench/jpeg",
          "hbmem": "/bench/hbmem_img"}
PHOTO = ROOT / "test" / "data" / "photos" / "coffee.png"


def sensor_qos():
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def reliable_qos():
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                      reliability=ReliabilityPolicy.RELIABLE)


def msg_type(encoding: str):
    if encoding == "jpeg":
        from sensor_msgs.msg import CompressedImage
        return CompressedImage
    if encoding == "hbmem":
        from hbm_img_msgs.msg import HbmMsg1080P
        return HbmMsg1080P
    from sensor_msgs.msg import Image
    return Image


# --- the camera -----------------------------------------------------------------------------------
def frame_bgr():
    import cv2
    return cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_COLOR), (W, H),
                      interpolation=cv2.INTER_AREA)


def template(encoding: str) -> tuple[bytes, int]:
    """The serialized message and the offset of its stamp (sec, nanosec)."""
    import array

    import cv2
    import numpy as np
    from rclpy.serialization import serialize_message

    from bench_preprocess import naive_bgr_to_nv12

    bgr = frame_bgr()
    nv12 = naive_bgr_to_nv12(bgr)
    T = msg_type(encoding)
    if encoding == "hbmem":
        m = T()
        m.index, m.height, m.width, m.step = 0, H, W, W
        m.data_size = nv12.size
        enc = np.zeros(12, np.uint8)
        enc[:4] = np.frombuffer(b"nv12", np.uint8)
        m.encoding = enc
        data = np.zeros(T.MAX_SIZE if hasattr(T, "MAX_SIZE") else 6220800, np.uint8)
        data[:nv12.size] = nv12
        m.data = data
        return serialize_message(m), 8
    m = T()
    m.header.frame_id = "bench_cam"
    if encoding == "jpeg":
        ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        m.format = "jpeg"
        m.data = array.array("B", jpg.tobytes())
    else:
        m.height, m.width = H, W
        m.encoding = encoding
        m.step = W * 3 if encoding == "bgr8" else W
        m.data = array.array("B", (bgr.reshape(-1) if encoding == "bgr8" else nv12).tobytes())
    return serialize_message(m), 4


def role_camera(a) -> int:
    import rclpy
    from rclpy.node import Node

    raw, stamp_at = template(a.encoding)
    buf = bytearray(raw)
    rclpy.init()
    node = Node("bench_camera")
    pub = node.create_publisher(msg_type(a.encoding), a.topic or TOPICS[a.encoding],
                                sensor_qos())
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    end = time.monotonic() + (0 if a.lazy else 15)   # a lazy subject does not subscribe yet
    while pub.get_subscription_count() == 0 and time.monotonic() < end and not stop:
        time.sleep(0.05)
    period = 1.0 / a.hz if a.hz > 0 else 0.0
    n = 0
    c0, next_t = time.process_time(), time.monotonic()
    m0 = next_t
    while not stop:
        sec, nsec = divmod(time.time_ns(), 1_000_000_000)
        struct.pack_into("<iI", buf, stamp_at, sec, nsec)
        if a.encoding == "hbmem":
            struct.pack_into("<i", buf, 4, n)
        pub.publish(bytes(buf))
        n += 1
        if period:
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()
    seconds = time.monotonic() - m0
    print(json.dumps({"published": n, "published_hz": round(n / max(seconds, 1e-9), 2),
                      "cpu_ms_per_msg": round((time.process_time() - c0) / max(n, 1) * 1e3, 2),
                      "bytes": len(raw)}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# --- subjects -------------------------------------------------------------------------------------
def minflt() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Window:
    """Marks the measured window: warm-up after the first answer, then ``duration`` seconds."""

    def __init__(self, a) -> None:
        self.a = a
        self.first = None
        self.start = None
        self.end = None

    def update(self, answered: int, extra) -> bool:
        """Call often; True when the window is over."""
        now = time.monotonic()
        if self.first is None:
            if answered:
                self.first = now
            return False
        if self.start is None and now - self.first >= self.a.warmup:
            self.start = (now, time.time_ns(), time.process_time(), answered, minflt(), extra())
        elif self.start is not None and now - self.start[0] >= self.a.duration:
            self.end = (now, time.time_ns(), time.process_time(), answered, minflt(), extra())
            return True
        return False

    def report(self, **more) -> dict:
        if self.end is None:
            return {"error": "no complete window (no frames answered?)", **more}
        (m0, w0, c0, n0, f0, x0), (m1, w1, c1, n1, f1, x1) = self.start, self.end
        n = max(n1 - n0, 1)
        out = {"answered": n1 - n0, "seconds": round(m1 - m0, 2),
               "answered_hz": round((n1 - n0) / (m1 - m0), 2),
               "cpu_ms_per_frame": round((c1 - c0) / n * 1e3, 3),
               "cpu_core_share": round((c1 - c0) / (m1 - m0), 3),
               "minor_faults_per_frame": round((f1 - f0) / n),
               "window_wall_ns": [w0, w1]}
        for k in x1:
            out[k] = x1[k] - x0.get(k, 0)
        out.update(more)
        return out


def spin_window(node, a, answered, extra=lambda: {}) -> Window:
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor()
    ex.add_node(node)
    win = Window(a)
    deadline = time.monotonic() + a.warmup + a.duration + 30
    while time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.02)
        if win.update(answered(), extra):
            break
    ex.shutdown()
    return win


def role_ours(a) -> int:
    import rclpy
    from rclpy.parameter import Parameter

    from rdk_classifier.ros.camera import Camera
    from rdk_classifier.ros.node import ClassifierNode

    callback = {"s": 0.0, "n": 0}
    on_message = Camera.on_message

    def timed(cam, msg, serialized=False):  # the subscription callback of every camera
        t0 = time.perf_counter()
        on_message(cam, msg, serialized)
        callback["s"] += time.perf_counter() - t0
        callback["n"] += 1

    Camera.on_message = timed  # type: ignore[method-assign]  # before any subscription binds it

    kind = {"jpeg": "compressed_topics", "hbmem": "hbmem_topics"}.get(a.encoding, "image_topics")
    params = {"image_topics": [""], kind: [TOPICS[a.encoding]], "log_period": 0.0,
              "raw_subscriptions": a.subject != "ours_typed",
              "malloc_tuning": a.subject != "ours_nomalloc", "lazy": a.lazy}
    rclpy.init()
    node = ClassifierNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    print("READY", flush=True)
    topic = TOPICS[a.encoding]

    def answered():
        return node.counters()[topic]["published"]

    def extra():
        c = node.counters()[topic]
        return {"received": c["received"], "dropped": c["dropped"], "bad": c["bad_frames"],
                "cb_s": callback["s"], "cb_n": callback["n"]}

    if a.lazy:
        return lazy_idle(node, a, extra)
    win = spin_window(node, a, answered, extra)
    rep = win.report()
    if "cb_n" in rep:
        rep["callback_ms"] = round(rep.pop("cb_s") / max(rep.pop("cb_n"), 1) * 1e3, 3)
    print(json.dumps(rep), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def lazy_idle(node, a, extra) -> int:
    """Lazy mode: spin ``duration`` s with the camera publishing and nobody subscribed to the
    results; report the CPU share; then keep spinning until told to stop (the orchestrator
    subscribes and measures the delay to the first result)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor()
    ex.add_node(node)
    end = time.monotonic() + a.warmup
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.05)
    m0, c0, x0 = time.monotonic(), time.process_time(), extra()
    end = m0 + a.duration
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.05)
    m1, c1, x1 = time.monotonic(), time.process_time(), extra()
    print(json.dumps({"idle_cpu_core_share": round((c1 - c0) / (m1 - m0), 4),
                      "idle_received": x1["received"] - x0["received"],
                      "idle_seconds": round(m1 - m0, 2)}), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        ex.spin_once(timeout_sec=0.05)
    ex.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def role_naive(a) -> int:
    import cv2
    import numpy as np
    import rclpy
    from rclpy.node import Node
    from vision_msgs.msg import Classification, ObjectHypothesis

    from bench_preprocess import naive_bgr_to_nv12
    from rdk_classifier.classifier import Classifier

    clf = Classifier.from_model(backend="cpu")
    size = (clf.preprocessor.width, clf.preprocessor.height)

    class Naive(Node):
        def __init__(self):
            super().__init__("naive_classifier")
            self.n = 0
            self.cb_s = 0.0
            self.pub = self.create_publisher(Classification, TOPICS[a.encoding] + "/classification",
                                             reliable_qos())
            self.create_subscription(msg_type(a.encoding), TOPICS[a.encoding], self.on_frame,
                                     sensor_qos())

        def on_frame(self, msg):
            t0 = time.perf_counter()
            if a.encoding == "jpeg":
                bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
            elif a.encoding == "bgr8":
                bgr = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
            else:
                data = np.frombuffer(msg.data, np.uint8)
                if a.encoding == "hbmem":
                    data = data[:msg.data_size]
                bgr = cv2.cvtColor(data.reshape(msg.height * 3 // 2, msg.width),
                                   cv2.COLOR_YUV2BGR_NV12)
            nv12 = naive_bgr_to_nv12(cv2.resize(bgr, size))
            result = clf.classify_nv12(nv12)
            out = Classification()
            if a.encoding == "hbmem":
                out.header.stamp = msg.time_stamp
            else:
                out.header = msg.header
            out.results = [ObjectHypothesis(class_id=str(p.class_id), score=float(p.score))
                           for p in result.top]
            self.pub.publish(out)
            self.n += 1
            self.cb_s += time.perf_counter() - t0

    rclpy.init()
    node = Naive()
    print("READY", flush=True)
    win = spin_window(node, a, lambda: node.n, lambda: {"cb_s": node.cb_s})
    rep = win.report()
    if "cb_s" in rep:
        rep["callback_ms"] = round(rep.pop("cb_s") / max(rep["answered"], 1) * 1e3, 3)
    print(json.dumps(rep), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def role_recv(a) -> int:
    import rclpy
    from rclpy.node import Node

    raw = a.subject == "recv_raw"
    topics = a.topic.split(",") if a.topic else [TOPICS[a.encoding]]

    class Recv(Node):
        def __init__(self):
            super().__init__("bench_receiver")
            self.n = 0
            for topic in topics:
                self.create_subscription(msg_type(a.encoding), topic, self.on_msg, sensor_qos(),
                                         raw=raw)

        def on_msg(self, msg):
            self.n += 1

    if a.malloc_tuning:
        from rdk_classifier.ros.malloc_tuning import tune_malloc
        tune_malloc()
    rclpy.init()
    node = Recv()
    print("READY", flush=True)
    rep = spin_window(node, a, lambda: node.n).report()
    status = proc_status_mb(os.getpid())
    rep.update(peak_rss_mb=status.get("VmHWM"), rss_by_mapping_mb=rss_by_mapping_mb(os.getpid()))
    print(json.dumps(rep), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def role_bare(a) -> int:
    """The same model's inference on a prepared 224x224 NV12, in a loop, no ROS."""
    from rdk_classifier.classifier import Classifier

    clf = Classifier.from_model(backend="cpu")
    nv12 = clf.preprocessor.from_raw(frame_bgr(), W, H, "bgr8")
    print("READY", flush=True)
    for _ in range(10):
        clf.classify_nv12(nv12)
    end = time.monotonic() + a.duration
    m0, c0, n = time.monotonic(), time.process_time(), 0
    while time.monotonic() < end:
        clf.classify_nv12(nv12)
        n += 1
    m1, c1 = time.monotonic(), time.process_time()
    print(json.dumps({"answered": n, "answered_hz": round(n / (m1 - m0), 2),
                      "cpu_ms_per_frame": round((c1 - c0) / n * 1e3, 3),
                      "cpu_core_share": round((c1 - c0) / (m1 - m0), 3)}), flush=True)
    return 0


def node_arguments(encoding: str, topics: list[str], params: list[str]) -> list[str]:
    """classifier_node's command line for ``topics`` of ``encoding`` (plus ``params``, k:=v)."""
    kind = {"jpeg": "compressed_topics", "hbmem": "hbmem_topics"}.get(encoding, "image_topics")
    args = ["--ros-args", "-p", f"{kind}:=[{', '.join(topics)}]"]
    if kind != "image_topics":
        args += ["-p", "image_topics:=['']"]
    for p in params:
        args += ["-p", p]
    return args


def role_node(a) -> int:
    """classifier_node as shipped (its ``main``: parameters from the command line, its own
    executor, Ctrl-C to stop), with the model loads of the process counted; prints them at exit."""
    from bench_cameras import count_model_loads

    loads = count_model_loads()
    from rdk_classifier.ros import node as node_module

    rc = node_module.main(node_arguments(a.encoding, a.topic.split(","), a.node_param or []))
    print(json.dumps({"model_loads": loads[0], "exit": rc}), flush=True)
    return 0


# --- the orchestrator -----------------------------------------------------------------------------
class Listener:
    """Results of the subject per input topic, with receive time - input stamp; with
    ``diagnostics`` also the last /diagnostics status of each input topic (its key/values)."""

    def __init__(self, inputs: list[str], diagnostics: bool = False) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from vision_msgs.msg import Classification

        if not rclpy.ok():
            rclpy.init()
        self.node = Node("bench_listener")
        # per input topic: (stamp ns, receive ns, top-1)
        self.rows: dict[str, list[tuple[int, int, str]]] = {t: [] for t in inputs}
        self.subs = {t: self.node.create_subscription(
            Classification, t + "/classification",
            lambda msg, rows=self.rows[t]: self.on_result(rows, msg), reliable_qos())
            for t in inputs}
        self.diagnostics: dict[str, dict[str, str]] = {}
        if diagnostics:
            from diagnostic_msgs.msg import DiagnosticArray
            self.node.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics,
                                          reliable_qos())
        self.ex = SingleThreadedExecutor()
        self.ex.add_node(self.node)

    @staticmethod
    def on_result(rows: list, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        rows.append((stamp, now, msg.results[0].class_id if msg.results else ""))

    def on_diagnostics(self, msg) -> None:
        for st in msg.status:
            for topic in self.rows:
                if st.name.endswith(": " + topic):   # "<node name>: <input topic>"
                    self.diagnostics[topic] = {kv.key: kv.value for kv in st.values}

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=min(0.02, max(0.0, end - time.monotonic())))

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()


def child(role: str, a, **over) -> subprocess.Popen:
    args = [sys.executable, __file__, "--role", role, "--encoding", over.get("encoding", ""),
            "--hz", str(over.get("hz", a.hz)), "--warmup", str(a.warmup),
            "--duration", str(a.duration), "--subject", over.get("subject", ""),
            "--topic", over.get("topic", "")]
    if over.get("lazy"):
        args.append("--lazy")
    args += over.get("extra", [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=over.get("stderr"), text=True)


def wait_ready(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if line.strip() == "READY":
            return
        if not line and proc.poll() is not None:
            raise RuntimeError("subject exited before it was ready")
    raise RuntimeError("subject not ready in time")


def last_json(proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": f"no report (exit {proc.returncode})"}


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


def run_one(a, encoding: str, subject: str, hz: float, listener: "Listener | None") -> dict:
    if subject == "bare":
        proc = child("bare", a, encoding=encoding, subject=subject)
        wait_ready(proc)
        return last_json(proc, a.duration + 60)
    proc = child("subject", a, encoding=encoding, subject=subject, hz=hz)
    wait_ready(proc)
    cam = child("camera", a, encoding=encoding, hz=hz)
    rows = listener.rows[TOPICS[encoding]] if listener is not None else []
    rows.clear()
    while proc.poll() is None:
        if listener is not None:
            listener.spin(0.2)
        else:
            time.sleep(0.2)
    rep = last_json(proc)
    cam.send_signal(signal.SIGTERM)
    rep["camera"] = last_json(cam)
    if listener is not None and "window_wall_ns" in rep:
        w0, w1 = rep["window_wall_ns"]
        lat = [(r - s) / 1e6 for s, r, _ in rows if w0 <= r <= w1]
        rep["latency_ms_p50"] = round(percentile(lat, 50), 2) if lat else None
        rep["latency_ms_p99"] = round(percentile(lat, 99), 2) if lat else None
        tops = sorted({t for _, _, t in rows})
        rep["top1"] = tops
    rep.pop("window_wall_ns", None)
    return rep


def proc_status_mb(pid: int) -> dict:
    """VmRSS / VmHWM (peak) of a process in MB, from /proc/<pid>/status (Linux)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def rss_by_mapping_mb(pid: int, top: int = 8) -> dict:
    """Where a process's RSS is, from /proc/<pid>/smaps: MB per mapping name (anonymous mappings
    together as "[anon]", files by base name), the ``top`` largest."""
    sums: dict[str, int] = {}
    name = "[anon]"
    try:
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            head = line.split()
            if not head:
                continue
            if not head[0].endswith(":"):      # a mapping line: address perms offset dev inode [path]
                name = os.path.basename(head[5]) if len(head) > 5 else "[anon]"
            elif head[0] == "Rss:":
                sums[name] = sums.get(name, 0) + int(head[1])
    except (OSError, ValueError, IndexError):
        return {}
    biggest = sorted(sums.items(), key=lambda kv: -kv[1])[:top]
    return {k: round(v / 1024, 1) for k, v in biggest}


def run_cameras(a, encoding: str, n: int) -> dict:
    """classifier_node (its own process, as shipped) on ``n`` camera topics, each fed at ``a.hz``
    by a camera process of its own; measured from outside: results per camera (answered rate,
    receive time - input stamp), the node's /diagnostics per camera, its RSS and model loads."""
    import tempfile

    inputs = [f"/bench/cam{k}/{encoding}" for k in range(n)]
    listener = Listener(inputs, diagnostics=True)
    log = tempfile.TemporaryFile("w+")
    extra = [f"--node-param={p}" for p in a.node_param or []]
    node = child("node", a, encoding=encoding, topic=",".join(inputs), stderr=log, extra=extra)
    cams: list[subprocess.Popen] = []
    rep: dict = {"cameras": n, "encoding": encoding, "load_before": round(os.getloadavg()[0], 2)}
    try:
        def wait_for(what: str, done, timeout: float) -> None:
            end = time.monotonic() + timeout
            while not done():
                if node.poll() is not None:
                    raise RuntimeError(f"classifier_node exited ({node.returncode}) before {what}")
                if time.monotonic() > end:
                    raise RuntimeError(f"timed out waiting for {what}")
                listener.spin(0.1)

        wait_for("its result publishers", lambda: all(
            listener.node.count_publishers(t + "/classification") for t in inputs), 120)
        cams = [child("camera", a, encoding=encoding, topic=t) for t in inputs]
        wait_for("a result on every camera", lambda: all(listener.rows.values()), 120)
        listener.spin(a.warmup)
        w0, m0 = time.time_ns(), time.monotonic()
        rss = []
        while time.monotonic() - m0 < a.duration:
            listener.spin(min(0.5, a.duration - (time.monotonic() - m0)))
            rss.append(proc_status_mb(node.pid).get("VmRSS"))
        w1, seconds = time.time_ns(), time.monotonic() - m0
        status = proc_status_mb(node.pid)       # just before it is stopped
        rep["rss_by_mapping_mb"] = rss_by_mapping_mb(node.pid)
        diagnostics = dict(listener.diagnostics)
        rep["load_after"] = round(os.getloadavg()[0], 2)
    finally:
        for c in cams:
            c.send_signal(signal.SIGTERM)
        node.send_signal(signal.SIGINT)
        try:
            node_rep = last_json(node, 60)
        except subprocess.TimeoutExpired:
            node.kill()
            node_rep = {"error": "classifier_node did not stop in 60 s"}
        cam_reps = [last_json(c) for c in cams]
        listener.close()
    log.seek(0)
    text = log.read()
    steady = [v for v in rss if v is not None]
    rep.update({
        "seconds": round(seconds, 2),
        "peak_rss_mb": status.get("VmHWM"), "rss_at_stop_mb": status.get("VmRSS"),
        "steady_rss_mb": statistics.median(steady) if steady else None,
        "model_loads": node_rep.get("model_loads"),
        "startup_log_lines": text.count("classifying with "),
        "threads_line": next((ln.split("classifying with ", 1)[1].split(":")[0]
                              for ln in text.splitlines() if "classifying with " in ln), None),
        "node_exit": node_rep.get("exit", node_rep.get("error")),
        "per_camera": {}})
    for topic, cam in zip(inputs, cam_reps):
        rows = [(s, r, t) for s, r, t in listener.rows[topic] if w0 <= r <= w1]
        ages = [(r - s) / 1e6 for s, r, _ in rows]
        d = diagnostics.get(topic, {})
        rep["per_camera"][topic] = {
            "published": cam.get("published"), "published_hz": cam.get("published_hz"),
            "answered": len(rows), "answered_hz": round(len(rows) / seconds, 2),
            "age_ms_p50": round(percentile(ages, 50), 1) if ages else None,
            "age_ms_p99": round(percentile(ages, 99), 1) if ages else None,
            "top1": sorted({t for _, _, t in rows}),
            "diagnostics": {k: d.get(k) for k in (
                "input rate (Hz)", "output rate (Hz)", "frames received", "results published",
                "frames dropped (stale)", "result age p50 (ms)", "result age p99 (ms)")}}
    rates = [c["answered_hz"] for c in rep["per_camera"].values()]
    mean = statistics.mean(rates) if rates else 0.0
    rep["answered_hz_total"] = round(sum(rates), 2)
    rep["answered_spread"] = round((max(rates) - min(rates)) / mean, 4) if mean else None
    return rep


def run_receiver(a, encoding: str, n: int) -> dict:
    """The middleware's share of N cameras: a process with only raw subscriptions to the N camera
    topics (malloc tuned like the node), no model; its peak RSS at the end of the window."""
    inputs = [f"/bench/cam{k}/{encoding}" for k in range(n)]
    proc = child("subject", a, encoding=encoding, subject="recv_raw", topic=",".join(inputs),
                 extra=["--malloc-tuning"])
    wait_ready(proc)
    cams = [child("camera", a, encoding=encoding, topic=t) for t in inputs]
    load = round(os.getloadavg()[0], 2)
    try:
        rep = last_json(proc, a.warmup + a.duration + 90)
    finally:
        for c in cams:
            c.send_signal(signal.SIGTERM)
    published = [last_json(c).get("published_hz") for c in cams]
    rep.pop("window_wall_ns", None)
    return {"cameras": n, "encoding": encoding, "subject": "receiver only", "load_before": load,
            "model_loads": 0, **rep, "published_hz": published}


def summarize_cameras(runs: list[dict]) -> dict:
    """Per encoding and camera count: medians over rounds; RSS ratios against 1 camera."""
    out: dict = {}
    for enc in sorted({r["encoding"] for r in runs}):
        row: dict = {}
        for n in sorted({r["cameras"] for r in runs if r["encoding"] == enc}):
            rs = [r for r in runs if (r["encoding"], r["cameras"]) == (enc, n) and "error" not in r]

            def med(key, rs=rs):
                vals = [r[key] for r in rs if r.get(key) is not None]
                return statistics.median(vals) if vals else None
            row[n] = {"rounds": len(rs), "model_loads": sorted({r["model_loads"] for r in rs}),
                      "peak_rss_mb": med("peak_rss_mb"), "steady_rss_mb": med("steady_rss_mb"),
                      "answered_hz_total": med("answered_hz_total"),
                      "answered_spread": [r.get("answered_spread") for r in rs]}
        one = row.get(1)
        for n, cell in row.items():
            if one and n != 1 and one["peak_rss_mb"] and cell["peak_rss_mb"]:
                cell["peak_rss_vs_1"] = round(cell["peak_rss_mb"] / one["peak_rss_mb"], 3)
                if one["steady_rss_mb"] and cell["steady_rss_mb"]:
                    cell["steady_rss_vs_1"] = round(cell["steady_rss_mb"] / one["steady_rss_mb"],
                                                    3)
        out[enc] = row
    return out


def rclpy_version() -> str:
    """The installed rclpy's version (its package.xml), '?' where it cannot be found."""
    try:
        import re

        from ament_index_python.packages import get_package_share_directory
        xml = (Path(get_package_share_directory("rclpy")) / "package.xml").read_text()
        found = re.search(r"<version>([^<]+)</version>", xml)
        return found.group(1) if found else "?"
    except Exception:  # noqa: BLE001 - only a label for the report
        return "?"


def run_lazy(a) -> dict:
    """Lazy mode at 30 Hz nv12: idle CPU share with no result subscriber, then the delay from a
    new subscriber to its first result."""
    proc = child("subject", a, encoding="nv12", subject="ours", hz=30.0, lazy=True)
    wait_ready(proc)
    cam = child("camera", a, encoding="nv12", hz=30.0, lazy=True)
    line = ""
    while not line.startswith("{"):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    idle = json.loads(line) if line.startswith("{") else {"error": "no idle report"}
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from vision_msgs.msg import Classification

    if not rclpy.ok():
        rclpy.init()
    node = Node("bench_lazy_listener")
    got = []
    t0 = time.monotonic()
    node.create_subscription(Classification, TOPICS["nv12"] + "/classification",
                             lambda m: got.append(time.monotonic()), reliable_qos())
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    end = t0 + 10
    while not got and time.monotonic() < end:
        ex.spin_once(timeout_sec=0.005)
    first_ms = round((got[0] - t0) * 1e3, 1) if got else None
    ex.shutdown()
    node.destroy_node()
    proc.send_signal(signal.SIGTERM)
    cam.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    camrep = last_json(cam)
    return {**idle, "first_result_ms_after_subscribe": first_ms, "camera": camrep}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--role", default="", help=argparse.SUPPRESS)
    ap.add_argument("--subject", default="", help=argparse.SUPPRESS)
    ap.add_argument("--encoding", default="", help=argparse.SUPPRESS)
    ap.add_argument("--lazy", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--topic", default="", help=argparse.SUPPRESS)
    ap.add_argument("--encodings", default=None,
                    help=f"default {','.join(ENCODINGS)}; nv12 with --cameras")
    ap.add_argument("--cameras", default="",
                    help="one node for many cameras (issue 24): the camera counts to run, e.g. "
                         "1,4: classifier_node as shipped in its own process, one camera process "
                         "per topic at --hz")
    ap.add_argument("--receiver-only", action="store_true",
                    help="with --cameras: instead of the node, a process that only subscribes "
                         "(raw) to the camera topics: the middleware's part of the RSS")
    ap.add_argument("--malloc-tuning", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--node-param", action="append",
                    help="with --cameras: a classifier_node parameter NAME:=VALUE (repeatable)")
    ap.add_argument("--subjects", default=",".join(SUBJECTS))
    ap.add_argument("--rates", default="30,max", help="camera rates: Hz values and/or max")
    ap.add_argument("--max-subjects", default="ours,naive,bare",
                    help="subjects also run with frames as fast as possible")
    ap.add_argument("--hz", type=float, default=30.0,
                    help="with --cameras: frames per second of each camera")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--lazy-only", action="store_true")
    ap.add_argument("--json", help="write every number here too")
    a = ap.parse_args()
    if not HAVE_ROS:
        print(f"bench_node_ros: skipped: needs a sourced ROS 2 (rclpy, sensor_msgs, vision_msgs "
              f"importable): {ROS_MISSING}")
        return 0
    os.environ.setdefault("ROS_DOMAIN_ID", "58")   # away from other benches on domain 0
    if a.role == "camera":
        return role_camera(a)
    if a.role == "bare":
        return role_bare(a)
    if a.role == "node":
        return role_node(a)
    if a.role == "subject":
        if a.subject.startswith("ours"):
            return role_ours(a)
        if a.subject == "naive":
            return role_naive(a)
        return role_recv(a)

    if a.encodings is None:
        a.encodings = "nv12" if a.cameras else ",".join(ENCODINGS)
    encodings = [e for e in a.encodings.split(",") if e]
    if "hbmem" in encodings:
        try:
            import hbm_img_msgs.msg  # noqa: F401
        except ImportError:
            print("hbm_img_msgs is not installed: the hbmem rows are skipped")
            encodings.remove("hbmem")
    from rdk_classifier.benchmark import machine_info

    machine = {"cpu": machine_info()["cpu"], "cores": os.cpu_count(),
               "python": platform.python_version(),
               "rmw": os.environ.get("RMW_IMPLEMENTATION", "default"),
               "ros_distro": os.environ.get("ROS_DISTRO", "?"), "rclpy": rclpy_version()}
    print(json.dumps({"machine": machine}), flush=True)
    results: dict = {"machine": machine, "runs": []}
    if a.cameras:
        counts = [int(c) for c in a.cameras.split(",") if c]
        runs = results["cameras"] = []
        for rnd in range(a.rounds):
            for enc in encodings:
                for n in (counts if rnd % 2 == 0 else counts[::-1]):
                    try:
                        rep = (run_receiver if a.receiver_only else run_cameras)(a, enc, n)
                    except RuntimeError as exc:
                        rep = {"cameras": n, "encoding": enc, "error": str(exc)}
                    rep["round"] = rnd
                    runs.append(rep)
                    print(json.dumps(rep), flush=True)
        results["cameras_summary"] = summarize_cameras(runs)
        print(json.dumps({"cameras_summary": results["cameras_summary"]}, indent=1), flush=True)
    elif a.lazy_only:
        rep = run_lazy(a)
        print(json.dumps({"lazy": rep}), flush=True)
        results["lazy"] = rep
    else:
        listener = Listener([TOPICS[encodings[0]]]) if encodings else None
        rates = [r for r in a.rates.split(",") if r]
        for rnd in range(a.rounds):
            for enc in encodings:
                if listener is not None:
                    listener.close()
                listener = Listener([TOPICS[enc]])
                for rate in rates:
                    hz = 0.0 if rate == "max" else float(rate)
                    subjects = [s for s in a.subjects.split(",") if s]
                    if rate == "max":
                        subjects = [s for s in subjects if s in a.max_subjects.split(",")]
                    if rnd % 2:
                        subjects.reverse()   # alternate the order between rounds
                    for subject in subjects:
                        load = os.getloadavg()[0]
                        rep = run_one(a, enc, subject, hz, listener)
                        row = {"round": rnd, "encoding": enc, "rate": rate, "subject": subject,
                               "load_before": round(load, 2), **rep}
                        results["runs"].append(row)
                        print(json.dumps(row), flush=True)
        if listener is not None:
            listener.close()
        results["summary"] = summarize(results["runs"])
        print(json.dumps({"summary": results["summary"]}, indent=1), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


def summarize(runs: list[dict]) -> dict:
    """Medians over rounds, then the ratios the issue asks for."""
    def med(enc, rate, subject, key):
        vals = [r[key] for r in runs if (r["encoding"], r["rate"], r["subject"]) == (enc, rate,
                                                                                    subject)
                and r.get(key) is not None]
        return statistics.median(vals) if vals else None

    out = {}
    for enc in sorted({r["encoding"] for r in runs}):
        row = {}
        for rate in sorted({r["rate"] for r in runs if r["encoding"] == enc}):
            cells = {}
            for subject in SUBJECTS:
                v = med(enc, rate, subject, "cpu_ms_per_frame")
                if v is not None:
                    cells[subject] = {"cpu_ms_per_frame": v,
                                      "answered_hz": med(enc, rate, subject, "answered_hz"),
                                      "callback_ms": med(enc, rate, subject, "callback_ms"),
                                      "latency_ms_p50": med(enc, rate, subject, "latency_ms_p50"),
                                      "latency_ms_p99": med(enc, rate, subject, "latency_ms_p99")}
            bare = med(enc, "30", "bare", "cpu_ms_per_frame") or med(enc, rate, "bare",
                                                                    "cpu_ms_per_frame")
            if bare is not None:
                for c in cells.values():
                    c["outside_inference_ms"] = round(c["cpu_ms_per_frame"] - bare, 3)
            ratios = {}
            if "ours" in cells and "naive" in cells:
                ratios["ours/naive cpu"] = round(cells["ours"]["cpu_ms_per_frame"]
                                                 / cells["naive"]["cpu_ms_per_frame"], 3)
            if "ours" in cells and "ours_typed" in cells:
                ratios["raw/typed cpu"] = round(cells["ours"]["cpu_ms_per_frame"]
                                                / cells["ours_typed"]["cpu_ms_per_frame"], 3)
            if "ours" in cells and "ours_nomalloc" in cells:
                ratios["malloc tuned/untuned cpu"] = round(
                    cells["ours"]["cpu_ms_per_frame"] / cells["ours_nomalloc"]["cpu_ms_per_frame"],
                    3)
            if "ours" in cells and "recv_raw" in cells and bare is not None:
                ratios["ours - (recv_raw + bare) ms"] = round(
                    cells["ours"]["cpu_ms_per_frame"] - cells["recv_raw"]["cpu_ms_per_frame"]
                    - bare, 3)
            if rate == "max" and "ours" in cells:
                bare_hz = med(enc, "30", "bare", "answered_hz") or med(enc, rate, "bare",
                                                                       "answered_hz")
                if bare_hz:
                    ratios["ours answered / bare inference loop"] = round(
                        cells["ours"]["answered_hz"] / bare_hz, 3)
            row[rate] = {"subjects": cells, "ratios": ratios}
        out[enc] = row
    return out


if __name__ == "__main__":
    sys.exit(main())
