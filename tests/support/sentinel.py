"""A Redis Sentinel deployment on loopback: a primary, a replica and three sentinels.

The replica reaches its primary through `Link`, a TCP relay the test can stall: what the primary
sends while it is stalled is held back, and lost when the primary dies, as over a slow network.
Sentinels are redis-server in sentinel mode (what Debian's redis-sentinel package runs).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import redis

from service.embedded import RedisServer, find_redis_server, free_port
from tests.support.herald import wait_until

MASTER = "mymaster"
DOWN_AFTER_MS = 1000


class Link:
    """127.0.0.1:`port` relays to the primary; `stall()` holds what the primary sends, `cut()`
    drops it and closes every connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.stalled = threading.Event()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = False

    def start(self) -> Link:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stall(self) -> None:
        self.stalled.set()

    def cut(self) -> None:
        self._closed = True
        for sock in [self._server, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                replica, _ = self._server.accept()
            except OSError:
                return
            try:
                primary = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the primary is gone: the replica retries, and finds it gone again
                replica.close()
                continue
            self._sockets += [replica, primary]
            threading.Thread(target=self._pump, args=(primary, replica, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(replica, primary, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_primary: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_primary and self.stalled.is_set():
                    continue  # held back, then lost with the primary
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass


class SentinelDeployment:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.primary = RedisServer(workdir=workdir / "primary")
        self.link: Link | None = None
        self.replica: RedisServer | None = None
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    def start(self) -> SentinelDeployment:
        self.primary.start()
        self.link = Link(self.primary.port).start()
        self.replica = RedisServer(workdir=self.workdir / "replica",
                                   options=["--replicaof", "127.0.0.1", str(self.link.port)]).start()
        wait_until(lambda: _info(self.replica.port).get("master_link_status") == "up", 30, "the replica to sync")
        for n, port in enumerate(self.sentinel_ports):
            self.sentinels.append(self._sentinel(n, port))
        wait_until(self._sentinels_ready, 30, "the sentinels to see each other and the replica")
        return self

    def _sentinel(self, n: int, port: int) -> subprocess.Popen[bytes]:
        home = self.workdir / f"sentinel{n}"
        home.mkdir(parents=True, exist_ok=True)
        config = home / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {home}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER} 10000\nsentinel parallel-syncs {MASTER} 1\n")
        return subprocess.Popen([find_redis_server(), str(config), "--sentinel"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
                    state = client.sentinel_master(MASTER)
            except (redis.RedisError, OSError):
                return False
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                return False
        return True

    def primary_port(self) -> int | None:
        """The port the sentinels name as primary now."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
                    found = client.sentinel_get_master_addr_by_name(MASTER)
                    if found:
                        return int(found[1])
            except (redis.RedisError, OSError):
                continue
        return None

    def kill_primary(self) -> None:
        assert self.primary.process is not None
        os.kill(self.primary.process.pid, signal.SIGKILL)
        self.primary.process.wait(5)
        if self.link is not None:
            self.link.cut()

    def restart_old_primary(self) -> None:
        """What its supervisor does: the killed server comes back, empty, on its port, and the
        sentinels make it a replica of the new primary."""
        self.primary = RedisServer(port=self.primary.port, workdir=self.workdir / "primary").start()

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.terminate()
                process.wait(5)
        for server in (self.replica, self.primary):
            if server is not None:
                server.stop()
        if self.link is not None:
            self.link.cut()


def _info(port: int) -> dict[str, str]:
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
            return {k: str(v) for k, v in client.info("replication").items()}
    except (redis.RedisError, OSError):
        return {}
