"""Real TCP endpoints on this machine for the SSRF and timing tests.

``Listener`` counts every connection that reaches it; the modes stand for what an attacker could
probe: a closed port (refused), an open port that never answers (silent), an open port speaking
another protocol (garbage), and a port whose SYNs are dropped (filtered: the accept queue is
full, so the kernel ignores new connection attempts, as a firewall that drops packets does).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Mode = Literal["silent", "garbage", "filtered", "refused"]


class Listener:
    def __init__(self, mode: Mode = "silent", host: str = "127.0.0.1") -> None:
        self.mode = mode
        self.accepted = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if mode == "refused":
            self._sock.close()  # nothing listens on this port any more
        elif mode == "filtered":
            self._sock.listen(0)
            filler = socket.create_connection((host, self.port))  # fills the accept queue
            self._held.append(filler)
        else:
            self._sock.listen(16)
            self._sock.settimeout(0.2)
            self._thread = threading.Thread(target=self._serve, daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self.mode == "garbage":
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()


@contextmanager
def listening(mode: Mode = "silent", host: str = "127.0.0.1") -> Iterator[Listener]:
    listener = Listener(mode, host)
    try:
        yield listener
    finally:
        listener.close()
