"""A Ray cluster of separate processes on this machine, for the tests that lose a node: a head
and worker nodes, each started by its own `ray start --block` in its own session (so that the
test owns each node's process group and can kill one node, as a machine that goes away), each
with its own temp dir (so that every process of a node is found by it in /proc).

`ray stop` is not used: it stops every Ray process of the machine, other runs' included."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))

RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # A loopback test cluster: no token authentication (Ray 2.5x turns it on for `ray start`,
    # and a driver without the token is refused).
    "RAY_AUTH_MODE": "disabled",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Node:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], temp_dir: str) -> None:
        self.name = name
        self.proc = proc
        self.temp_dir = temp_dir

    def pids(self) -> list[int]:
        """Every live process of this node (its `ray start` leads the session they share)."""
        return processes_of(self.proc.pid, self.temp_dir)

    def busy_workers(self) -> list[int]:
        """This node's actor processes that are running a chunk of trials."""
        return [p for p in self.pids() if command_line(p).startswith("ray::_RayWorker.run_many")]

    def kill(self) -> None:
        """SIGKILL to every process of the node (the node is gone at once, as a lost
        machine); returns once they are all gone."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:  # any that left the process group (not the session)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        self.proc.wait(timeout=30)


class LocalCluster:
    """`ray start --head` and `ray start --address` nodes with `cpus` CPUs each."""

    def __init__(self, cpus: int = 1) -> None:
        self.cpus = cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[Node] = []
        self.env = {**os.environ, **RAY_ENV}

    def start_node(self) -> Node:
        head = not self.nodes
        # Short: Ray's unix sockets live under it (a socket path is limited to ~107 chars).
        temp_dir = tempfile.mkdtemp(dir="/tmp", prefix="r")
        where = (
            [f"--port={self.port}", "--include-dashboard=false"]
            if head
            else [f"--address={self.address}"]
        )
        log = open(Path(temp_dir) / "ray-start.log", "wb")  # noqa: SIM115 - the node keeps it
        proc = subprocess.Popen(
            [
                RAY,
                "start",
                *(["--head"] if head else []),
                *where,
                f"--num-cpus={self.cpus}",
                "--num-gpus=0",
                "--node-ip-address=127.0.0.1",
                f"--temp-dir={temp_dir}",
                "--disable-usage-stats",
                "--block",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        node = Node("head" if head else f"node{len(self.nodes)}", proc, temp_dir)
        self.nodes.append(node)
        return node

    def wait_for_cpus(self, cpus: float, timeout: float = 60) -> None:
        """Until the cluster holds `cpus` CPUs (every node registered), asked by a driver in a
        child process (this test process stays clear of Ray)."""
        script = (
            "import sys, time, ray\n"
            f"ray.init(address={self.address!r}, log_to_driver=False)\n"
            f"deadline = time.monotonic() + {timeout}\n"
            f"while ray.cluster_resources().get('CPU', 0) < {cpus}:\n"
            "    if time.monotonic() > deadline:\n"
            "        sys.exit(f'cluster: {ray.cluster_resources()}')\n"
            "    time.sleep(0.2)\n"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # the head's port first
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                self._check_alive()
                time.sleep(0.2)
        subprocess.run(
            [sys.executable, "-c", script], env=self.env, check=True, timeout=timeout + 30,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _check_alive(self) -> None:
        for node in self.nodes:
            if node.proc.poll() is not None:
                log = (Path(node.temp_dir) / "ray-start.log").read_text(errors="replace")
                raise RuntimeError(f"ray start ({node.name}) exited: {log[-2000:]}")

    def pids(self) -> list[int]:
        return sorted({p for node in self.nodes for p in node.pids()})

    def stop(self, grace: float = 2.0) -> list[int]:
        """Every node stopped (SIGTERM to its process group, SIGKILL after `grace` s -- Ray
        takes over 10 s to stop gracefully --, then any straggler that names a node's temp
        dir); the pids still alive after all that (none, unless something escaped)."""
        for node in self.nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.pids():
            time.sleep(0.2)
        for node in self.nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            for pid in node.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            node.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pids():
            time.sleep(0.2)
        left = self.pids()
        for node in self.nodes:
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        return left


def processes_of(session: int, text: str) -> list[int]:
    """Live (not zombie) processes of session `session` or whose command line contains `text`
    (Ray renames its workers' command lines, `ray::_RayWorker.run_many`, so the session is
    what finds them; the text finds any that left it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        cmdline = command_line(int(entry.name))
        state, _ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if state != "Z" and (int(sid) == session or text in cmdline):
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")
