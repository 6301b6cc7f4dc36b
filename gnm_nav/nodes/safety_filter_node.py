"""ldm_safety_filter_node: cmd_vel_nav + camera -> cmd_vel, through the Lyapunov density model filter.

Lifecycle node (autostart configures and activates it). Each camera frame is encoded once (GNM
observation encoder) and cached; each command is then scored against that cached encoding
(gnm_nav.ldm.filter), so per-command cost is the small LDM head only. It sits behind any
controller, teleop included. A learned in-distribution filter, not a certified safety device.
"""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from std_msgs.msg import String

from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.paths import DEFAULT_GNM_MODEL, DEFAULT_LDM_MODEL, resolve_model_path
from gnm_nav.gnm.context_buffer import ContextBuffer
from gnm_nav.ldm.filter import Decision, FilterSettings, SafetyFilter, SafetyState
from gnm_nav.ros import legacy_params
from gnm_nav.ros.cmd_vel import CmdVelPublisher, subscribe_cmd_vel
from gnm_nav.ros.diagnostics import DIAGNOSTICS_PERIOD_S, DiagnosticsPublisher
from gnm_nav.ros.images import CameraSubscriber
from gnm_nav.ros.lifecycle import ConfigurableNode, schedule_autostart, spin_node
from gnm_nav.ros.params import ParamSpec, declare_parameters, legacy_values, parameters_problem
from gnm_nav.ros.qos import LATCHED

MODES = ("filter", "monitor")
PARAMS = [
    ParamSpec("autostart", True, "configure and activate on start-up"),
    ParamSpec("ldm_model_path", DEFAULT_LDM_MODEL,
              "LDM head ONNX (card NAME.json beside it), a path or a name under models/"),
    ParamSpec("gnm_model_path", DEFAULT_GNM_MODEL,
              "GNM ONNX whose observation encoder the LDM was trained on (checked against the LDM card)"),
    ParamSpec("providers", "auto", "ONNX Runtime providers for the encoder: auto | tensorrt | cuda | cpu",
              choices=("auto", "tensorrt", "cuda", "cpu")),
    ParamSpec("enabled", True, "runtime toggle; when false commands pass unchanged (state DISABLED)"),
    ParamSpec("mode", "filter", "filter: publish the filtered command | monitor: decide and report, pass unchanged",
              choices=MODES),
    ParamSpec("threshold_offset", 0.0, "nats added to the card's calibrated threshold (raise = more permissive, "
                                       "for a robot whose views the LDM's data covers poorly)"),
    ParamSpec("fallback_timeout", FilterSettings.fallback_timeout,
              "s of FALLBACK (the least-bad candidate, slowed) before TURN and then STOP while no candidate is "
              "allowed; 0 = turn or stop at once", minimum=0.0),
    ParamSpec("source_timeout", FilterSettings.source_timeout,
              "s; a camera or command stream older than this stops the robot (STALE)", positive=True),
    ParamSpec("stop_pub_timeout", FilterSettings.stop_pub_timeout,
              "s of zero commands published when stale, then quiet", minimum=0.0),
    ParamSpec("enable_stamped_cmd_vel", True, "TwistStamped (true) or Twist (false) on input and output"),
    ParamSpec("base_frame_id", "base_link", "frame_id of published TwistStamped commands"),
    ParamSpec("image_transport", "raw", "raw | compressed (subscribes camera/image_raw/compressed)",
              choices=("raw", "compressed")),
    ParamSpec("image_qos", "sensor_data", "camera QoS: sensor_data (best effort) | reliable",
              choices=("sensor_data", "reliable")),
]
LEGACY = legacy_params.SAFETY_FILTER  # the 0.1 names it still answers to, for one release
RUNTIME = {"enabled", "mode", "threshold_offset", "fallback_timeout", "source_timeout", "stop_pub_timeout"}
TICK_PERIOD_S = 0.05  # how often the command stream is checked for staleness


def settings_from(p: dict, retired: dict | None = None) -> FilterSettings:
    """The filter's settings: the node's parameters over the core's defaults (and, for this release, the retired
    tuning parameters a params file still gives)."""
    return FilterSettings(**(retired or {}), threshold_offset=float(p["threshold_offset"]),
                          fallback_timeout=float(p["fallback_timeout"]), source_timeout=float(p["source_timeout"]),
                          stop_pub_timeout=float(p["stop_pub_timeout"]), monitor=p["mode"] == "monitor",
                          enabled=bool(p["enabled"]))


class SafetyFilterNode(ConfigurableNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("ldm_safety_filter_node", **kwargs)
        self._legacy = legacy_values(self, LEGACY)
        self.p = declare_parameters(self, PARAMS, LEGACY)
        self._lock = threading.Lock()
        self._camera_group = MutuallyExclusiveCallbackGroup()
        self._out = CmdVelPublisher(self, self._legacy.topic("cmd_vel"), self.p["enable_stamped_cmd_vel"],
                                    self.p["base_frame_id"])
        self._state_pub = self.create_publisher(String, "gnm/safety_state", LATCHED)
        self._diag = DiagnosticsPublisher(self, "ldm safety filter")
        self._filter: SafetyFilter | None = None
        self._engine = None
        self._frames: ContextBuffer | None = None
        self._camera: CameraSubscriber | None = None
        self._cmd_sub = None
        self._active = False
        self._reason = "not configured"
        self._published_state: str | None = None
        self._last: Decision | None = None
        self._embed_ms: deque[float] = deque(maxlen=100)
        self._filter_ms: deque[float] = deque(maxlen=100)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        periods = self._legacy.section("node")
        self.create_timer(periods.get("tick_period", TICK_PERIOD_S), self._tick)
        self.create_timer(periods.get("diagnostics_period", DIAGNOSTICS_PERIOD_S), self._publish_diagnostics)
        if self.p["autostart"]:
            schedule_autostart(self)

    def before_exit(self) -> None:
        """The last command before the process exits is a zero (the base must still keep its own cmd_vel
        timeout: a node killed outright sends nothing)."""
        self._out.publish_final_zero()

    # lifecycle -------------------------------------------------------------------------------
    def _configure(self) -> None:
        from gnm_nav.gnm.engine import GNMEngine  # onnxruntime is heavy: load only when configuring
        from gnm_nav.ldm.export import ActionGrid, LdmScorer, check_encoder

        p = self.p
        scorer = LdmScorer(resolve_model_path(p["ldm_model_path"]))
        engine = GNMEngine(resolve_model_path(p["gnm_model_path"]), providers=p["providers"])
        check_encoder(scorer.card, engine.card.sha256.get("obs", ""), str(engine.model_path))
        custom = self._legacy.section("grid")
        if custom.get("use_card_grid", True):
            grid = scorer.card.action_grid
        else:
            (v0, v1), (w0, w1), (nv, nw) = (custom.get("v_range", [0.0, 0.5]), custom.get("w_range", [-1.0, 1.0]),
                                            custom.get("counts", [11, 11]))
            grid = ActionGrid(float(v0), float(v1), int(nv), float(w0), float(w1), int(nw))
        card = engine.card
        self._engine = engine
        self._frames = ContextBuffer(card.context_size, card.context_spacing_s, card.image_size,
                                     card.center_crop)
        self._filter = SafetyFilter(scorer.score, grid.candidates(), scorer.card.threshold,
                                    settings_from(p, self._legacy.section("filter")))
        self._camera = CameraSubscriber(self, self._legacy.topic("camera/image_raw"), p["image_transport"],
                                        p["image_qos"], self._on_image, callback_group=self._camera_group)
        self._cmd_sub = subscribe_cmd_vel(self, self._legacy.topic("cmd_vel_nav"), p["enable_stamped_cmd_vel"],
                                          self._on_command)
        self.get_logger().info(
            f"LDM {p['ldm_model_path']} (threshold {scorer.card.threshold:.2f} nats at q={scorer.card.quantile}, "
            f"{len(grid.candidates())} candidates) on encoder {engine.model_path.name} ({engine.providers}); "
            f"{self._cmd_sub.topic_name} -> {self._out.topic_name}, "
            f"mode {p['mode']}")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        self._reason = "active"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._reason = "deactivated"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._camera is not None:
            self._camera.destroy()
        if self._cmd_sub is not None:
            self.destroy_subscription(self._cmd_sub)
        self._filter = self._engine = self._frames = self._camera = self._cmd_sub = None
        self._reason = "not configured"
        return TransitionCallbackReturn.SUCCESS

    def _on_set_parameters(self, params) -> SetParametersResult:
        problem = parameters_problem(PARAMS, params)
        if problem is not None:
            return SetParametersResult(successful=False, reason=problem)
        updated = dict(self.p)
        for param in params:
            if param.name in self.p and param.name not in RUNTIME and param.value != self.p[param.name]:
                why = f"{param.name} is read at configure; reconfigure the node to change it"
                return SetParametersResult(successful=False, reason=why)
            updated[param.name] = param.value
        settings = settings_from(updated, self._legacy.section("filter"))
        self.p = updated
        with self._lock:
            if self._filter is not None:
                self._filter.settings = settings
        return SetParametersResult(successful=True)

    # inputs ----------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, rgb: np.ndarray, stamp: float) -> None:
        """Encode each camera frame once; commands reuse the cached encoding."""
        if self._frames is None:
            return
        if not self._frames.push(rgb, stamp, self._now()):
            self.get_logger().warning(f"camera frame not used: {self._frames.refusal}", throttle_duration_sec=5.0)
            return  # an unused frame does not refresh the observation: the camera goes stale (STALE: zero)
        if not self._frames.ready:
            return
        started = time.perf_counter()  # a cost, so wall time: the node's clock may be the simulator's
        try:
            embedding = self._engine.encode_observation(self._frames.model_input())
        except GnmNavError as exc:
            self.get_logger().error(f"skipping camera frame: {exc}", throttle_duration_sec=5.0)
            return
        self._embed_ms.append((time.perf_counter() - started) * 1e3)
        with self._lock:
            self._filter.set_observation(embedding, self._now())

    def _on_command(self, v: float, w: float, stamp: float | None) -> None:
        if not self._active:
            return
        with self._lock:
            decision = self._filter.on_command(v, w, self._now())
        if decision is None:
            self.get_logger().warning(f"dropping a non-finite command ({v}, {w})", throttle_duration_sec=5.0)
            return
        self._apply(decision, stamp)

    def _tick(self) -> None:
        if not self._active:
            return
        with self._lock:
            decision = self._filter.on_tick(self._now())
        if decision is not None:
            self._apply(decision)

    def _apply(self, decision: Decision, stamp: float | None = None) -> None:
        """stamp: the incoming command's, passed on with the output that answers it (None = now)."""
        self._last = decision
        if decision.output is not None:
            self._out.publish(*decision.output, stamp=stamp)
        if np.isfinite(decision.latency_ms):
            self._filter_ms.append(decision.latency_ms)
        if decision.state.value != self._published_state:
            self._published_state = decision.state.value
            self._state_pub.publish(String(data=decision.state.value))
            if decision.state in (SafetyState.STOP, SafetyState.STALE, SafetyState.FALLBACK, SafetyState.TURN):
                self.get_logger().warning(f"safety state {decision.state.value}", throttle_duration_sec=2.0)

    # diagnostics -----------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        if self._filter is None:
            self._diag.publish("ERROR" if self.configure_failed else "WARN", self._reason, {})
            return
        now, d, f = self._now(), self._last, self._filter
        values = {
            "state": d.state.value if d else "none", "mode": self.p["mode"], "enabled": f.settings.enabled,
            "ldm": d.ldm if d else float("nan"), "energy": d.energy if d else float("nan"),
            "threshold": f.threshold, "margin": f.settings.margin,
            "slack": (f.threshold - d.ldm) if d else float("nan"),
            "allowed_fraction": d.allowed_fraction if d else float("nan"),
            "requested": list(d.requested) if d and d.requested else "none",
            "output": list(d.output) if d and d.output else "none",
            "filter_latency_ms_p50": float(np.median(self._filter_ms)) if self._filter_ms else float("nan"),
            "embed_ms_p50": float(np.median(self._embed_ms)) if self._embed_ms else float("nan"),
            "camera_age_s": f.camera_age(now), "command_age_s": f.command_age(now),
            "context_fill": self._frames.fill, "nan_commands_dropped": f.nan_dropped,
            "image_decode_errors": self._camera.errors,
        }
        level = "OK" if d is None or d.state in (SafetyState.PASS, SafetyState.DISABLED) else "WARN"
        if d is not None and d.state is SafetyState.STALE:
            level = "STALE"
        self._diag.publish(level, f"{self._reason}; state {values['state']}", values)


def main(argv: list[str] | None = None) -> int:
    return spin_node(SafetyFilterNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
