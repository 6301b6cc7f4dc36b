"""The launch files under the genuine `ros2 launch` (launch, launch_ros and ros2cli from ../shared/ros2_tooling),
with the package built by colcon as on a robot (`make launch-tier` prepares both). Skipped, saying why, where
that tooling is absent; the static checks of test_launch_files.py and the package launcher run everywhere."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TIER = ROOT / "build" / "launch-tier"
VENV, INSTALL = TIER / "venv", TIER / "install"
pytestmark = pytest.mark.skipif(
    not (VENV / "bin" / "ros2").is_file() or not (INSTALL / "gnm_nav" / "share" / "gnm_nav").is_dir(),
    reason="the real ros2 launch tier is not prepared (needs ../shared/ros2_tooling or a ROS install; "
           "`make launch-tier` builds it)")


def _env() -> dict[str, str]:
    base = ROOT / ".venv"
    env = {**os.environ, "AMENT_PREFIX_PATH": f"{INSTALL / 'gnm_nav'}:{VENV}:{base}",
           "PYTHONPATH": str(next((INSTALL / "gnm_nav" / "lib").glob("python3*/site-packages"))),
           "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    env.pop("VIRTUAL_ENV", None)
    return env


def ros2(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """One ros2 CLI call; one that hangs (a daemon-less discovery on a loaded machine) counts as a failed call, so the
    wait_for around it asks again."""
    cmd = [str(VENV / "bin" / "ros2"), *args]
    try:
        return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout} s")


class Launched:
    """`ros2 launch gnm_nav FILE args...` in the background, stopped with Ctrl-C (SIGINT) as at a terminal."""

    def __init__(self, tmp_path: Path, launch_file: str, *args: str) -> None:
        self.log = tmp_path / f"{launch_file}.log"
        self.proc = subprocess.Popen([str(VENV / "bin" / "ros2"), "launch", "gnm_nav", launch_file, *args],
                                     env=_env(), stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_for(self, predicate, timeout: float = 90.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            assert self.proc.poll() is None, f"ros2 launch exited:\n{self.log.read_text()[-3000:]}"
            time.sleep(1.0)
        return predicate()

    def interrupt(self, timeout: float = 60.0) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)  # the terminal's Ctrl-C reaches the whole process group
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)


def nodes() -> set[str]:
    # every ros2 query skips the ros2cli daemon (no process outlives the tests) and so discovers afresh: each one
    # is retried until it sees the node
    return set(ros2("node", "list", "--no-daemon").stdout.split())


@pytest.mark.parametrize("launch_file", ["navigate.launch.py", "sim.launch.py", "build_graph.launch.py",
                                         "replay.launch.py", "policy.launch.py", "safety_filter.launch.py"])
def test_show_args_lists_the_standard_arguments(launch_file):
    result = ros2("launch", "gnm_nav", launch_file, "--show-args")
    assert result.returncode == 0, result.stderr
    for name in ("namespace", "use_sim_time", "params_file", "log_level"):
        assert f"'{name}'" in result.stdout


@pytest.mark.parametrize("namespace", ["", "/robot1"])
def test_sim_launch_drives_namespaced_and_stops_clean(tmp_path, namespace):
    """The simulated robot, the planner and the policy come up (the lifecycle node active, parameters from a
    /**/NODE params file applied, the policy limited like the simulated robot), and Ctrl-C stops them all."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"/**/gnm_policy_node": {"ros__parameters": {"max_rate_hz": 7.0}}}))
    prefix = namespace.rstrip("/")
    launched = Launched(tmp_path, "sim.launch.py", "world:=box_room", f"params_file:={params}",
                        *([f"namespace:={namespace}"] if namespace else []))
    try:
        expected = {f"{prefix}/mujoco_sim_node", f"{prefix}/topological_planner_node", f"{prefix}/gnm_policy_node"}
        assert launched.wait_for(lambda: expected <= nodes()), nodes()
        policy = f"{prefix}/gnm_policy_node"
        assert launched.wait_for(lambda: "active" in ros2("lifecycle", "get", "--no-daemon", policy).stdout)
        assert launched.wait_for(lambda: "7.0" in ros2("param", "get", "--no-daemon", policy, "max_rate_hz").stdout)
        assert launched.wait_for(lambda: "turtlebot" in ros2("param", "get", "--no-daemon", policy,
                                                             "robot_profile").stdout)
        wanted = {f"{prefix}/camera/image_raw", f"{prefix}/odom"}
        assert launched.wait_for(lambda: wanted <= set(ros2("topic", "list", "--no-daemon").stdout.split()), 60)
    finally:
        code = launched.interrupt()
    assert code == 0, launched.log.read_text()[-3000:]


def topics_of(node: str, section: str) -> set[str]:
    """Topic names under `section` (Subscribers, Publishers) of `ros2 node info NODE`."""
    lines = ros2("node", "info", "--no-daemon", node).stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"{section}:"), len(lines))
    found = set()
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        found.add(line.split(":")[0].strip())
    return found


def test_nav2_chain_puts_the_filter_between_the_smoother_and_the_collision_monitor(tmp_path):
    launched = Launched(tmp_path, "navigate.launch.py", "use_safety_filter:=true", "cmd_vel_chain:=nav2")
    try:
        # each daemon-less query discovers afresh and may see nothing yet: retried until it sees the node
        assert launched.wait_for(lambda: "/cmd_vel_smoothed" in topics_of("/ldm_safety_filter_node", "Subscribers"))
        assert launched.wait_for(lambda: "/cmd_vel_filtered" in topics_of("/ldm_safety_filter_node", "Publishers"))
        assert launched.wait_for(lambda: "/cmd_vel_nav" in topics_of("/gnm_policy_node", "Publishers"))
    finally:
        code = launched.interrupt()
    assert code == 0, launched.log.read_text()[-3000:]


def test_build_graph_saves_on_ctrl_c(tmp_path):
    sim = Launched(tmp_path, "sim.launch.py", "world:=box_room")  # the camera to record (its policy idles)
    builder = None
    graph_dir = tmp_path / "graph"
    try:
        assert sim.wait_for(lambda: "/mujoco_sim_node" in nodes())
        builder = Launched(tmp_path, "build_graph.launch.py", f"graph_dir:={graph_dir}", "use_teleop:=false",
                           "use_sim_time:=true")
        assert builder.wait_for(lambda: "/graph_builder_node" in nodes())
        time.sleep(8.0)  # a few seconds of sim time: a node a second
    finally:
        codes = [launched.interrupt() for launched in (builder, sim) if launched is not None]
    assert codes[0] == 0, builder.log.read_text()[-3000:]
    graph = yaml.safe_load((graph_dir / "graph.json").read_text())
    assert len(graph["nodes"]) >= 3
