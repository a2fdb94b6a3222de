"""HTTP sources that misbehave: too much, a wrong Content-Length, a stall, bad TLS; and the progress lines."""

import contextlib
import http.server
import io
import shutil
import ssl
import subprocess
import threading
import time

import pytest
from tqdm import tqdm

from stages.common import StageError
from stages.download import HttpSource, download, size_cap

JUNK = bytes(range(256)) * 4096  # 1 MiB, far past the tiny files' cap


@pytest.fixture
def serve():
    """Start servers on 127.0.0.1 whose GET calls respond(handler, data) with the named tiny file's bytes.

    Yields start(respond, source_dir) -> base URL. A handler that stalls waits
    on `start.release`, set at teardown so no thread outlives the test.
    """
    servers, release = [], threading.Event()

    def start(respond, source_dir, tls=None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                # the client may hang up, as it should on a bad response
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    respond(self, (source_dir / self.path.lstrip("/")).read_bytes())

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/"

    start.release = release
    yield start
    release.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def headers(handler, length=None):
    handler.send_response(200)
    if length is not None:
        handler.send_header("Content-Length", str(length))
    handler.end_headers()


def plain(handler, data):
    headers(handler, len(data))
    handler.wfile.write(data)


def endless(handler, data):
    headers(handler)  # no Content-Length: the body ends when the connection does
    for _ in range(16):
        handler.wfile.write(JUNK)


def announces_too_much(handler, data):
    headers(handler, 10**9)
    handler.wfile.write(data)


def longer_length(handler, data):
    headers(handler, len(data) + 100)
    handler.wfile.write(data)  # then HTTP/1.0 closes the connection, 100 bytes short


def shorter_length(handler, data):
    headers(handler, len(data) - 100)
    handler.wfile.write(data)


def fallback(tiny_files, tmp_path, serve, bad_url, timeout=5):
    """Download from the bad server, then a good one; return the log."""
    source_dir, specs = tiny_files
    good = serve(plain, source_dir)
    log, dest = io.StringIO(), tmp_path / "raw"
    used = download([HttpSource(bad_url, timeout=timeout), HttpSource(good)], dest, specs, log=log)
    assert str(used) == good
    assert sorted(p.name for p in dest.iterdir()) == sorted(s.name for s in specs)  # no temporary files left
    return log.getvalue()


def test_a_response_past_the_cap_is_cut_off_and_the_next_source_tried(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files
    bad = serve(endless, source_dir)
    log = fallback(tiny_files, tmp_path, serve, bad)
    cap = size_cap(specs)
    assert f"download: skipping {bad}: {bad}{specs[0].name}: more than {cap} bytes, cut off there" in log


def test_a_content_length_past_the_cap_is_refused_before_reading(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files
    bad = serve(announces_too_much, source_dir)
    log = fallback(tiny_files, tmp_path, serve, bad)
    assert f"{specs[0].name}: Content-Length 1000000000 is more than the {size_cap(specs)} bytes allowed" in log


def test_a_body_shorter_than_its_content_length_is_reported(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files
    bad = serve(longer_length, source_dir)
    log = fallback(tiny_files, tmp_path, serve, bad)
    size = (source_dir / specs[0].name).stat().st_size
    assert f"{specs[0].name}: {size} bytes received, Content-Length announced {size + 100}" in log


def test_a_content_length_that_cuts_the_file_short_fails_verification(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files
    bad = serve(shorter_length, source_dir)
    log = fallback(tiny_files, tmp_path, serve, bad)
    assert f"{specs[0].name}: corrupt or truncated gzip data" in log


def test_a_stalled_download_times_out_per_read(tiny_files, tmp_path, serve):
    source_dir, _ = tiny_files

    def stall(handler, data):
        headers(handler, len(data))
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        serve.release.wait(30)

    bad = serve(stall, source_dir)
    start = time.monotonic()
    log = fallback(tiny_files, tmp_path, serve, bad, timeout=0.5)
    assert time.monotonic() - start < 10
    assert "no data for 0.5 s, gave up" in log


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command to make a certificate")
def test_an_untrusted_certificate_is_refused(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    url = serve(plain, source_dir, tls)
    with pytest.raises(StageError, match="CERTIFICATE_VERIFY_FAILED"):
        download([HttpSource(url, timeout=5)], tmp_path / "raw", specs, log=io.StringIO())


def progress_lines(log, filename):
    return [line for line in log.splitlines() if line.startswith(f"download: {filename}:")]


def test_a_download_shows_its_progress_as_lines(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files
    log = tmp_path / "log"
    with log.open("w") as stream:  # a file, as in a CI log: not a terminal
        download([HttpSource(serve(plain, source_dir))], tmp_path / "raw", specs, log=stream)
    text = log.read_text()
    assert "\r" not in text
    for spec in specs:
        lines = progress_lines(text, spec.name)
        assert 2 <= len(lines) <= 6, lines
        size = (source_dir / spec.name).stat().st_size
        total = tqdm.format_sizeof(size, divisor=1024)
        assert lines[-1].startswith(f"download: {spec.name}: 100%"), lines
        assert f"{total}/{total} [" in lines[-1], lines
        assert "B/s]" in lines[-1], lines


def test_a_slow_download_prints_a_few_lines_on_the_way(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files

    def dribble(handler, data):
        headers(handler, len(data))
        step = -(-len(data) // 8)
        for start in range(0, len(data), step):
            handler.wfile.write(data[start : start + step])
            handler.wfile.flush()
            time.sleep(0.2)  # 1.6 s in all: past the one second a log waits between lines

    log = io.StringIO()
    download([HttpSource(serve(dribble, source_dir))], tmp_path / "raw", specs[:1], log=log)
    lines = progress_lines(log.getvalue(), specs[0].name)
    assert 3 <= len(lines) <= 6, lines
    assert lines[0].startswith(f"download: {specs[0].name}:   0%")
    assert "100%" in lines[-1]
    assert any(" 0%" not in line and "100%" not in line for line in lines), lines


def test_on_a_terminal_the_bar_is_redrawn_in_place(tiny_files, tmp_path, serve):
    source_dir, specs = tiny_files

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log = Terminal()
    download([HttpSource(serve(plain, source_dir))], tmp_path / "raw", specs, log=log)
    assert f"\rdownload: {specs[0].name}: 100%" in log.getvalue()
