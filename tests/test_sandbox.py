"""PY's sandbox against the seed's own attack chain: every attempt is blocked or killed
with a clear error, the host stays healthy, and the engine keeps serving other branches.
`make test` installs bubblewrap; without it these tests fail rather than skip."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from islands import SamplingParams
from islands.engine import Engine
from islands.tools import IslandRunner, Registry
from islands.tools.sandbox import SandboxLimits, bwrap_path, repl_script, run_python

FAST = SandboxLimits(wall_seconds=5, cpu_seconds=2)


@pytest.fixture(autouse=True)
def _needs_bwrap() -> None:
    assert bwrap_path(), "bubblewrap is missing: `make test` installs it (apt-get install bubblewrap)"


def test_plain_code_runs() -> None:
    r = run_python("print(sum(range(10)))", FAST)
    assert r.ok and r.stdout.strip() == "45"
    assert run_python(repl_script("x = 7\nx * 6"), FAST).stdout.strip() == "42"


@pytest.mark.parametrize(
    ("code", "expect"),
    [
        ("print(open('/etc/passwd').read())", "No such file or directory"),
        ("import os; print(os.listdir(os.path.expanduser('~/.ssh')))", "No such file or directory"),
        ("import os; print(os.listdir('/root'))", "No such file or directory"),
        (f"print(open({str(Path(__file__).resolve())!r}).read())", "No such file or directory"),
        ("import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)", "Network is unreachable"),
        ("import socket; socket.create_connection(('127.0.0.1', 22), timeout=2)", "Connection refused"),
        ("open('/usr/lib/owned', 'w').write('x')", "Read-only file system"),
        ("import subprocess; subprocess.run(['sh', '-c', 'id'])", "No such file or directory: 'sh'"),
        ("import os; os.execv('/bin/bash', ['bash'])", "No such file or directory"),
    ],
)
def test_escapes_are_blocked(code: str, expect: str) -> None:
    r = run_python(code, FAST)
    assert not r.ok
    assert expect in r.as_text(), r.as_text()
    assert r.as_text().startswith("error:") and "\n" not in r.as_text()


def test_environment_secrets_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLANDS_TEST_SECRET", "hunter2")
    r = run_python("import os; print(sorted(os.environ))", FAST)
    assert r.ok and "ISLANDS_TEST_SECRET" not in r.stdout and "hunter2" not in r.stdout


def test_writes_stay_in_a_fresh_directory() -> None:
    r = run_python("open('/tmp/x', 'w').write('x'); open('mine.txt', 'w').write('y'); import os; print(sorted(os.listdir('.')))", FAST)
    assert r.ok and r.stdout.strip() == "['main.py', 'mine.txt']"
    again = run_python("import os; print(sorted(os.listdir('.')))", FAST)
    assert again.stdout.strip() == "['main.py']"  # nothing carried over


@pytest.mark.parametrize(
    ("code", "killed_or_error"),
    [
        ("import os\nwhile True:\n    os.fork()", "Resource temporarily unavailable"),
        ("x = bytearray(10 * 1024**3)", "memory"),
        ("while True:\n    pass", "cpu"),
        ("import time\ntime.sleep(60)", "timeout"),
        ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", "File too large"),
    ],
)
def test_resource_attacks_are_killed(code: str, killed_or_error: str) -> None:
    t0 = time.monotonic()
    r = run_python(code, FAST)
    assert not r.ok
    contained = killed_or_error in r.as_text() or killed_or_error == r.killed
    if "fork" in code:  # on a loaded machine the wall or CPU limit may stop the bomb before NPROC does
        contained = contained or r.killed in ("timeout", "cpu")
    assert contained, (r.killed, r.as_text())
    assert time.monotonic() - t0 < FAST.wall_seconds + 15  # killed at the wall limit, whatever the load
    assert os.getloadavg() is not None  # the host is still here


def test_engine_serves_other_branches_during_an_attack(engine: Engine) -> None:
    runner = IslandRunner(engine, Registry.default().subset(["PY"]))
    try:
        attack = runner.generate("x PY(while True: pass)", params=SamplingParams(max_tokens=8, seed=1, ignore_eos=True))
        calm = engine.generate("the sea", n=2, params=SamplingParams(max_tokens=8, seed=1, ignore_eos=True))
    finally:
        runner.close()
    hard = attack.outputs[0].spans[0]
    assert hard.kind == "hard" and hard.error and "killed (cpu)" in (hard.result or "")
    assert all(len(o.tokens) == 8 for o in calm.outputs)


def test_the_error_line_is_the_exception_even_when_forked_tracebacks_interleave() -> None:
    from islands.tools.sandbox import _tail

    interleaved = ("Traceback (most recent call last):\n  File \"main.py\", line 3, in <module>\n"
                   "BlockingIOError: [Errno 11] Resource temporarily unavailable\n"
                   "Traceback (most recent call last):\n  File \"main.py\", line 3, in <module>\n    os.fork()\n")
    assert _tail(interleaved) == "BlockingIOError: [Errno 11] Resource temporarily unavailable"
    assert _tail("ValueError: bad\n") == "ValueError: bad" and _tail("just text\n") == "just text" and _tail("") == ""
