"""`islands serve` and `islands chat` as a user runs them, where no model needs to load:
a busy port, unknown model names, bad options — each one line on stderr and exit code 2."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "islands", *args], capture_output=True, text=True, timeout=120, input=stdin, check=False)


def one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr and "serving" not in p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_serve_on_a_busy_port_fails_before_it_says_serving() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = run("serve", "--port", str(port), "--model", "gemma-3-270m")
    one_line_error(p, f"cannot listen on 127.0.0.1:{port}", "in use")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("serve", "--model", "gpt-9"), ("unknown model 'gpt-9'", "gemma-3-270m", "smollm2-135m-instruct")),
        (("serve", "--chat-model", "llama-7"), ("unknown model 'llama-7'",)),
        (("serve", "--private-metrics"), ("--api-key",)),
        (("serve", "--port", "0"), ("--port",)),
        (("chat", "--model", "nosuch", "--no-memory"), ("unknown model 'nosuch'",)),
        (("chat", "--max-tokens", "0", "--no-memory"), ("--max-tokens",)),
        (("generate", "hi", "--model", "nosuch"), ("unknown model 'nosuch'",)),
    ],
)
def test_bad_model_names_and_options(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    one_line_error(run(*args), *words)
