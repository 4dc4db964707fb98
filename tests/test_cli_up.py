"""`lianjie up`: starts everything, and Ctrl-C leaves no process behind."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from cli.stack import free_port, port_is_free


def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _port_base() -> int:
    for _ in range(50):
        base = free_port() - 1
        if all(port_is_free(base + i) for i in (0, 1, 2, 3)):  # console, services
            return base
    raise RuntimeError("no four consecutive free ports")


@pytest.mark.integration
def test_ctrl_c_on_lianjie_up_stops_every_child(tmp_path: Path) -> None:
    base = _port_base()
    command = [sys.executable, "-m", "cli.main", "up", "--demo", "--households", "5"]
    command += ["--resources", "12", "--var-dir", str(tmp_path), "--port-base", str(base)]
    command += ["--nats-port", str(free_port())]
    # Started with SIGINT ignored, as a shell's background job is: Ctrl-C must still stop it.
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        assert any("Lianjie is up" in line for line in lines), "".join(lines[-30:])
        # Keep reading what it prints: a full pipe would block it mid-line, Ctrl-C included.
        threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
        console = f"http://127.0.0.1:{base}"
        up_at = next(i for i, line in enumerate(lines) if "Lianjie is up" in line)
        assert any(console in line for line in lines[:up_at]), "the console is named first"
        # Signing in through the console's one origin reaches the needs service.
        assert httpx.post(f"{console}/api/needs/auth/token", json={}).status_code == 422
        need_line = next(line for line in lines if "/matches" in line)
        url = need_line.split("POST ", 1)[1].split()[0]
        needs = url.split("/needs/", 1)[0]
        users = (tmp_path / "demo-users.txt").read_text(encoding="utf-8").splitlines()
        assert len(users) == 6, "one demo user per role"
        line = next(u for u in users if u.startswith("demo-social-worker\t"))
        worker, password = line.split("\t")[:2]
        assert httpx.post(url, json={}, timeout=10).status_code == 401
        signed_in = httpx.post(
            f"{needs}/auth/token", data={"username": worker, "password": password}, timeout=10
        )
        assert signed_in.status_code == 200, signed_in.text
        bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        matches = httpx.post(url, json={}, headers=bearer, timeout=10)
        assert matches.status_code == 200 and matches.json()["results"], matches.text
        children = _children(proc.pid)
        assert len(children) >= 4, "expected nats-server and three services"
        proc.send_signal(signal.SIGINT)
        try:  # each child may take its graceful window (25 s) to finish what it was doing
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("Ctrl-C did not stop it within 60 s:\n" + "".join(lines[-40:]))
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    leftovers = [pid for pid in children if _alive(pid)]
    assert leftovers == [], f"processes left behind: {leftovers}"
