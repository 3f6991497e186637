"""A keep-alive HTTP server on 127.0.0.1 with rare planted stalls, whose true
latencies are known, and the lab's wrk report script."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

LUA = Path(__file__).resolve().parent.parent.parent / "runner" / "tools" / "report.lua"


class StallingServer:
    """HTTP/1.1 keep-alive on 127.0.0.1 that answers at once, except every
    `every`-th request, which it holds `stall_s` first; it counts both."""

    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

    def __init__(self, every: int = 100, stall_s: float = 0.040):
        self.every, self.stall_s = every, stall_s
        self.served = self.stalled = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:   # wrk resets its connection at the end
                        return
                    if not chunk:
                        return
                    buffer += chunk
                _, buffer = buffer.split(b"\r\n\r\n", 1)
                self.served += 1
                if self.served % self.every == 0:
                    self.stalled += 1
                    time.sleep(self.stall_s)
                try:
                    conn.sendall(self.RESPONSE)
                except OSError:
                    return

    def close(self):
        self.sock.close()
