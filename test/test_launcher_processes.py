"""The process launcher: parameter layering on the command line, clean stop, escalation, no orphans,
early deaths reported with the node's log. Uses tiny stand-in node modules (no ROS) to stay fast."""
from __future__ import annotations

import os
import sys
import textwrap
import time
from dataclasses import replace

import pytest
import yaml

from gnm_nav.common.paths import config_dir
from gnm_nav.launching.node_sets import LaunchOptions, NodeSpec, package_node
from gnm_nav.launching.processes import Launcher, LaunchError, node_command

FAKE_NODES = {
    # exits cleanly on SIGINT after writing a marker, like a node saving its state
    "polite_node": """
        import signal, sys, time
        from pathlib import Path
        def stop(*_):
            if "--marker" in sys.argv:
                Path(sys.argv[sys.argv.index("--marker") + 1]).write_text("saved")
            sys.exit(0)
        signal.signal(signal.SIGINT, stop)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
    """,
    # ignores SIGINT and SIGTERM and starts a grandchild: only SIGKILL of the whole group ends them
    "stubborn_node": """
        import signal, subprocess, sys, time
        from pathlib import Path
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pidfile = Path(sys.argv[sys.argv.index("--pidfile") + 1])
        pidfile.with_suffix(".tmp").write_text(str(child.pid))
        pidfile.with_suffix(".tmp").replace(pidfile)  # atomically: the test reads it as soon as it exists
        while True:
            time.sleep(0.05)
    """,
    "crashing_node": """
        import sys
        print("loading the model...", flush=True)
        print("fatal: model file /nope.onnx not found", file=sys.stderr, flush=True)
        sys.exit(3)
    """,
}


@pytest.fixture
def fake_env(tmp_path):
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    for name, source in FAKE_NODES.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(source))
    return {"PYTHONPATH": f"{pkg}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purposes
        return f.read().split()[2] != "Z"


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_command_layers_package_config_then_params_file_then_overrides(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("/**:\n  ros__parameters: {}\n")
    spec = package_node("topological_planner_node", "topological_planner_node", ("planner.yaml",), {"goal_node": 4})
    opts = LaunchOptions(namespace="robot1", params_file=user, log_level="debug")
    cmd = node_command(spec, opts, tmp_path / "over.yaml")
    assert cmd[:3] == [sys.executable, "-m", "gnm_nav.nodes.planner_node"]
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files == [str(config_dir() / "planner.yaml"), str(user), str(tmp_path / "over.yaml")]
    assert ["-r", "__node:=topological_planner_node"] == cmd[4:6] and "__ns:=/robot1" in cmd
    assert cmd[-2:] == ["--log-level", "debug"]
    remapped = node_command(replace(spec, remappings=(("cmd_vel", "cmd_vel_filtered"),)), opts, tmp_path / "o.yaml")
    assert remapped[remapped.index("cmd_vel:=cmd_vel_filtered") - 1] == "-r"


def test_overrides_file_keeps_types(tmp_path, fake_env):
    spec = NodeSpec("polite", "polite_node", params={"world": "7", "spawn_pose": [1.0, 2.0, 0.5], "goal_node": 3})
    with Launcher(tmp_path / "logs", env=fake_env) as launcher:
        launcher.start_node(spec.with_params())
    data = yaml.safe_load((tmp_path / "logs" / "polite.params.yaml").read_text())
    assert data == {"/**": {"ros__parameters": {"world": "7", "spawn_pose": [1.0, 2.0, 0.5], "goal_node": 3}}}


def test_stubborn_node_and_its_child_are_killed(tmp_path, fake_env, monkeypatch):
    import gnm_nav.launching.processes as processes

    pidfile = tmp_path / "child.pid"
    real = processes.node_command
    monkeypatch.setattr(processes, "node_command",
                        lambda spec, opts, over: real(spec, opts, over) + ["--pidfile", str(pidfile)])
    launcher = Launcher(tmp_path / "logs", env=fake_env, stop_grace_s=0.5)
    node = launcher.start_node(NodeSpec("stubborn", "stubborn_node"))
    assert _wait(pidfile.exists)
    child = int(pidfile.read_text())
    started = time.monotonic()
    codes = launcher.stop()
    assert codes["stubborn"] == -9  # SIGINT and SIGTERM were ignored
    assert time.monotonic() - started < 10
    assert not _alive(node.process.pid)
    assert _wait(lambda: not _alive(child), 5.0), "the node's own child outlived it"


def test_polite_node_saves_on_sigint(tmp_path, fake_env, monkeypatch):
    import gnm_nav.launching.processes as processes

    marker = tmp_path / "saved"
    real = processes.node_command
    monkeypatch.setattr(processes, "node_command",
                        lambda spec, opts, over: real(spec, opts, over) + ["--marker", str(marker)])
    with Launcher(tmp_path / "logs", env=fake_env) as launcher:
        launcher.start_node(NodeSpec("polite", "polite_node"))
        log = tmp_path / "logs" / "polite.log"
        assert _wait(lambda: "ready" in log.read_text())
        launcher.check()
        codes = launcher.stop()
    assert codes == {"polite": 0}
    assert marker.read_text() == "saved"
    assert "-m polite_node --ros-args -r __node:=polite" in log.read_text()  # the command heads the log


def test_early_death_is_reported_with_the_log_tail(tmp_path, fake_env):
    with Launcher(tmp_path / "logs", env=fake_env) as launcher:
        launcher.start_node(NodeSpec("crashing", "crashing_node"))
        node = launcher.nodes["crashing"]
        assert _wait(lambda: not node.alive)
        with pytest.raises(LaunchError) as info:
            launcher.check()
    message = str(info.value)
    assert "crashing exited with status 3" in message
    assert "model file /nope.onnx not found" in message


def test_exception_inside_the_block_still_stops_everything(tmp_path, fake_env):
    pids = []
    with pytest.raises(KeyboardInterrupt):
        with Launcher(tmp_path / "logs", env=fake_env, stop_grace_s=0.5) as launcher:
            launcher.start([NodeSpec("a", "polite_node"), NodeSpec("b", "stubborn_node")])
            pids = launcher.pids()
            raise KeyboardInterrupt
    assert len(pids) == 2 and not any(_alive(p) for p in pids)


def test_missing_params_file_is_refused(tmp_path):
    launcher = Launcher(tmp_path / "logs", LaunchOptions(params_file=tmp_path / "nope.yaml"))
    with pytest.raises(LaunchError, match="nope.yaml does not exist"):
        launcher.start_node(NodeSpec("x", "polite_node"))
