"""``foley --server``: the CLI's remote run against a server in another process, end to end.

Plain and TLS + token; a server killed with SIGKILL mid-job; a connection dropped mid-stream.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import opentimelineio as otio
import pytest
from service_support import RPC_TIMEOUT, Gate, make_test_certificate, wait_serving

from sonicvision import cli
from sonicvision.server.demo import make_demo_cut
from sonicvision.server.service.app import run_server
from sonicvision.server.service.client import SonicVisionClient
from sonicvision.v1 import jobs_pb2 as pb

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    make_demo_cut(root)
    return root


def start(argv: list[str]) -> tuple[subprocess.Popen, int]:
    """A process that prints one JSON line with its port; killed by the caller."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    if not found or not found[0].strip():
        process.kill()
        raise AssertionError("the server process printed no port")
    return process, json.loads(found[0])["port"]


def serve(data: Path, media: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    return start(
        [sys.executable, "-m", "sonicvision.cli", "serve", "--port", "0", "--json",
         "--data-dir", str(data), "--media-root", str(media), *extra]
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def audio_urls(path: Path) -> list[str]:
    timeline = otio.adapters.read_from_file(str(path))
    return sorted(
        c.media_reference.target_url for t in timeline.audio_tracks() for c in t.find_clips()
    )


def test_foley_on_a_server_writes_what_a_local_run_writes(media, tmp_path, capsys):
    process, port = serve(tmp_path / "data", media)
    try:
        wait_serving(f"127.0.0.1:{port}", timeout=60)
        timeline = str(media / "demo_cut.otio")
        remote, local = tmp_path / "remote.otio", tmp_path / "local.otio"
        server = ["--server", f"127.0.0.1:{port}"]
        assert cli.main(["foley", timeline, "-o", str(remote), *server, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert cli.main(["foley", timeline, "-o", str(local), "--media-root", str(media)]) == 0
    finally:
        stop(process)
    local_audio = sorted(p.name for p in (tmp_path / "local_audio").iterdir())
    remote_audio = sorted(p.name for p in (tmp_path / "remote_audio").iterdir())
    assert remote_audio == local_audio and len(remote_audio) == report["clips"] > 0
    assert audio_urls(remote) == sorted(
        (tmp_path / "remote_audio" / n).resolve().as_uri() for n in remote_audio
    )
    ranges = [
        [(c.name, c.range_in_parent()) for c in t.find_clips()]
        for path in (remote, local)
        for t in otio.adapters.read_from_file(str(path)).audio_tracks()
    ]
    assert ranges[: len(ranges) // 2] == ranges[len(ranges) // 2 :]
    assert report["output"] == str(remote)
    # never over an existing result
    assert cli.main(["foley", timeline, "-o", str(remote), *server]) == 2


def test_foley_on_a_tls_server_with_a_token(media, tmp_path, capsys):
    cert, key = make_test_certificate(tmp_path)
    token = tmp_path / "token.txt"
    token.write_text("tok-123\n")
    process, port = serve(
        tmp_path / "data", media, "--tls-cert", str(cert), "--tls-key", str(key),
        "--token-file", str(token),
    )  # fmt: skip
    try:
        with SonicVisionClient(f"localhost:{port}", token="tok-123", tls_ca=cert) as client:
            for _ in range(600):
                try:
                    client.backends()
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    threading.Event().wait(0.1)
        timeline = str(media / "demo_cut.otio")
        where = ["--server", f"localhost:{port}", "--tls-ca", str(cert)]
        out = tmp_path / "cut.otio"
        assert cli.main(["analyze", timeline, "-o", str(out), *where]) == 2
        assert "UNAUTHENTICATED" in capsys.readouterr().err
        assert not out.exists()
        assert (
            cli.main(["analyze", timeline, "-o", str(out), *where, "--token-file", str(token)]) == 0
        )
        assert out.is_file()
        capsys.readouterr()
        assert cli.main(["jobs", "submit", timeline, "--pass", "analyze", *where,
                         "--token-file", str(token), "--wait", "--json"]) == 0  # fmt: skip
        submitted = json.loads(capsys.readouterr().out)
        assert submitted["state"] == "JOB_STATE_SUCCEEDED"
        assert submitted["job_pass"] == "PASS_ANALYZE"
    finally:
        stop(process)


def run_cli(argv: list[str]) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(cli.main(argv)), daemon=True)
    thread.start()
    return thread, codes


def running_job(address: str) -> str:
    with SonicVisionClient(address, timeout=5) as client:
        for _ in range(600):
            jobs = client.list(["running"])
            if jobs:
                return jobs[0].job_id
            threading.Event().wait(0.05)
    raise AssertionError("no job started")


def test_a_server_killed_mid_job_ends_the_cli_clearly(media, tmp_path, capsys):
    gate, data = tmp_path / "gate", tmp_path / "data"
    script = [sys.executable, str(HERE / "gated_server.py"), str(data), str(media)]
    process, port = start([*script, "0", str(gate)])
    address = f"127.0.0.1:{port}"
    wait_serving(address, timeout=60)
    out = tmp_path / "cut.otio"
    thread, codes = run_cli(
        ["foley", str(media / "demo_cut.otio"), "-o", str(out), "--server", address]
    )
    try:
        running_job(address)
        os.killpg(process.pid, signal.SIGKILL)  # kill -9, mid-job
        process.wait(30)
        gate.touch()
        process, _ = start([*script, str(port), str(gate)])  # back on the same port
        thread.join(120)
    finally:
        stop(process)
    assert codes == [2]
    err = capsys.readouterr().err
    assert "server restarted while running" in err and "Traceback" not in err
    assert not out.exists()


class Proxy:
    """A TCP relay whose open connections can be cut while it keeps listening."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.accepted += 1
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def test_a_dropped_connection_is_resumed_and_the_job_runs_once(media, tmp_path, capsys):
    gate = Gate()
    with run_server(data_dir=tmp_path / "data", media_roots=[media], runner=gate) as port:
        wait_serving(f"127.0.0.1:{port}")
        proxy = Proxy(int(port))
        out = tmp_path / "cut.otio"
        argv = ["foley", str(media / "demo_cut.otio"), "-o", str(out), "--json"]
        thread, codes = run_cli([*argv, "--server", f"127.0.0.1:{proxy.port}"])
        try:
            assert gate.reached.wait(RPC_TIMEOUT)
            proxy.cut()  # the network drops the client mid-stream
            gate.open()
            thread.join(120)
        finally:
            gate.open()
            proxy.close()
        assert codes == [0], capsys.readouterr().err
        assert proxy.accepted >= 2  # it came back
        report = json.loads(capsys.readouterr().out)
        assert out.is_file() and len(report["clips_list"]) == report["clips"] > 0
        with SonicVisionClient(f"127.0.0.1:{port}") as client:
            jobs = client.list()
        assert len(jobs) == 1 and jobs[0].state == pb.JOB_STATE_SUCCEEDED
