"""Parameters are checked against their ParamSpec: at start-up a bad value stops the node with one line naming
it (never a traceback, never a busy loop), and `ros2 param set` refuses it with the reason."""
from __future__ import annotations

import math

import pytest
from rclpy.parameter import Parameter

from gnm_nav.common.errors import GnmNavError
from gnm_nav.ros.params import ParamSpec


def _make(ros, node_class, **overrides):
    return node_class(context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


@pytest.mark.parametrize("overrides,message", [
    ({"max_rate_hz": 0.0}, "parameter max_rate_hz must be > 0, got 0.0"),
    ({"source_timeout": -1.0}, "parameter source_timeout must be > 0"),
    ({"max_acc_v": -1.0}, "parameter max_acc_v must be >= 0"),
    ({"image_qos": "fast"}, "parameter image_qos must be one of 'sensor_data', 'reliable', got 'fast'"),
    ({"max_v": 1}, "parameter max_v must be a double"),
    ({"odometry_steering": math.nan}, "parameter odometry_steering must be a finite number"),
    ({"controller": "pid"}, "must be one of 'smooth', 'gnm'"),
])
def test_policy_refuses_bad_values_at_start(ros, overrides, message):
    from gnm_nav.nodes.policy_node import PolicyNode

    with pytest.raises(GnmNavError, match=message.replace("(", r"\(")):
        _make(ros, PolicyNode, autostart=False, **overrides)


@pytest.mark.parametrize("node,overrides,message", [
    ("safety_filter_node", {"mode": "fliter"}, "parameter mode must be one of 'filter', 'monitor', got 'fliter'"),
    ("safety_filter_node", {"fallback_timeout": -1.0}, "parameter fallback_timeout must be >= 0"),
    ("safety_filter_node", {"fallback_scale": "half"}, "parameter fallback_scale must be finite numbers"),
    ("planner_node", {"rate_hz": -4.0}, "parameter rate_hz must be >= 0"),
    ("planner_node", {"localization_mode": "anchor"}, "must be one of 'graph', 'belief', 'window'"),
    ("planner_node", {"goal_nodes": [1.5, 2.0]}, "parameter goal_nodes must be a list of int values"),
    ("planner_node", {"goal_nodes": [3, -2]}, "parameter goal_nodes must be >= 0, got -2"),
    ("mujoco_sim_node", {"odom_noise": "wet"}, "parameter odom_noise must be one of '', 'none', 'typical', 'poor'"),
    ("mujoco_sim_node", {"real_time_factor": 0.0}, "parameter real_time_factor must be > 0"),
])
def test_other_nodes_refuse_bad_values_at_start(ros, node, overrides, message):
    import importlib

    module = importlib.import_module(f"gnm_nav.nodes.{node}")
    node_class = next(getattr(module, n) for n in dir(module) if n.endswith("Node") and n != "Node"
                      and getattr(getattr(module, n), "__module__", "") == module.__name__)
    with pytest.raises(GnmNavError, match=message.replace("(", r"\(")):
        _make(ros, node_class, **overrides)


def test_a_running_node_refuses_bad_values_with_the_reason(ros):
    from gnm_nav.nodes.policy_node import PolicyNode

    node = ros.add(_make(ros, PolicyNode, autostart=False))
    (result,) = node.set_parameters([Parameter("source_timeout", value=-0.5)])
    assert not result.successful and result.reason == "source_timeout must be > 0, got -0.5"
    (result,) = node.set_parameters([Parameter("source_timeout", value=2.0)])
    assert result.successful and node.get_parameter("source_timeout").value == 2.0


def test_constraints_show_in_the_description():
    spec = ParamSpec("rate", 1.0, "how often", positive=True, maximum=50.0)
    assert spec.constraint() == " [> 0, <= 50]"
    assert ParamSpec("mode", "a", "which", choices=("a", "b")).constraint() == " [one of 'a', 'b']"
    assert spec.problem(10.0) is None and spec.problem(51.0) == "must be <= 50, got 51.0"
    assert ParamSpec("counts", [1, 1], "n", minimum=1).problem([3, 0]) == "must be >= 1, got 0"


def test_parameters_the_node_does_not_have_are_named(ros):
    from gnm_nav.nodes.policy_node import PolicyNode
    from gnm_nav.ros.params import unknown_parameters

    node = ros.add(_make(ros, PolicyNode, autostart=False, max_vv=0.3, max_v=0.3))
    assert unknown_parameters(node) == ["max_vv"]


def test_deprecated_names_keep_working_for_one_release(ros, gnm_model_path):
    """A renamed parameter's value goes to its new name, a former topic parameter still names the topic, a
    retired tuning parameter still reaches the core, and the new name wins when both are given."""
    from rclpy.lifecycle import TransitionCallbackReturn

    from gnm_nav.nodes.policy_node import PolicyNode

    node = ros.add(_make(ros, PolicyNode, autostart=False, model_path=str(gnm_model_path),
                         cmd_vel_topic="legacy_cmd", recovery_after_s=0.5, backup_max_tries=2))
    assert node.p["gnm_model_path"] == str(gnm_model_path)
    assert node._cmd.topic_name == "/legacy_cmd"
    assert node._legacy.section("sweep") == {"after_s": 0.5} and node._legacy.section("backup") == {"max_tries": 2}
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node._supervisor.sweep.config.after_s == 0.5 and node._backup.config.max_tries == 2
    assert not node.has_parameter("model_path")  # not declared: the node's parameters stay the current ones
    both = ros.add(_make(ros, PolicyNode, autostart=False, model_path="old.onnx", gnm_model_path="new.onnx"))
    assert both.p["gnm_model_path"] == "new.onnx"
