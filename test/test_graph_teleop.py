"""keyboard_teleop: key handling (stop when released, speed keys), terminal restore, and what it publishes."""
from __future__ import annotations

import os
import termios

import pytest
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.parameter import Parameter

from gnm_nav.nodes.keyboard_teleop import RawTerminal, TeleopCore, TeleopNode, split_keys


def test_moves_only_while_keys_repeat():
    core = TeleopCore(speed=0.2, turn=0.5, key_timeout=0.6, stop_pub_timeout=1.0)
    assert core.command(0.0) is None  # quiet before the first key
    core.press("i", 10.0)
    assert core.command(10.1) == (0.2, 0.0)
    core.press("i", 10.5)  # key repeat keeps it going
    assert core.command(11.0) == (0.2, 0.0)
    assert core.command(11.2) == (0.0, 0.0)  # released: no repeat for > key_timeout -> stop
    assert core.command(12.0) == (0.0, 0.0)  # zero for stop_pub_timeout after stopping (at 11.1) ...
    assert core.command(12.2) is None  # ... then quiet
    core.press("u", 20.0)
    assert core.command(20.0) == (0.2, 0.5)
    core.press(" ", 20.1)
    assert core.command(20.2) == (0.0, 0.0)


def test_speed_keys_scale_and_clamp():
    core = TeleopCore(speed=0.2, turn=0.5, max_speed=0.25, max_turn=2.0)
    assert "0.22 m/s" in core.press("q", 0.0)
    core.press("e", 0.0)
    assert core.turn == pytest.approx(0.5 * 1.1 * 1.1)
    for _ in range(5):
        core.press("w", 0.0)
    assert core.speed == 0.25
    core.press("z", 0.0)
    assert core.speed == pytest.approx(0.225)
    assert core.press("?", 0.0) == ""


def test_arrow_keys_are_split_from_escape_sequences():
    assert split_keys("i\x1b[A\x1b[Dk") == ["i", "\x1b[A", "\x1b[D", "k"]
    core = TeleopCore(speed=0.3, turn=0.7)
    core.press("\x1b[C", 0.0)
    assert core.command(0.1) == (0.0, -0.7)


def test_terminal_mode_is_restored_even_after_an_error():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with pytest.raises(RuntimeError):
            with RawTerminal(slave) as term:
                assert not termios.tcgetattr(slave)[3] & termios.ICANON  # raw (cbreak) inside
                os.write(master, b"i")
                assert term.read(1.0) == "i"
                raise RuntimeError("boom")
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="not a tty"):
            RawTerminal(devnull)
    finally:
        os.close(devnull)


@pytest.mark.parametrize("stamped, msg_type", [(True, TwistStamped), (False, Twist)])
def test_publishes_twist_stamped_or_twist(ros, stamped, msg_type):
    node = ros.add(TeleopNode(context=ros.context, cli_args=["--ros-args", "-r", "cmd_vel:=teleop_cmd"],
                              parameter_overrides=[Parameter("enable_stamped_cmd_vel", value=stamped)]))
    received = ros.collect(msg_type, "teleop_cmd")
    node.core.press("i", 0.0)

    def keep_publishing() -> bool:
        node.publish_command(0.1)
        return bool(received)

    assert ros.wait_for(keep_publishing, timeout=10.0)
    twist = received[0].twist if stamped else received[0]
    assert twist.linear.x == pytest.approx(0.2) and twist.angular.z == 0.0
    if stamped:
        assert received[0].header.frame_id == "base_link"


def test_teleop_process_drives_then_stops_on_ctrl_c_and_restores_the_terminal(ros):
    """keyboard_teleop in a pseudo-terminal: held key -> motion, Ctrl-C -> a final zero, terminal as before."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    received = ros.collect(TwistStamped, "cmd_vel")
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([sys.executable, "-m", "gnm_nav.nodes.keyboard_teleop"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert ros.wait_for(lambda: ros.probe.count_publishers("cmd_vel") > 0, timeout=20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(m.twist.linear.x > 0 for m in received):
            os.write(master, b"i")  # a held key repeats
            time.sleep(0.05)
        assert any(m.twist.linear.x == pytest.approx(0.2) for m in received)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
        assert termios.tcgetattr(slave) == before
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, output
    assert ros.wait_for(lambda: received[-1].twist.linear.x == 0.0, timeout=5)
