"""Start node sets as separate OS processes, each with its own log file, and always take them down again.

Every node runs in its own process group (so a Ctrl-C at the terminal reaches only the launcher, which
then stops the nodes in order) and is tied to the launcher's life on Linux (PR_SET_PDEATHSIG), so a
launcher killed outright does not leave nodes running. Stopping is SIGINT (nodes save state and exit
cleanly), then SIGTERM, then SIGKILL, each after a grace period.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable

import yaml

from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.paths import config_dir
from gnm_nav.launching.node_sets import LaunchOptions, NodeSpec

LOG_TAIL_LINES = 20


class LaunchError(GnmNavError):
    """A node could not be started, or died while it should be running (the message holds its log tail)."""


def _child_setup() -> None:
    """Child side of Popen: SIGINT handled normally (even if the launcher was started with it ignored, as
    background jobs are), and SIGTERM when the launcher dies (Linux only)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def node_command(spec: NodeSpec, opts: LaunchOptions, overrides_file: Path) -> list[str]:
    """The command line of one node, with the parameter layers in launch-file order."""
    cmd = [*shlex.split(spec.prefix), sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}"]
    if opts.namespace:
        cmd += ["-r", f"__ns:=/{opts.namespace.strip('/')}"]
    for old, new in spec.remappings:
        cmd += ["-r", f"{old}:={new}"]
    for name in spec.configs:
        cmd += ["--params-file", str(config_dir() / name)]
    if opts.params_file is not None:
        cmd += ["--params-file", str(opts.params_file)]
    cmd += ["--params-file", str(overrides_file), "--log-level", opts.log_level]
    return cmd


@dataclass
class RunningNode:
    spec: NodeSpec
    process: subprocess.Popen
    log_path: Path
    log_file: IO[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class Launcher:
    """`with Launcher(log_dir, opts) as launcher: launcher.start(specs); ...; launcher.check()`."""

    def __init__(self, log_dir: str | Path, opts: LaunchOptions = LaunchOptions(), env: dict[str, str] | None = None,
                 stop_grace_s: float = 10.0) -> None:
        self.log_dir = Path(log_dir)
        self.opts = opts
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.stop_grace_s = stop_grace_s
        self.nodes: dict[str, RunningNode] = {}

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, specs: Iterable[NodeSpec]) -> None:
        for spec in specs:
            self.start_node(spec)

    def start_node(self, spec: NodeSpec) -> RunningNode:
        if spec.name in self.nodes and self.nodes[spec.name].alive:
            raise LaunchError(f"node {spec.name} is already running")
        if self.opts.params_file is not None and not Path(self.opts.params_file).is_file():
            raise LaunchError(f"params_file {self.opts.params_file} does not exist")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        overrides = self.log_dir / f"{spec.name}.params.yaml"
        # a YAML file, not `-p k:=v`: it keeps types exact (the string "7" stays a string, lists stay lists)
        overrides.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(spec.params)}}), encoding="utf-8")
        log_path = self.log_dir / f"{spec.name}.log"
        log_file = open(log_path, "ab")
        cmd = node_command(spec, self.opts, overrides)
        log_file.write(f"$ {shlex.join(cmd)}\n".encode())
        log_file.flush()
        try:
            process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if not spec.prefix else None, stdout=log_file,
                                       stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
                                       preexec_fn=_child_setup)
        except OSError as exc:
            log_file.close()
            raise LaunchError(f"cannot start node {spec.name}: {exc}") from exc
        node = RunningNode(spec, process, log_path, log_file)
        self.nodes[spec.name] = node
        return node

    def check(self) -> None:
        """Raise LaunchError naming every node that exited, with the tail of its log."""
        dead = [n for n in self.nodes.values() if not n.alive]
        if dead:
            raise LaunchError("; ".join(
                f"node {n.spec.name} exited with status {n.process.returncode}; last lines of {n.log_path}:\n"
                f"{log_tail(n.log_path)}" for n in dead))

    def stop(self, names: Iterable[str] | None = None, grace_s: float | None = None) -> dict[str, int]:
        """Stop nodes (default all, newest first): SIGINT, then SIGTERM, then SIGKILL. Returns exit statuses."""
        grace = self.stop_grace_s if grace_s is None else grace_s
        chosen = [self.nodes[n] for n in names] if names is not None else list(reversed(self.nodes.values()))
        for sig, wait_s in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            running = [n for n in chosen if n.alive]
            if not running:
                break
            for node in running:
                _signal_group(node.process, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(n.alive for n in running):
                time.sleep(0.05)
        for node in chosen:
            _signal_group(node.process, signal.SIGKILL)  # anything the node itself left behind in its group
            node.process.wait()
            node.log_file.close()
        codes = {n.spec.name: n.process.returncode for n in chosen}
        for name in codes:
            self.nodes.pop(name, None)
        return codes

    def pids(self) -> list[int]:
        return [n.process.pid for n in self.nodes.values()]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
