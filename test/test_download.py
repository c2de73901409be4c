"""``zoo fetch`` / ``fetch_model`` against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import http.server
import os
import socket
import threading

import numpy as np
import pytest

from rdk_classifier import zoo
from rdk_classifier.download import fetch_model
from rdk_classifier.errors import DownloadError

MODEL = "ResNet18"
FILE = "resnet18_224x224_nv12.bin"
CONTENT = np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes()


class MirrorServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` with Range support; ``mode`` makes it misbehave on purpose."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.files = {f"/{FILE}": CONTENT}
        self.mode = "ok"  # ok | ignore_range | cut | short_total
        self.cut_at = len(CONTENT) // 2
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        server: MirrorServer = self.server  # type: ignore[assignment]
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        total = len(body)
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and server.mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= total:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{total}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        if status == 206:
            announced = total + 1000 if server.mode == "short_total" else total
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{announced}")
        self.send_header("Connection", "close")
        self.end_headers()
        if server.mode == "cut":  # announce everything, send part, hang up
            self.wfile.write(payload[: max(0, server.cut_at - start)])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


@pytest.fixture
def server():
    srv = MirrorServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def isolated_dirs(monkeypatch, tmp_path_factory):
    env = tmp_path_factory.mktemp("env")
    system = env / "hobot"
    cache = env / "cache"
    system.mkdir()
    monkeypatch.setenv(zoo.SYSTEM_MODEL_DIR_ENV, str(system))
    monkeypatch.setenv(zoo.CACHE_DIR_ENV, str(cache))
    monkeypatch.delenv(zoo.BASE_URL_ENV, raising=False)
    return system, cache


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/"


def files_in(d):
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# ----------------------------------------------------------------------------- downloads

def test_full_download(server, tmp_path):
    dest = tmp_path / "dl"
    path = fetch_model(MODEL, dest=dest, base_url=server.url, progress=False)
    assert path == dest / FILE and path.read_bytes() == CONTENT
    assert files_in(dest) == [FILE]
    assert server.requests == [{"path": f"/{FILE}", "range": None}]


def test_default_destination_is_the_cache(server, isolated_dirs):
    _, cache = isolated_dirs
    path = fetch_model(MODEL, base_url=server.url, progress=False)
    assert path == cache / FILE and path.read_bytes() == CONTENT


def test_existing_file_is_not_downloaded_again(server, tmp_path):
    fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert len(server.requests) == 1


def test_resume_from_a_part_file(server, tmp_path):
    (tmp_path / (FILE + ".part")).write_bytes(CONTENT[:100_000])
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT
    assert server.requests[-1]["range"] == "bytes=100000-"
    assert files_in(tmp_path) == [FILE]


def test_resume_when_the_server_ignores_ranges(server, tmp_path):
    server.mode = "ignore_range"
    (tmp_path / (FILE + ".part")).write_bytes(b"\0" * 5000)  # would corrupt if appended to
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT


def test_complete_part_file_is_finished_on_416(server, tmp_path):
    (tmp_path / (FILE + ".part")).write_bytes(CONTENT)
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT and files_in(tmp_path) == [FILE]


def test_oversized_part_file_is_dropped(server, tmp_path):
    (tmp_path / (FILE + ".part")).write_bytes(CONTENT + b"junk")
    with pytest.raises(DownloadError, match="deleted"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert files_in(tmp_path) == []
    assert fetch_model(MODEL, dest=tmp_path, base_url=server.url,
                       progress=False).read_bytes() == CONTENT


def test_interrupted_transfer_leaves_only_the_part_then_resumes(server, tmp_path):
    server.mode = "cut"
    with pytest.raises(DownloadError) as err:
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert "resume" in str(err.value)
    assert files_in(tmp_path) == [FILE + ".part"]  # never a file under the final name
    part = (tmp_path / (FILE + ".part")).read_bytes()
    assert 0 < len(part) < len(CONTENT) and CONTENT.startswith(part)

    server.mode = "ok"
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT
    assert server.requests[-1]["range"] == f"bytes={len(part)}-"
    assert files_in(tmp_path) == [FILE]


def test_size_mismatch_is_an_error(server, tmp_path):
    server.mode = "short_total"  # Content-Range announces more than the file has
    (tmp_path / (FILE + ".part")).write_bytes(CONTENT[:1000])
    with pytest.raises(DownloadError, match=f"of {len(CONTENT) + 1000} bytes"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / FILE).exists()


def test_offline_is_a_clear_error(tmp_path):
    with pytest.raises(DownloadError) as err:
        fetch_model(MODEL, dest=tmp_path, base_url=closed_port_url(), progress=False)
    message = str(err.value)
    assert "cannot reach" in message and "--base-url" in message
    assert zoo.BASE_URL_ENV in message
    assert files_in(tmp_path) == []


def test_unresponsive_server_times_out(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts the connection in the backlog, never answers
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        with pytest.raises(DownloadError):
            fetch_model(MODEL, dest=tmp_path, base_url=url, progress=False, timeout=0.5)
    finally:
        sock.close()
    assert not (tmp_path / FILE).exists()


def test_http_404(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        fetch_model("RepGhost_200", dest=tmp_path, base_url=server.url, progress=False)
    assert files_in(tmp_path) == []


# ----------------------------------------------------------------------------- sources

def test_preinstalled_file_wins(server, isolated_dirs, tmp_path):
    system, _ = isolated_dirs
    (system / FILE).write_bytes(b"preinstalled")
    assert fetch_model(MODEL, dest=tmp_path, base_url=server.url) == system / FILE
    other = tmp_path / "other_hobot"
    other.mkdir()
    (other / FILE).write_bytes(b"x")
    assert fetch_model(MODEL, dest=tmp_path, base_url=server.url, system_dir=other) == other / FILE
    assert server.requests == []


def test_base_url_from_the_environment(server, monkeypatch, tmp_path):
    monkeypatch.setenv(zoo.BASE_URL_ENV, server.url.rstrip("/"))
    assert fetch_model(MODEL, dest=tmp_path, progress=False).read_bytes() == CONTENT
    # an explicit base_url beats the environment
    server.files["/mobilenetv2_224x224_nv12.bin"] = b"v2" * 1000
    monkeypatch.setenv(zoo.BASE_URL_ENV, closed_port_url())
    with pytest.raises(DownloadError, match="cannot reach"):
        fetch_model("Mobilenetv2", dest=tmp_path, progress=False)
    path = fetch_model("Mobilenetv2", dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == b"v2" * 1000


def test_cpu_models_are_packaged_not_downloaded(monkeypatch, tmp_path):
    (tmp_path / "efficientnet_lite0_int8.onnx").write_bytes(b"x")
    monkeypatch.setattr(zoo, "PACKAGED_MODEL_DIR", tmp_path)
    assert fetch_model(zoo.DEFAULT_MODEL) == tmp_path / "efficientnet_lite0_int8.onnx"


def test_fetch_accepts_a_model_info(server, tmp_path):
    info = zoo.get_model("resnet18")
    assert fetch_model(info, dest=tmp_path, base_url=server.url, progress=False).name == FILE


def test_fetched_model_then_resolves(server, isolated_dirs):
    fetch_model(MODEL, base_url=server.url, progress=False)
    r = zoo.resolve_model(MODEL, runtime="bpu")
    assert r.path == isolated_dirs[1] / FILE


# ----------------------------------------------------------------------------- CLI

def test_cli_fetch(server, tmp_path, capsys):
    from rdk_classifier.cli import main

    code = main(["zoo", "fetch", "resnet18", "--dest", str(tmp_path), "--base-url", server.url,
                 "--no-progress"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.strip() == str(tmp_path / FILE)
    assert (tmp_path / FILE).read_bytes() == CONTENT


def test_cli_fetch_offline(tmp_path, capsys):
    from rdk_classifier.cli import main

    code = main(["zoo", "fetch", "ResNet18", "--dest", str(tmp_path), "--base-url",
                 closed_port_url(), "--no-progress"])
    _, err = capsys.readouterr()
    assert code != 0 and "--base-url" in err
    assert os.listdir(tmp_path) == []


def test_cli_fetch_unknown_model(capsys):
    from rdk_classifier.cli import main

    assert main(["zoo", "fetch", "resnet181"]) != 0
    assert "ResNet18" in capsys.readouterr().err


def test_a_model_in_a_zoo_sub_folder_is_fetched_from_it(server, tmp_path):
    info = zoo.get_model("YOLO26n_cls")
    server.files[f"/{info.url_path}"] = CONTENT
    path = fetch_model(info, dest=tmp_path, base_url=server.url, progress=False)
    assert path == tmp_path / info.bin_file and path.read_bytes() == CONTENT
    assert server.requests[-1]["path"] == "/Ultralytics_YOLO_OE_1.2.8/" + info.bin_file


def test_a_model_the_zoo_does_not_publish_is_not_downloaded(server, tmp_path):
    with pytest.raises(DownloadError, match="publishes no download"):
        fetch_model("EfficientNet_Lite0", dest=tmp_path, base_url=server.url, progress=False)
    assert server.requests == []
