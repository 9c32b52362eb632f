"""`ServerProcess`: run ``speechrnn serve`` in a child process (tests, benchmarks, notebooks).

Example
-------
>>> with ServerProcess(["--max-streams", "4"]) as srv:          # doctest: +SKIP
...     print(srv.url, srv.ws_url)                                # http://127.0.0.1:PORT ...
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from ..errors import SpeechRNNError


class ServerStartError(SpeechRNNError, RuntimeError):
    """The server process exited or did not become ready; the message holds its output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """A ``speechrnn serve`` child process on a free loopback port, ready on entry.

    Parameters
    ----------
    args : list[str]
        Extra ``speechrnn serve`` arguments (not ``--host``/``--port``).
    env : dict, optional
        Extra environment variables.
    ready_timeout : float
        Seconds to wait for ``/ready``.
    """

    def __init__(self, args: list[str] | None = None, env: dict | None = None, ready_timeout: float = 120.0):
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.ws_url = f"ws://{self.host}:{self.port}/"
        self.args = list(args or [])
        self.env = {**os.environ, **(env or {})}
        self.ready_timeout = ready_timeout
        self.log = tempfile.NamedTemporaryFile(prefix="speechrnn-serve-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        cmd = [sys.executable, "-m", "speechrnn", "serve", "--host", self.host, "--port", str(self.port),
               *self.args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError, json.JSONDecodeError):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerStartError(f"server not ready after {self.ready_timeout} s:\n{self.output()}")

    def output(self) -> str:
        """Everything the server printed so far."""
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        """Resident memory of the server process, MB (Linux)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send ``sig`` and wait; kills after ``timeout``. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.log.close()
        os.unlink(self.log.name)
