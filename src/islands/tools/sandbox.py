"""PY: run Python code in a sandbox made by the OS, not by Python.

Each run gets a fresh temporary directory as its only writable place, inside a bubblewrap
(`bwrap`) container with every namespace unshared: no network (only a loopback of its
own), no view of the host's processes, an empty environment, and a file system made of
the interpreter and its standard library (read-only), /usr/lib (read-only), private
/tmp, /proc and /dev — no /etc, no /home or /root, no project files, no shell. When islands
runs as root the code runs under a fresh unprivileged uid. Resource limits (setrlimit) cap CPU seconds,
address space, processes, open files and the size of any file written (stdout included);
a wall-clock timeout kills the whole process group.

What it guarantees: the code cannot read host files outside the runtime, reach the
network, see the caller's environment, write outside its directory, or outlive its limits.
What it does not: it is not a VM — it shares the host kernel, so a kernel exploit is out of
scope; the Python standard library is readable; CPU time is shared with the host.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from islands.errors import IslandsError

__all__ = ["SandboxError", "SandboxLimits", "SandboxResult", "bwrap_path", "repl_script", "run_python"]

RUN_UIDS = 200_000  # as root, code runs as an unused uid from here on


class SandboxError(IslandsError):
    """The sandbox itself could not run (e.g. bubblewrap is not installed)."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 5
    memory_mb: int = 512
    processes: int = 16
    output_bytes: int = 64_000  # what is read back of stdout/stderr
    file_mb: int = 16  # largest file the code may write (stdout included)
    open_files: int = 64


@dataclass
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int
    killed: str | None = None  # "timeout", "cpu", "memory", "output", "signal N"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed is None

    def as_text(self) -> str:
        """What the model sees after ` => `."""
        if self.killed:
            return f"error: killed ({self.killed}) {_tail(self.stderr)}".rstrip()
        if self.exit_code != 0:
            return f"error: {_tail(self.stderr) or f'exit code {self.exit_code}'}"
        return self.stdout.rstrip("\n")


def repl_script(code: str) -> str:
    """Code whose last statement is an expression prints it, as a REPL would:
    repl_script("x = 2\nx ** 10") -> "x = 2\n__value = x ** 10\nif __value is not None: print(__value)".
    Parsing happens here (ast, no execution); running happens in the sandbox."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the sandbox reports it
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return code
    last = tree.body[-1]
    lines = code.splitlines()
    head = "\n".join(lines[: last.lineno - 1] + [lines[last.lineno - 1][: last.col_offset]])
    expr = ast.get_source_segment(code, last) or ""
    return f"{head}\n__value = ({expr})\nif __value is not None: print(__value)"


_RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b")


def _tail(text: str) -> str:
    """The line that says what went wrong: the last exception line, else the last line (the
    tracebacks of forked children interleave, and one may end the stream cut mid-way)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    raised = [line for line in lines if _RAISED.match(line)]
    return raised[-1] if raised else lines[-1] if lines else ""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _interpreter() -> Path:
    """A Python the sandbox can run: Debian's, else this one's base install."""
    for candidate in (os.environ.get("ISLANDS_SANDBOX_PYTHON"), "/usr/bin/python3"):
        if candidate and Path(candidate).exists():
            return Path(candidate).resolve()
    import sys

    return Path(sys.base_prefix) / "bin" / "python3"


def _command(box: Path, python: Path) -> list[str]:
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxError("PY needs bubblewrap: apt-get install bubblewrap")
    prefix = python.parent.parent  # /usr, or a pyenv prefix
    args = [
        bwrap, "--unshare-all", "--die-with-parent", "--new-session",
        "--ro-bind", "/usr/lib", "/usr/lib",
        "--symlink", "usr/lib", "/lib",
    ]
    if Path("/usr/lib64").exists():
        args += ["--ro-bind", "/usr/lib64", "/usr/lib64", "--symlink", "usr/lib64", "/lib64"]
    if prefix != Path("/usr"):
        args += ["--ro-bind", str(prefix), str(prefix)]
    args += [
        "--ro-bind", str(python), "/usr/bin/python3",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--bind", str(box), "/box", "--chdir", "/box",
        "--clearenv", "--setenv", "HOME", "/box", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "/usr/bin/python3", "-I", "-u", "main.py",
    ]
    return args


def _limit(limits: SandboxLimits, uid: int | None) -> None:
    """Runs in the child before exec: drop root, then set the limits."""
    os.setsid()
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if uid is not None:  # counts this run's own uid only
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code` as a script in a fresh sandbox; never raises for what the code does."""
    limits = limits or SandboxLimits()
    python = _interpreter()
    with tempfile.TemporaryDirectory(prefix="islands-py-") as tmp:
        box = Path(tmp) / "box"
        box.mkdir()
        (box / "main.py").write_text(code)
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        # as root, each run gets a uid of its own: a fork bomb's leftovers (killed with
        # its pid namespace, but not instantly) never count against the next run
        uid = secrets.choice(range(RUN_UIDS, RUN_UIDS + 60_000)) if os.geteuid() == 0 else None
        if uid is not None:
            os.chmod(tmp, 0o711)
            os.chown(box, uid, uid)
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(
                _command(box, python), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                preexec_fn=lambda: _limit(limits, uid), close_fds=True,
            )
            killed = None
            try:
                proc.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                killed = "timeout"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stdout = _read(out_path, limits.output_bytes)
        stderr = _read(err_path, limits.output_bytes)
    code_ = proc.returncode
    sig = -code_ if code_ < 0 else code_ - 128 if code_ > 128 else 0  # bwrap reports 128 + signal
    if killed is None and sig:
        names: dict[int, str] = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "output", signal.SIGKILL: "signal 9"}
        killed = names.get(sig, f"signal {sig}")
    if killed is None and "MemoryError" in stderr:
        killed = "memory"
    return SandboxResult(stdout, stderr, code_, killed)


def _read(path: Path, limit: int) -> str:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + "\n…(output truncated)" if len(data) > limit else text
