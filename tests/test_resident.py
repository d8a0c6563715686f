"""CLI commands use a running `islands serve` (cli/resident.py): the record a server leaves,
which records are skipped, and `generate` answered by a real server exactly as in-process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from islands.cli.resident import find_resident, register, unregister


class _Models(BaseHTTPRequestHandler):
    served = "gemma-3-270m"
    key: str | None = None

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.key is not None and self.headers.get("Authorization") != f"Bearer {self.key}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"object": "list", "data": [{"id": self.served, "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("ISLANDS_HOME", str(tmp_path))
    monkeypatch.setenv("ISLANDS_SERVER", "auto")
    monkeypatch.delenv("ISLANDS_API_KEY", raising=False)
    _Models.key = None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_a_registered_server_is_found_for_its_model_only(fake_server: int, tmp_path: Path) -> None:
    record = register("127.0.0.1", fake_server, "gemma-3-270m", api_key_required=False)
    assert record is not None and record.parent == tmp_path / "servers"
    found = find_resident("gemma-3-270m")
    assert found is not None and found.url == f"http://127.0.0.1:{fake_server}" and found.api_key is None
    assert find_resident("smollm2-135m-instruct") is None  # another model: load it here
    unregister(record)
    assert not record.exists() and find_resident("gemma-3-270m") is None


def test_switched_off_or_network_binds_are_not_used(fake_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    assert register("0.0.0.0", fake_server, "gemma-3-270m", api_key_required=False) is None
    register("127.0.0.1", fake_server, "gemma-3-270m", api_key_required=False)
    monkeypatch.setenv("ISLANDS_SERVER", "off")
    assert find_resident("gemma-3-270m") is None


def test_a_dead_servers_record_is_removed(fake_server: int, tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    record = tmp_path / "servers" / "1.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"url": f"http://127.0.0.1:{fake_server}", "pid": int(gone.stdout), "model": "gemma-3-270m"}))
    assert find_resident("gemma-3-270m") is None
    assert not record.exists()


def test_a_server_that_wants_a_key_is_used_only_with_one(fake_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _Models.key = "sesame"
    register("127.0.0.1", fake_server, "gemma-3-270m", api_key_required=True)
    assert find_resident("gemma-3-270m") is None
    monkeypatch.setenv("ISLANDS_API_KEY", "sesame")
    found = find_resident("gemma-3-270m")
    assert found is not None and found.api_key == "sesame"


def test_a_record_of_a_server_that_does_not_answer_is_skipped(fake_server: int, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nobody listens here once the socket closes
    register("127.0.0.1", closed, "gemma-3-270m", api_key_required=False)
    assert find_resident("gemma-3-270m") is None
    assert (tmp_path / "servers" / f"{closed}.json").exists()  # alive process (ours): kept, only skipped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.model
def test_generate_is_answered_by_a_running_server_as_in_process(model_path: Path, islands_home: Path) -> None:
    env = {**os.environ, "ISLANDS_HOME": str(islands_home), "ISLANDS_SERVER": "auto"}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "islands", "serve", "--port", str(port), "--ctx", "1024"],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        record = islands_home / "servers" / f"{port}.json"
        deadline = time.monotonic() + 120
        while not record.exists():
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        args = [sys.executable, "-m", "islands", "generate", "The sea is", "-n", "8", "-t", "0", "--json"]
        remote = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=True)
        local = subprocess.run([*args, "--local"], env=env, capture_output=True, text=True, timeout=120, check=True)
    finally:
        server.terminate()
        _, log = server.communicate(timeout=60)
    assert "POST /v1/completions 200" in log  # the server did the work
    texts = [json.loads(p.stdout)["outputs"][0] for p in (remote, local)]
    assert texts[0] == texts[1] and texts[0].strip()
    assert not record.exists()  # the server removed its record when it stopped
