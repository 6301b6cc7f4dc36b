"""gnm_policy_node over real DDS: camera + subgoal in, commands and waypoints out; zero on stale input;
alive after a flood of malformed images; stays up (commanding zero) without a model."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Path
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from gnm_nav.control.supervisor import Mode, Reason
from gnm_nav.nodes.policy_node import PolicyNode
from gnm_nav.ros.images import rgb_to_msg
from gnm_nav.ros.time import stamp_to_sec

MAX_V, MAX_W = 0.3, 0.5


def _node(ros, model_path, **overrides) -> PolicyNode:
    params = {"gnm_model_path": str(model_path), "max_v": MAX_V, "max_w": MAX_W, "source_timeout": 0.6,
              "image_qos": "reliable", "max_rate_hz": 10.0, **overrides}
    return ros.add(PolicyNode(context=ros.context,
                              parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))


@contextmanager
def _configured(node: PolicyNode) -> Iterator[None]:
    """Once autostart has configured the node, hold its lock (to swap a part of its core for a test's)."""
    deadline = time.monotonic() + 20.0
    while node._supervisor is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node._supervisor is not None, node._reason
    with node._lock:
        yield


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


def _drive(ros, camera, subgoal, frames, until, timeout=20.0, fps=20.0, encode=None) -> bool:
    """A live camera (each frame stamped when sent, cycling through frames) and, unless subgoal is None, a
    fixed subgoal, until until(). Stamping with the send time keeps frames fresh on a slow, loaded machine.
    encode(rgb, stamp) makes the camera message (default: a raw Image).
    """
    encode = encode or (lambda rgb, stamp: rgb_to_msg(rgb, stamp, "camera"))
    ros.wait_matched(*(p for p in (camera, subgoal) if p is not None))
    deadline, i = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and not until():
        now = time.time()
        if subgoal is not None:
            subgoal.publish(rgb_to_msg(frames[0], now, "camera"))
        camera.publish(encode(frames[i % len(frames)], now))
        i += 1
        time.sleep(1.0 / fps)
    return until()


def reason(node: PolicyNode) -> Reason | None:
    return node._decision.reason if node._decision is not None else None


def driving(node: PolicyNode) -> bool:
    return node._decision is not None and node._decision.mode is Mode.MODEL


def _moving(cmds) -> list:
    return [m for m in cmds if (m.twist.linear.x, m.twist.angular.z) != (0.0, 0.0)]


def test_commands_and_waypoints_within_limits_then_zero_when_stale(ros, gnm_model_path):
    _node(ros, gnm_model_path)
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    paths = ros.collect(Path, "gnm/waypoints")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    sent: list[float] = []
    assert _drive(ros, camera, subgoal, _frames(8), until=lambda: len(paths) >= 5,  # context (1.25 s) fills
                  encode=lambda rgb, stamp: sent.append(stamp) or rgb_to_msg(rgb, stamp, "camera"))
    path = paths[-1]
    assert path.header.frame_id == "base_link" and len(path.poses) == 5
    assert all(np.isfinite(p.pose.position.x) for p in path.poses)
    assert cmds, "no commands"
    for m in cmds:
        assert 0.0 <= m.twist.linear.x <= MAX_V + 1e-9 and abs(m.twist.angular.z) <= MAX_W + 1e-9
        assert m.header.frame_id == "base_link"
    # a command from the model carries the stamp of the camera frame it answered (so its age is measurable)
    answered = [stamp_to_sec(m.header.stamp) for m in _moving(cmds)]
    assert answered and all(min(abs(a - s) for s in sent) < 1e-6 for a in answered)
    # Camera stops: within source_timeout (+ watchdog period) the node commands zero.
    n = len(cmds)
    assert ros.wait_for(lambda: len(cmds) > n + 3, timeout=5)
    time.sleep(0.3)
    latest = cmds[-1].twist
    assert (latest.linear.x, latest.angular.z) == (0.0, 0.0)


def test_stale_subgoal_stops_robot(ros, gnm_model_path):
    node = _node(ros, gnm_model_path)
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    frames = _frames(8)
    assert _drive(ros, camera, subgoal, frames, until=lambda: driving(node)), f"never drove: {node._reason}"
    # the camera keeps coming, the subgoal does not: the node must stop for the subgoal, not the camera
    assert _drive(ros, camera, None, frames, until=lambda: reason(node) is Reason.SUBGOAL_STALE), node._reason
    assert ros.wait_for(lambda: (cmds[-1].twist.linear.x, cmds[-1].twist.angular.z) == (0.0, 0.0), timeout=2)


def test_subgoal_pose_reaches_the_policy_while_fresh(ros, gnm_model_path):
    """gnm/subgoal_pose (the planner's odometry place of the subgoal) feeds the policy step; NaN or stale, nothing."""
    from geometry_msgs.msg import PoseStamped

    node = _node(ros, gnm_model_path)
    pose_pub = ros.publisher(PoseStamped, "gnm/subgoal_pose")
    ros.wait_matched(pose_pub)
    assert ros.wait_for(lambda: node._policy is not None, timeout=10)

    def target(x: float, y: float) -> PoseStamped:
        msg = PoseStamped()
        msg.header.frame_id = "base_link"
        msg.pose.position.x, msg.pose.position.y = x, y
        return msg

    pose_pub.publish(target(float("nan"), 0.0))
    time.sleep(0.3)
    assert node._fresh_subgoal_offset() is None
    pose_pub.publish(target(0.5, 2.0))
    assert ros.wait_for(lambda: node._fresh_subgoal_offset() is not None, timeout=5)
    assert node._fresh_subgoal_offset().tolist() == [0.5, 2.0]
    time.sleep(0.8)  # older than source_timeout (0.6 s): ignored
    assert node._fresh_subgoal_offset() is None


def test_lost_robot_turns_on_the_spot_then_gives_up(ros, gnm_model_path):
    from std_msgs.msg import Bool

    from gnm_nav.control.recovery import HeadingSweep, SweepConfig

    node = _node(ros, gnm_model_path)
    with _configured(node):  # a short sweep: the core's defaults take half a minute
        node._supervisor.sweep = HeadingSweep(SweepConfig(after_s=0.3, turn_rate=0.4, amplitude_rad=0.3, sweeps=1))
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    camera, lost = ros.publisher(Image, "camera/image_raw"), ros.publisher(Bool, "gnm/localization_lost")
    ros.wait_matched(lost)
    frames = _frames(8)
    sent = [0]

    def camera_and_lost(until, timeout):
        """A live camera, no subgoal, and the planner saying "lost" with every frame."""
        def tick():
            lost.publish(Bool(data=True))
            sent[0] += 1
            return until()
        return _drive(ros, camera, None, frames, until=tick, timeout=timeout)

    assert camera_and_lost(lambda: any(m.twist.angular.z < 0 for m in cmds), 15.0), node._reason
    assert reason(node) is Reason.LOST
    assert camera_and_lost(lambda: any(m.twist.angular.z > 0 for m in cmds), 10.0), node._reason  # then left
    turning = [m.twist for m in cmds if m.twist.angular.z != 0.0]
    assert all(t.linear.x == 0.0 and abs(t.angular.z) == pytest.approx(0.4) for t in turning)  # on the spot
    n = len(cmds)  # the single swing to each side is over: it stops and stays stopped
    assert camera_and_lost(lambda: len(cmds) > n + 40 and cmds[-1].twist.angular.z == 0.0
                           and all(m.twist.angular.z == 0.0 for m in list(cmds)[-20:]), 15.0)
    assert sent[0] > 0 and reason(node) is not Reason.LOST


def test_pushing_without_moving_backs_up_then_drives_again(ros, gnm_model_path):
    """The base is told to go forward (cmd_vel, after the filter) while the odometry stands still: the node
    backs up (straight, reversing) until the odometry has moved backup_distance_m, then the model drives again."""
    from nav_msgs.msg import Odometry

    from gnm_nav.control.recovery import BackUpConfig, StallBackUp

    node = _node(ros, gnm_model_path)
    with _configured(node):  # a short stall window and back-up
        node._backup = node._supervisor.backup = StallBackUp(BackUpConfig(stall_s=0.5, distance_m=0.1, speed=0.1))
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    odom, base = ros.publisher(Odometry, "odom"), ros.publisher(TwistStamped, "cmd_vel")
    ros.wait_matched(odom, base)
    x = [0.0]

    def feed(until):
        def tick():
            ours = cmds[-1].twist.linear.x if cmds else 0.0
            told = TwistStamped()
            told.twist.linear.x = 0.2 if ours >= 0 else ours  # forward: the filter passes 0.2; back-up: as asked
            base.publish(told)
            if ours < 0:
                x[0] += ours * 0.05  # only backwards is free
            msg = Odometry()
            msg.pose.pose.position.x, msg.pose.pose.orientation.w = x[0], 1.0
            odom.publish(msg)
            return until()
        return tick

    frames = _frames(8)
    assert _drive(ros, camera, subgoal, frames, until=feed(lambda: driving(node))), f"never drove: {node._reason}"
    assert _drive(ros, camera, subgoal, frames, until=feed(lambda: reason(node) is Reason.STALLED)), node._reason
    assert ros.wait_for(lambda: any(m.twist.linear.x < 0 for m in cmds), timeout=2)
    backing = [m.twist for m in cmds if m.twist.linear.x < 0]
    assert all(t.linear.x == pytest.approx(-0.1) and t.angular.z == 0.0 for t in backing)
    assert _drive(ros, camera, subgoal, frames, until=feed(lambda: driving(node))), node._reason  # backed off: drives
    assert x[0] <= -0.1 + 1e-9 and node._backup.backups >= 1


def test_twist_and_compressed_transport(ros, gnm_model_path):
    import cv2

    _node(ros, gnm_model_path, enable_stamped_cmd_vel=False, image_transport="compressed")
    cmds = ros.collect(Twist, "cmd_vel_nav")
    paths = ros.collect(Path, "gnm/waypoints")
    camera = ros.publisher(CompressedImage, "camera/image_raw/compressed")
    subgoal = ros.publisher(Image, "gnm/subgoal")

    def jpeg(rgb, stamp: float) -> CompressedImage:
        msg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", rgb[:, :, ::-1])[1].tobytes())
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp), int((stamp % 1) * 1e9)
        return msg

    assert _drive(ros, camera, subgoal, _frames(8), until=lambda: len(paths) >= 3, encode=jpeg)
    assert cmds and all(abs(m.angular.z) <= MAX_W + 1e-9 for m in cmds)


def _fuzzed_images(n: int) -> list[Image]:
    rng = np.random.default_rng(7)
    encodings = ["rgb8", "bgr8", "mono8", "yuv422", "rgba8", "32FC1", "bogus", "", "bayer_rggb8", "16UC1"]
    msgs = []
    for _ in range(n):
        w, h = int(rng.integers(0, 40)), int(rng.integers(0, 30))
        msg = Image(width=w, height=h, encoding=str(rng.choice(encodings)))
        msg.step = int(rng.integers(0, 4 * w + 8))
        msg.data = rng.integers(0, 256, int(rng.integers(0, msg.step * h + 16)), dtype=np.uint8).tobytes()
        msgs.append(msg)
    return msgs


def test_fuzzed_images_do_not_kill_the_node(ros, gnm_model_path):
    node = _node(ros, gnm_model_path)
    diags = ros.collect(DiagnosticArray, "/diagnostics")
    paths = ros.collect(Path, "gnm/waypoints")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    assert ros.wait_for(lambda: node._camera is not None, timeout=10)
    ros.wait_matched(camera)
    for msg in _fuzzed_images(300):
        camera.publish(msg)
        time.sleep(0.002)  # the reader keeps 5 messages: pace the flood so most are really received
    assert ros.wait_for(lambda: node._camera.errors >= 100, timeout=30), node._camera.errors
    assert node._camera.errors >= 0.95 * node._camera.received
    assert _drive(ros, camera, subgoal, _frames(8), until=lambda: len(paths) >= 3)  # still alive and answering
    assert ros.wait_for(lambda: any(kv.key == "image_decode_errors" and int(kv.value) >= 100
                                    for d in diags for s in d.status for kv in s.values), timeout=5)


def test_missing_model_keeps_node_up_commanding_zero(ros, tmp_path):
    node = _node(ros, tmp_path / "missing.onnx")
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    diags = ros.collect(DiagnosticArray, "/diagnostics")
    assert ros.wait_for(lambda: len(cmds) >= 3, timeout=10)
    assert all((m.twist.linear.x, m.twist.angular.z) == (0.0, 0.0) for m in cmds)
    assert ros.wait_for(lambda: any("missing.onnx" in s.message for d in diags for s in d.status), timeout=5)
    assert node._policy is None


def test_a_frame_from_the_future_cannot_freeze_the_context_and_old_frames_stop_the_robot(ros, gnm_model_path):
    node = _node(ros, gnm_model_path)
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    paths = ros.collect(Path, "gnm/waypoints")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    frames = _frames(8)
    assert _drive(ros, camera, subgoal, frames, until=lambda: len(paths) >= 3)
    camera.publish(rgb_to_msg(frames[1], time.time() + 2.2, "camera"))  # one frame stamped 2.2 s ahead
    n = len(paths)
    assert _drive(ros, camera, subgoal, frames, until=lambda: len(paths) >= n + 4)
    # the context goes on taking the camera's frames (taken, the future one would have held them all out)
    assert abs(node._frames.latest_stamp - time.time()) < 0.5
    # frames stamped 2 s before the newest are not used: the camera goes stale and the robot stops (for 1.5 s,
    # before their stamps pass the newest)
    stop_at = time.monotonic() + 1.5
    while time.monotonic() < stop_at:
        subgoal.publish(rgb_to_msg(frames[0], time.time(), "camera"))
        camera.publish(rgb_to_msg(frames[2], time.time() - 2.0, "camera"))
        time.sleep(0.05)
    latest = cmds[-1].twist
    assert (latest.linear.x, latest.angular.z) == (0.0, 0.0)


def test_a_slow_camera_frame_does_not_hold_up_the_stop(ros, gnm_model_path, monkeypatch):
    """A frame that takes seconds to decode (a huge or hostile one) blocks only the camera's callback: the
    watchdog still sees the camera go stale and commands zero."""
    import gnm_nav.ros.images as images

    decode = images.msg_to_rgb

    def slow_for_odd_widths(msg):
        if msg.width == 63:
            time.sleep(3.0)
        return decode(msg)

    monkeypatch.setattr(images, "msg_to_rgb", slow_for_odd_widths)
    _node(ros, gnm_model_path)
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    assert _drive(ros, camera, subgoal, _frames(8), until=lambda: bool(_moving(cmds)))
    slow = np.zeros((48, 63, 3), np.uint8)
    camera.publish(rgb_to_msg(slow, time.time(), "camera"))
    blocked_at = time.monotonic()
    deadline = blocked_at + 2.5
    while time.monotonic() < deadline:  # the subgoal stays fresh; the camera is stuck in the slow decode
        subgoal.publish(rgb_to_msg(_frames(1)[0], time.time(), "camera"))
        time.sleep(0.05)
    zeros = [m for m in cmds if (m.twist.linear.x, m.twist.angular.z) == (0.0, 0.0)]
    assert zeros and cmds[-1].twist.linear.x == 0.0 and cmds[-1].twist.angular.z == 0.0


def test_an_arrived_robot_is_idle_not_faulty(ros, gnm_model_path):
    from std_msgs.msg import Bool

    from gnm_nav.ros.qos import LATCHED

    node = _node(ros, gnm_model_path)
    cmds = ros.collect(TwistStamped, "cmd_vel_nav")
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    camera, subgoal = ros.publisher(Image, "camera/image_raw"), ros.publisher(Image, "gnm/subgoal")
    reached = ros.probe.create_publisher(Bool, "gnm/goal_reached", LATCHED)
    assert _drive(ros, camera, subgoal, _frames(8), until=lambda: bool(_moving(cmds)))
    reached.publish(Bool(data=True))  # the planner declares the goal and sends no more subgoals
    assert _drive(ros, camera, None, _frames(8), until=lambda: reason(node) is Reason.GOAL_REACHED, timeout=10)
    n = len(diagnostics)
    assert _drive(ros, camera, None, _frames(8), until=lambda: len(diagnostics) > n + 1, timeout=5)  # camera on
    status = diagnostics[-1].status[0]
    assert status.level == b"\x00" and "goal reached" in status.message  # OK, not a stale-subgoal warning
    assert (cmds[-1].twist.linear.x, cmds[-1].twist.angular.z) == (0.0, 0.0)
