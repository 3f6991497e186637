"""The server measured is the server started (session/server.prove_identity):
run here against real listening processes, the shell script as the server
host would run it."""
import socket
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import invoke
import pytest

from runner.core.errors import StepFailed
from runner.session import server

pytestmark = [pytest.mark.integration]


class LocalConn:
    """What prove_identity needs of a Fabric connection, on this machine."""

    def run(self, command, **kwargs):
        return invoke.run(command, **kwargs)


def listener(port: int, new_session: bool):
    """A real process listening on 127.0.0.1:port (SO_REUSEPORT, so that two
    can share the port, as a second server of another run could)."""
    code = textwrap.dedent(f"""
        import socket, time
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", {port})); s.listen()
        print("up", flush=True); time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=new_session)
    assert proc.stdout.readline().strip() == "up"
    return proc


@pytest.fixture
def port(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    monkeypatch.setattr(server, "PORT", free)
    return free


def test_only_the_started_session_may_hold_the_port(port):
    ctx = SimpleNamespace(server_conn=LocalConn())
    started = listener(port, new_session=True)       # setsid: session id == its pid
    intruder = None
    try:
        facts = server.prove_identity(ctx, started.pid, "after readiness")
        assert facts["listen_sockets"] == (1.0, "count") and facts["listen_backlog"][0] > 0
        intruder = listener(port, new_session=True)
        with pytest.raises(StepFailed) as err:
            server.prove_identity(ctx, started.pid, "after the measured window")
        assert (f"after the measured window: port {port} is held by pid {intruder.pid} (python"
                in str(err.value))
        started.kill()
        started.wait(timeout=30)
        # Only the intruder is left: it answers, but it is not ours.
        with pytest.raises(StepFailed, match=f"held by pid {intruder.pid}"):
            server.prove_identity(ctx, started.pid, "after readiness")
        intruder.kill()
        intruder.wait(timeout=30)
        with pytest.raises(StepFailed, match="nothing listens on port"):
            server.prove_identity(ctx, started.pid, "after the measured window")
    finally:
        for p in (started, intruder):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=30)


def test_a_socket_whose_owner_is_hidden_counts_as_foreign():
    out = "listen LISTEN 0 5 198.18.0.11:8000 0.0.0.0:*\n"
    assert server.foreign_listeners(out, 42) == (1, ["? (its owner is not visible here)"])
    facts = server.listen_facts(out + "listen LISTEN 0 2048 198.18.0.11:8000 0.0.0.0:*\n")
    assert facts == {"listen_sockets": (2.0, "count"), "listen_backlog": (2048.0, "count")}
    ours = ('listen LISTEN 0 5 198.18.0.11:8000 0.0.0.0:* users:(("gunicorn",pid=42,fd=5),'
            '("gunicorn",pid=43,fd=5))\nowner 42 42 gunicorn\nowner 43 42 gunicorn\n')
    assert server.foreign_listeners(ours, 42) == (1, [])
