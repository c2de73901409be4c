"""``zoo fetch`` / ``fetch_model`` against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import sys
import threading
import time

import numpy as np
import pytest

from rdk_classifier import zoo
from rdk_classifier.download import fetch_model
from rdk_classifier.errors import DownloadError

MODEL = "ResNet18"
FILE = "resnet18_224x224_nv12.bin"
CONTENT = np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
#: leading zeros past Python's 4300-digit limit of int(str) (ValueError), within a header line
LONG_ZEROS = "0" * 5000


class MirrorServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` with Range / If-Range support and an ETag; ``mode`` makes it misbehave."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.files = {f"/{FILE}": CONTENT}
        # ok | ignore_range | cut | short_total | html | empty | no_length | drip | redirect_ftp
        # | huge
        self.mode = "ok"
        self.validator = True  # send an ETag
        self.cut_at = len(CONTENT) // 2
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request, client_address) -> None:
        # a client that gave up (the stall and deadline tests) leaves the handler writing into
        # a closed socket; that is the expected end of those requests, not a server fault
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        server: MirrorServer = self.server  # type: ignore[assignment]
        server.requests.append({"path": self.path, "range": self.headers.get("Range"),
                                "if_range": self.headers.get("If-Range")})
        if server.mode == "redirect_loop":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if server.mode == "stall":  # headers, then silence longer than any test waits
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(CONTENT)))
            self.end_headers()
            self.wfile.write(CONTENT[:1000])
            self.wfile.flush()
            time.sleep(8)
            return
        if server.mode == "redirect_ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/evil.bin")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if server.mode in ("html", "empty"):
            body = b"<!DOCTYPE html><html><body>Sign in to the hotel Wi-Fi</body></html>" \
                if server.mode == "html" else b""
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if server.mode == "html" else
                             "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        total = len(body)
        etag = etag_of(body)
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and server.mode != "ignore_range" and (if_range is None or if_range == etag):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= total:
                self.send_response(416)
                zeros = LONG_ZEROS if server.mode == "long_numbers" else ""
                self.send_header("Content-Range", f"bytes */{zeros}{total}")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        if server.mode == "gzip":
            import gzip

            payload = gzip.compress(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if server.mode == "gzip":
            self.send_header("Content-Encoding", "gzip")
        if server.validator:
            self.send_header("ETag", etag)
        if server.mode == "huge":
            self.send_header("Content-Length", str(1 << 40))
        elif server.mode == "long_numbers" and status == 200:
            self.send_header("Content-Length", LONG_ZEROS + str(len(payload)))
        elif server.mode == "superscript_length":  # "\xb2" is '²' in latin-1: isdigit(), not int()
            self.send_header("Content-Length", "\xb2")
        elif server.mode != "no_length":
            self.send_header("Content-Length", str(len(payload)))
        if status == 206:
            announced = total + 1000 if server.mode == "short_total" else total
            zeros = LONG_ZEROS if server.mode == "long_numbers" else ""
            self.send_header("Content-Range", f"bytes {zeros}{start}-{total - 1}/{announced}")
        self.send_header("Connection", "close")
        self.end_headers()
        if server.mode == "cut":  # announce everything, send part, hang up
            self.wfile.write(payload[: max(0, server.cut_at - start)])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if server.mode == "drip":  # a byte every 50 ms: never silent long enough to time out
            for b in payload[:200]:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.05)
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
    """The visible files of a folder (the lock and resume records are hidden dot files)."""
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


# ----------------------------------------------------------------------------- downloads

def test_full_download(server, tmp_path):
    dest = tmp_path / "dl"
    path = fetch_model(MODEL, dest=dest, base_url=server.url, progress=False)
    assert path == dest / FILE and path.read_bytes() == CONTENT
    assert files_in(dest) == [FILE]
    assert server.requests == [{"path": f"/{FILE}", "range": None, "if_range": None}]


def test_default_destination_is_the_cache(server, isolated_dirs):
    _, cache = isolated_dirs
    path = fetch_model(MODEL, base_url=server.url, progress=False)
    assert path == cache / FILE and path.read_bytes() == CONTENT


def test_existing_file_is_not_downloaded_again(server, tmp_path):
    fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert len(server.requests) == 1


def test_a_part_file_of_unknown_origin_is_not_resumed(server, tmp_path):
    (tmp_path / (FILE + ".part")).write_bytes(b"\0" * 100_000)  # no record of its server file
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT
    assert server.requests[-1]["range"] is None
    assert files_in(tmp_path) == [FILE]


def test_resume_when_the_server_ignores_ranges(server, tmp_path):
    server.mode = "ignore_range"
    (tmp_path / (FILE + ".part")).write_bytes(b"\0" * 5000)  # would corrupt if appended to
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT


def interrupted(server, tmp_path) -> bytes:
    """Leave a real .part (with the server's validator recorded) by a cut transfer."""
    mode, server.mode = server.mode, "cut"
    with pytest.raises(DownloadError):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    server.mode = mode
    return (tmp_path / (FILE + ".part")).read_bytes()


def test_complete_part_file_is_finished_on_416(server, tmp_path):
    interrupted(server, tmp_path)
    (tmp_path / (FILE + ".part")).write_bytes(CONTENT)  # as if the rest had arrived
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT and files_in(tmp_path) == [FILE]
    assert server.requests[-1]["if_range"] == etag_of(CONTENT)


def test_oversized_part_file_is_dropped(server, tmp_path):
    interrupted(server, tmp_path)
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
    assert server.requests[-1]["if_range"] == etag_of(CONTENT)
    assert files_in(tmp_path) == [FILE]


def test_size_mismatch_is_an_error(server, tmp_path):
    interrupted(server, tmp_path)
    server.mode = "short_total"  # Content-Range announces more than the file has
    with pytest.raises(DownloadError, match="does not continue"):
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
    assert files_in(tmp_path) == []


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
# ----------------------------------------------------------------------------- hostile servers

def test_html_sign_in_page_is_never_installed(server, tmp_path):
    server.mode = "html"
    with pytest.raises(DownloadError, match="HTML"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert files_in(tmp_path) == []


def test_html_without_content_type_is_still_refused(server, tmp_path):
    server.files[f"/{FILE}"] = b"<!DOCTYPE html>\n<html>captive</html>"
    with pytest.raises(DownloadError, match="HTML"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert files_in(tmp_path) == []


def test_empty_200_is_never_installed(server, tmp_path):
    server.mode = "empty"
    with pytest.raises(DownloadError, match="empty"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert files_in(tmp_path) == []


def test_resume_against_a_changed_file_never_splices(server, tmp_path):
    interrupted(server, tmp_path)
    changed = bytes(reversed(CONTENT))
    server.files[f"/{FILE}"] = changed  # new ETag: If-Range makes the server send all of it
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == changed
    assert server.requests[-1]["if_range"] == etag_of(CONTENT)


def test_no_resume_without_a_validator(server, tmp_path):
    server.validator = False
    interrupted(server, tmp_path)
    fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert server.requests[-1]["range"] is None


def test_sha256_is_checked(server, tmp_path):
    good = hashlib.sha256(CONTENT).hexdigest()
    with pytest.raises(DownloadError, match="sha256"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False, sha256="0" * 64)
    assert files_in(tmp_path) == []
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False, sha256=good)
    assert path.read_bytes() == CONTENT
    path.write_bytes(b"tampered")  # a cached file that no longer matches is refused too
    with pytest.raises(DownloadError, match="delete it"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False, sha256=good)


def test_no_size_and_no_sha256_is_refused_with_sha256_accepted(server, tmp_path):
    server.mode = "no_length"
    with pytest.raises(DownloadError, match="no size"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False,
                       sha256=hashlib.sha256(CONTENT).hexdigest())
    assert path.read_bytes() == CONTENT


def test_size_cap(server, tmp_path):
    server.mode = "huge"
    with pytest.raises(DownloadError, match="limit"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    server.mode = "ok"
    with pytest.raises(DownloadError, match="limit"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False, max_bytes=1000)
    assert files_in(tmp_path) == []


def test_a_drip_feed_hits_the_overall_deadline(server, tmp_path):
    server.mode = "drip"
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False, timeout=5,
                    deadline=0.5)
    assert time.monotonic() - t0 < 5  # the stall timeout alone would never fire
    assert not (tmp_path / FILE).exists()


def test_a_symlinked_part_is_never_written_through(server, tmp_path):
    dest = tmp_path / "dl"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"outside --dest")
    (dest / (FILE + ".part")).symlink_to(victim)
    with pytest.raises(DownloadError, match="symbolic link"):
        fetch_model(MODEL, dest=dest, base_url=server.url, progress=False)
    assert victim.read_bytes() == b"outside --dest"


@pytest.mark.parametrize("base", ["ftp://127.0.0.1/models", "gopher://x/", "data:,abc"])
def test_other_schemes_are_refused(tmp_path, base):
    with pytest.raises(DownloadError, match="only http"):
        fetch_model(MODEL, dest=tmp_path, base_url=base, progress=False)


def test_a_redirect_to_ftp_is_refused(server, tmp_path):
    server.mode = "redirect_ftp"
    with pytest.raises(DownloadError, match="refused"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("as_url", [False, True])
def test_local_mirror_directory_or_file_url(tmp_path, as_url):
    mirror = tmp_path / "srv models"
    mirror.mkdir()
    (mirror / FILE).write_bytes(CONTENT)
    base = mirror.as_uri() if as_url else str(mirror)
    dest = tmp_path / "dl"
    path = fetch_model(MODEL, dest=dest, base_url=base, progress=False,
                       sha256=hashlib.sha256(CONTENT).hexdigest())
    assert path.read_bytes() == CONTENT and files_in(dest) == [FILE]
    with pytest.raises(DownloadError, match="in this mirror"):
        fetch_model("Mobilenetv2", dest=dest, base_url=base, progress=False)


def test_local_mirror_fifo_and_html_are_refused(tmp_path):
    mirror = tmp_path / "m"
    mirror.mkdir()
    os.mkfifo(mirror / FILE)
    with pytest.raises(DownloadError, match="not a regular file"):
        fetch_model(MODEL, dest=tmp_path / "dl", base_url=str(mirror), progress=False)
    (mirror / FILE).unlink()
    (mirror / FILE).write_bytes(b"<html>portal</html>")
    with pytest.raises(DownloadError, match="HTML"):
        fetch_model(MODEL, dest=tmp_path / "dl", base_url=str(mirror), progress=False)
    assert files_in(tmp_path / "dl") == []


def test_one_fetch_at_a_time_per_destination(server, tmp_path):
    from rdk_classifier import safe_io

    with safe_io.exclusive_claim(tmp_path / FILE):  # another process is fetching it
        with pytest.raises(DownloadError, match="another process"):
            fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert fetch_model(MODEL, dest=tmp_path, base_url=server.url,
                       progress=False).read_bytes() == CONTENT


def test_cli_fetch_passes_the_registry_sha256(server, tmp_path, capsys, monkeypatch):
    import dataclasses

    from rdk_classifier.cli import main

    info = dataclasses.replace(zoo.get_model("resnet18"))
    object.__setattr__(info, "sha256", "1" * 64)  # the registry entry with a (wrong) digest
    monkeypatch.setattr(zoo, "get_model", lambda name: info)
    code = main(["zoo", "fetch", "resnet18", "--dest", str(tmp_path), "--base-url", server.url,
                 "--no-progress"])
    assert code == 2 and "sha256" in capsys.readouterr().err
    assert files_in(tmp_path) == []


def test_a_fifo_as_resume_record_never_hangs(server, tmp_path):
    os.mkfifo(tmp_path / f".{FILE}.part.meta")
    (tmp_path / (FILE + ".part")).write_bytes(CONTENT[:1000])
    t = threading.Thread(target=fetch_model, args=(MODEL,),
                         kwargs={"dest": tmp_path, "base_url": server.url, "progress": False},
                         daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "fetch blocked on a FIFO"
    assert (tmp_path / FILE).read_bytes() == CONTENT


def test_zoo_show_does_not_call_an_html_page_present(tmp_path, capsys):
    from rdk_classifier.cli import main

    (tmp_path / FILE).write_bytes(b"<!DOCTYPE html><html>Sign in</html>")
    assert main(["zoo", "show", MODEL, "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not usable" in out and "HTML" in out and "\npresent locally:" not in out


def test_a_bpu_model_info_without_bin_file_is_a_model_error(tmp_path):
    """A hand-made ModelInfo (Python API) that names no .bin: one typed error, no TypeError from
    ``Path / None``, and no file anywhere is looked at or written."""
    import dataclasses

    from rdk_classifier.errors import ModelError

    info = dataclasses.replace(zoo.get_model(MODEL), bin_file=None)
    assert zoo.local_candidates(info, tmp_path, tmp_path) == []
    assert zoo.find_local(info, tmp_path, tmp_path) is None
    with pytest.raises(ModelError, match="without a bin_file"):
        fetch_model(info, dest=tmp_path / "cache", system_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == []


# ----------------------------------------------------------------------------- second hostile round

def test_a_content_encoded_body_is_never_installed(server, tmp_path):
    server.mode = "gzip"
    with pytest.raises(DownloadError, match="Content-Encoding 'gzip'") as info:
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no model, no .part, no .part.meta, no .lock


def test_the_deadline_holds_against_a_stalling_server(server, tmp_path):
    """The stall timeout (30 s by default) is longer than the deadline: the deadline wins."""
    server.mode = "stall"
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False, deadline=1.0)
    assert time.monotonic() - t0 < 2.5  # within a second of the deadline (never 30 s)
    assert files_in(tmp_path) == [FILE + ".part"]  # 1000 bytes kept for the resume


def test_the_cli_deadline_holds_against_a_server_that_never_answers(tmp_path, capsys):
    from rdk_classifier.cli import main

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts the connection, never answers
    try:
        t0 = time.monotonic()
        code = main(["zoo", "fetch", MODEL, "--dest", str(tmp_path), "--no-progress",
                     "--deadline", "1", "--base-url",
                     f"http://127.0.0.1:{sock.getsockname()[1]}/"])
        elapsed = time.monotonic() - t0
    finally:
        sock.close()
    err = capsys.readouterr().err
    assert code != 0 and elapsed < 2.5, err
    assert "within 1.0 s" in err and "--deadline" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_loop_is_one_line(server, tmp_path):
    server.mode = "redirect_loop"
    with pytest.raises(DownloadError, match="redirect loop") as info:
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["huge", "html", "gzip", "redirect_ftp"])
def test_a_refusal_leaves_no_part_meta_or_lock(server, tmp_path, mode):
    server.mode = mode
    with pytest.raises(DownloadError):
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_content_length_of_a_non_ascii_digit_is_one_line(server, tmp_path):
    """http.client reads headers as latin-1: '\xb2' ('²') passes str.isdigit() but not int()."""
    server.mode = "superscript_length"
    info = zoo.get_model(MODEL)
    with pytest.raises(DownloadError) as caught:  # no size and no sha256: refused, in one line
        fetch_model(info, dest=tmp_path, base_url=server.url, progress=False, sha256=None)
    assert "\n" not in str(caught.value)
    assert files_in(tmp_path) == []


def test_a_deeply_nested_resume_record_means_start_over(server, tmp_path):
    (tmp_path / f"{FILE}.part").write_bytes(CONTENT[:1000])
    (tmp_path / f".{FILE}.part.meta").write_text("[" * 4000)  # within the 4 KB it reads
    path = fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert path.read_bytes() == CONTENT and server.requests[-1]["range"] is None


@pytest.mark.parametrize("mirror", ["http", "local"])
def test_a_file_system_without_hard_links_still_gets_the_model(server, tmp_path, monkeypatch,
                                                               mirror):
    """FAT/exFAT (an SD card or USB stick as --dest) refuses link() with EPERM: the whole file is
    then renamed into place (after a last check that nothing is there), as safe_io does."""
    import errno

    def no_links(src, dst, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    base = server.url
    if mirror == "local":
        (tmp_path / "mirror").mkdir()
        (tmp_path / "mirror" / FILE).write_bytes(CONTENT)
        base = str(tmp_path / "mirror")
    monkeypatch.setattr(os, "link", no_links)
    dest = tmp_path / "sdcard"
    path = fetch_model(MODEL, dest=dest, base_url=base, progress=False)
    assert path.read_bytes() == CONTENT and sorted(p.name for p in dest.iterdir()) == [FILE]


def test_ctrl_c_before_the_first_byte_leaves_nothing(server, tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM, the CLI's Terminated) while waiting for the first bytes: nothing to
    resume, so no empty .part and no resume record are left, as after an error."""
    from rdk_classifier import download

    def interrupted(response, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_limit_wait", interrupted)
    dest = tmp_path / "dl"
    with pytest.raises(KeyboardInterrupt):
        fetch_model(MODEL, dest=dest, base_url=server.url, progress=False)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("case", ["200", "206", "416"])
def test_numbers_too_long_for_int_in_size_headers_are_one_line(server, tmp_path, case):
    """Content-Length, Content-Range (206) and the 416 answer's Content-Range with 5000 digits:
    int() refuses more than 4300 (ValueError); each is an invalid header, in one line."""
    if case != "200":
        interrupted(server, tmp_path)
    if case == "416":
        (tmp_path / (FILE + ".part")).write_bytes(CONTENT)  # complete: the server answers 416
    server.mode = "long_numbers"
    with pytest.raises(DownloadError) as caught:
        fetch_model(MODEL, dest=tmp_path, base_url=server.url, progress=False)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 1000
    assert FILE not in files_in(tmp_path)


@pytest.mark.parametrize("deadline", [float("nan"), 0.0, -5.0])
def test_a_deadline_that_is_not_a_positive_number_is_refused(tmp_path, deadline):
    """``--deadline nan`` compared false with everything and so switched the deadline off."""
    with pytest.raises(DownloadError, match="--deadline"):
        fetch_model(MODEL, dest=tmp_path, base_url=closed_port_url(), progress=False,
                    deadline=deadline)
    assert list(tmp_path.iterdir()) == []
