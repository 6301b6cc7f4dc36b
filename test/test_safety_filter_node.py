"""ldm_safety_filter_node over real Fast DDS with a trained LDM and real camera frames."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String
from test_ldm_support import trained_ldm

from gnm_nav.data.gnm_format import read_dataset
from gnm_nav.ldm.export import load_ldm_card
from gnm_nav.ros.images import rgb_to_msg
from gnm_nav.ros.time import sec_to_stamp, stamp_to_sec

FAST = {"source_timeout": 0.6, "stop_pub_timeout": 0.5, "fallback_timeout": 0.4, "image_qos": "reliable",
        "providers": "cpu"}


class CameraFeed:
    """Publishes a training trajectory's frames at 4 Hz (as recorded) until stopped."""

    def __init__(self, ros, frames) -> None:
        self._pub = ros.publisher(Image, "camera/image_raw")
        self._frames = frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            self._pub.publish(rgb_to_msg(self._frames[i % len(self._frames)], time.time(), "camera"))
            i += 1
            self._stop.wait(0.25)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def ldm(tmp_path_factory):
    model, encoder = trained_ldm(tmp_path_factory)
    traj = read_dataset(model.parent / "data")[0].trajectories[0]
    return model, encoder, [traj.load_image(i) for i in range(len(traj))]


def start(ros, model, encoder, **params):
    from gnm_nav.nodes.safety_filter_node import SafetyFilterNode

    values = {"ldm_model_path": str(model), "gnm_model_path": str(encoder)} | FAST | params
    node = ros.add(SafetyFilterNode(context=ros.context,
                                    parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]))
    return node


def twist(v: float, w: float) -> TwistStamped:
    msg = TwistStamped()
    msg.twist.linear.x = v
    msg.twist.angular.z = w
    return msg


class Rig:
    def __init__(self, ros, ldm, **params) -> None:
        model, encoder, frames = ldm
        self.ros = ros
        self.out = ros.collect(TwistStamped, "cmd_vel")
        self.states = ros.collect(String, "gnm/safety_state")
        self.diag = ros.collect(DiagnosticArray, "/diagnostics")
        self.cmd = ros.publisher(TwistStamped, "cmd_vel_nav")
        self.node = start(ros, model, encoder, **params)
        self.camera = CameraFeed(ros, frames)
        assert ros.wait_for(lambda: self.node._filter is not None and math.isfinite(self.node._filter.camera_age(
            self.node._now())), timeout=20), self.node._reason
        ros.wait_matched(self.cmd)

    def send(self, v: float, w: float, timeout: float = 5.0, stamp: float = 0.0) -> TwistStamped:
        before = len(self.out)
        msg = twist(v, w)
        msg.header.stamp = sec_to_stamp(stamp)
        self.cmd.publish(msg)
        assert self.ros.wait_for(lambda: len(self.out) > before, timeout), "no output command"
        return self.out[-1]

    def state(self) -> str:
        return self.states[-1].data if self.states else ""

    def close(self) -> None:
        self.camera.stop()


@pytest.fixture
def rig_factory(ros, ldm):
    rigs = []

    def make(**params) -> Rig:
        rigs.append(Rig(ros, ldm, **params))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def test_pass_modify_fallback_turn_and_stop(rig_factory):
    rig = rig_factory()
    threshold = load_ldm_card(rig.node.p["ldm_model_path"]).threshold
    # a command far outside anything driven is replaced by the nearest allowed grid candidate
    out = rig.send(3.0, 2.5)
    assert rig.state() == "MODIFIED", rig.node._last
    assert (out.twist.linear.x, out.twist.angular.z) != (3.0, 2.5)
    assert rig.node._last.ldm > threshold
    grid = load_ldm_card(rig.node.p["ldm_model_path"]).action_grid
    eps = 1e-5  # the grid is float32
    assert grid.v_min - eps <= out.twist.linear.x <= grid.v_max + eps
    assert grid.w_min - eps <= out.twist.angular.z <= grid.w_max + eps
    # a threshold nothing meets: slowed-down least-G candidate first, then a stop
    rig.node.set_parameters([Parameter("threshold_offset", value=-1e4)])
    out = rig.send(0.4, 0.0)
    assert rig.state() == "FALLBACK"
    least = rig.node._filter.candidates[int(rig.node._filter._grid_scores[1].argmin())] * 0.5
    assert out.twist.linear.x == pytest.approx(least[0], abs=1e-6)
    time.sleep(0.5)
    out = rig.send(0.4, -0.3)  # held past fallback_timeout: turn on the spot the command's way
    assert rig.state() == "TURN" and (out.twist.linear.x, out.twist.angular.z) == pytest.approx((0.0, -0.4))
    with rig.node._lock:  # the core's TURN lasts one full turn (16 s here): a filter that turns no more stops
        rig.node._filter.settings = replace(rig.node._filter.settings, stop_turn_rate=0.0)
    out = rig.send(0.4, 0.0)
    assert rig.state() == "STOP" and (out.twist.linear.x, out.twist.angular.z) == (0.0, 0.0)
    # everything allowed: commands pass unchanged
    rig.node.set_parameters([Parameter("threshold_offset", value=1e4)])
    out = rig.send(0.3, -0.2, stamp=1234.5)
    assert rig.state() == "PASS" and (out.twist.linear.x, out.twist.angular.z) == pytest.approx((0.3, -0.2))
    assert stamp_to_sec(out.header.stamp) == 1234.5  # the answer keeps the command's stamp (its camera frame's)


def test_recorded_commands_mostly_pass(rig_factory):
    rig = rig_factory()
    states = []
    for _ in range(8):
        out = rig.send(0.4, 0.0)
        states.append(rig.node._last.state.value)
        if states[-1] == "PASS":
            assert (out.twist.linear.x, out.twist.angular.z) == pytest.approx((0.4, 0.0))
        time.sleep(0.15)
    assert states.count("PASS") >= 5, states


def test_stale_camera_stops_then_goes_quiet(rig_factory):
    rig = rig_factory(threshold_offset=1e4)
    rig.send(0.3, 0.0)
    rig.camera.stop()
    # keep the command stream fresh, so only the camera goes stale (a sleep here would let the command
    # stream go stale too, and its stop window could close before the next command arrives)
    out = rig.send(0.3, 0.0)
    deadline = time.monotonic() + 10.0
    while (out.twist.linear.x, out.twist.angular.z) != (0.0, 0.0) and time.monotonic() < deadline:
        time.sleep(0.1)
        out = rig.send(0.3, 0.0)
    assert (out.twist.linear.x, out.twist.angular.z) == (0.0, 0.0), "camera never went stale"
    assert rig.ros.wait_for(lambda: rig.state() == "STALE", 5), rig.state()
    time.sleep(0.7)  # > stop_pub_timeout: commands now get no output at all
    before = len(rig.out)
    rig.cmd.publish(twist(0.3, 0.0))
    time.sleep(0.5)
    assert len(rig.out) == before


def test_stale_command_stream_stops_then_goes_quiet(rig_factory):
    rig2 = rig_factory(threshold_offset=1e4)
    rig2.send(0.3, 0.0)
    n = len(rig2.out)
    time.sleep(0.6 + 0.5 + 0.6)
    zeros = rig2.out[n:]
    assert zeros and all((m.twist.linear.x, m.twist.angular.z) == (0.0, 0.0) for m in zeros)
    assert len(zeros) <= int(0.5 / 0.05) + 3  # about stop_pub_timeout / tick_period, then quiet
    settled = len(rig2.out)
    time.sleep(0.4)
    assert len(rig2.out) == settled and rig2.state() == "STALE"


def test_monitor_mode_reports_but_passes(rig_factory):
    rig = rig_factory(mode="monitor", threshold_offset=-1e4)
    out = rig.send(0.35, 0.1)
    assert rig.state() == "FALLBACK"
    assert (out.twist.linear.x, out.twist.angular.z) == pytest.approx((0.35, 0.1))


def test_runtime_toggle_and_nan_commands(rig_factory):
    rig = rig_factory(threshold_offset=-1e4)
    rig.node.set_parameters([Parameter("enabled", value=False)])
    out = rig.send(0.35, 0.1)
    assert rig.state() == "DISABLED" and (out.twist.linear.x, out.twist.angular.z) == pytest.approx((0.35, 0.1))
    rig.node.set_parameters([Parameter("enabled", value=True)])
    out = rig.send(0.35, 0.1)
    assert rig.state() == "FALLBACK"
    assert not rig.node.set_parameters([Parameter("mode", value="bogus")])[0].successful
    before = len(rig.out)
    rig.cmd.publish(twist(math.nan, 0.0))
    rig.cmd.publish(twist(0.1, math.inf))
    assert rig.ros.wait_for(lambda: rig.node._filter.nan_dropped == 2, 5)
    time.sleep(0.2)
    assert len(rig.out) == before
    assert rig.ros.wait_for(lambda: any(kv.key == "nan_commands_dropped" and kv.value == "2"
                                        for m in rig.diag for s in m.status for kv in s.values), 5)


def test_wrong_encoder_and_missing_model_are_refused(ros, ldm, gnm_model_path, tmp_path):
    model, _, _ = ldm
    wrong = start(ros, model, gnm_model_path)
    missing = start(ros, tmp_path / "nope.onnx", gnm_model_path)
    assert ros.wait_for(lambda: "cannot configure" in wrong._reason and "cannot configure" in missing._reason, 20)
    assert "trained for encoder" in wrong._reason and "retrain" in wrong._reason
    assert "not found" in missing._reason
    assert wrong._filter is None and missing._filter is None
