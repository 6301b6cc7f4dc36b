"""Evaluation modes are named parameter sets (config/eval/*.yaml): what each changes, the `_no_filter` variants,
how they layer over the package defaults and the user's --params, and the clear errors for bad names and files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gnm_nav.evaluation.modes import DEFAULT_MODES, ModeError, base_modes, check_params_file, load_mode, parse_modes
from gnm_nav.evaluation.runner import EvalConfig, Graph, mode_nodes
from gnm_nav.launching.node_sets import LaunchOptions

ODOMETRY_USES = {"topological_planner_node": {"use_odometry": False}, "gnm_policy_node": {"odometry_steering": 0.0}}


def test_every_shipped_mode_loads_and_the_defaults_exist():
    assert set(DEFAULT_MODES) <= set(base_modes())
    for name in base_modes():
        mode = load_mode(name)
        assert mode.name == name and mode.description
    ours = load_mode("ours")
    assert ours.stack == "gnm" and ours.use_safety_filter and ours.parameters == {}


def test_vision_only_turns_every_use_of_odometry_off():
    vision = load_mode("vision_only")
    assert vision.use_safety_filter and vision.parameters == ODOMETRY_USES
    bare = load_mode("vision_only_no_filter")
    assert not bare.use_safety_filter and bare.parameters == ODOMETRY_USES
    assert "ldm_safety_filter_node" not in bare.nodes


def test_replay_needs_no_camera_stack_and_anchor_is_the_public_code():
    replay = load_mode("odometry_replay")
    assert replay.nodes == ("odometry_replay_node",) and not replay.use_safety_filter
    anchor = load_mode("anchor")
    assert anchor.parameters["topological_planner_node"]["localization_mode"] == "window"
    assert anchor.parameters["gnm_policy_node"]["controller"] == "gnm" and not anchor.use_safety_filter


def test_a_mode_may_set_a_0_1_parameter_the_nodes_still_honour():
    near = load_mode("ours_lookahead2")  # another subgoal rule beside the default, in one run
    assert near.parameters == {"topological_planner_node": {"subgoal_lookahead": 2}} and near.use_safety_filter
    vision = load_mode("vision_only_lookahead2_no_filter")
    assert vision.parameters["gnm_policy_node"] == {"odometry_steering": 0.0}


def test_unknown_modes_and_filterless_variants_of_filterless_modes_are_refused():
    with pytest.raises(ModeError, match="unknown evaluation mode 'ourz'.*vision_only_no_filter"):
        parse_modes("ours,ourz")
    with pytest.raises(ModeError, match="runs without the safety filter already"):
        load_mode("anchor_no_filter")
    with pytest.raises(ModeError, match="names a mode twice"):
        parse_modes("ours,ours")
    with pytest.raises(ModeError, match="at least one"):
        parse_modes(" , ")


def test_mode_files_are_checked(tmp_path, monkeypatch):
    import gnm_nav.evaluation.modes as modes

    monkeypatch.setattr(modes, "modes_dir", lambda: tmp_path)
    (tmp_path / "typo.yaml").write_text("description: x\nstack: gnm\nsafety_filter: false\n"
                                        "parameters: {gnm_policy_node: {odometry_steerin: 0.0}}\n")
    with pytest.raises(ModeError, match="gnm_policy_node has no parameter 'odometry_steerin'"):
        load_mode("typo")
    (tmp_path / "stray.yaml").write_text("description: x\nstack: odometry_replay\nsafety_filter: false\n"
                                         "parameters: {gnm_policy_node: {odometry_steering: 0.0}}\n")
    with pytest.raises(ModeError, match="does not start gnm_policy_node"):
        load_mode("stray")
    (tmp_path / "short.yaml").write_text("stack: gnm\n")
    with pytest.raises(ModeError, match="exactly the keys"):
        load_mode("short")


def test_params_files_name_known_nodes_and_parameters(tmp_path):
    nodes = {"topological_planner_node", "gnm_policy_node", "mujoco_sim_node"}
    good = tmp_path / "good.yaml"
    good.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n"
                    "/**/gnm_policy_node:\n  ros__parameters:\n    odometry_steering: 0.5\n"
                    "topological_planner_node:\n  ros__parameters:\n    goal_threshold: 5.0\n")
    assert check_params_file(good, nodes)["/**/gnm_policy_node"] == {"odometry_steering": 0.5}
    for text, why in [("gnm_polcy_node:\n  ros__parameters: {max_v: 1.0}\n", "unknown node 'gnm_polcy_node'"),
                      ("gnm_policy_node:\n  ros__parameters: {max_speed: 1.0}\n", "sets 'max_speed'"),
                      ("/**:\n  ros__parameters: {colour: red}\n", "none of the nodes declares"),
                      ("gnm_policy_node: {max_v: 1.0}\n", "exactly one mapping, ros__parameters"),
                      ("[1, 2]\n", "expected a mapping"), ("a: [\n", "not a YAML file")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ModeError, match=why.replace("(", r"\(")):
            check_params_file(bad, nodes)
    with pytest.raises(ModeError, match="no such file"):
        check_params_file(tmp_path / "missing.yaml", nodes)


def test_mode_overrides_go_on_top_of_the_evaluation_settings(tmp_path):
    cfg = EvalConfig(model=Path("m.onnx"), ldm=Path("l.onnx"), robot="turtlebot", real_time_factor=2.0)
    graph = Graph(tmp_path / "g", 0, 9, (1.0, 2.0, 0.0), 10, np.zeros((2, 3)), 10.0, 1.0)
    opts = LaunchOptions(use_sim_time=True, params_file=tmp_path / "user.yaml")
    anchor_nodes = {n.name: n for n in mode_nodes(load_mode("anchor"), cfg, opts, graph)}
    anchor = {name: n.params for name, n in anchor_nodes.items()}
    assert set(anchor) == {"topological_planner_node", "gnm_policy_node"}
    assert anchor["topological_planner_node"]["localization_mode"] == "window"
    assert anchor["topological_planner_node"]["gnm_model_path"] == "m.onnx"
    assert anchor["gnm_policy_node"]["max_rate_hz"] == 20
    assert anchor_nodes["gnm_policy_node"].remappings == (("cmd_vel_nav", "cmd_vel"),)  # no filter in between
    ours_nodes = {n.name: n for n in mode_nodes(load_mode("ours"), cfg, opts, graph)}
    assert ours_nodes["ldm_safety_filter_node"].params["ldm_model_path"] == "l.onnx"
    assert ours_nodes["gnm_policy_node"].remappings == ()  # into the filter
    (replay,) = mode_nodes(load_mode("odometry_replay"), cfg, opts, graph)
    assert replay.params["graph_dir"] == str(graph.graph_dir) and replay.params["goal_node"] == 9
    assert replay.configs == ("odometry_replay.yaml",)
    int8 = {n.name: n.params for n in mode_nodes(load_mode("ours_int8"), cfg, opts, graph)}  # a mode's own model
    assert int8["topological_planner_node"]["gnm_model_path"] == int8["gnm_policy_node"]["gnm_model_path"] == \
        "gnm_relit_int8.onnx"
    assert int8["ldm_safety_filter_node"]["gnm_model_path"] == "m.onnx"  # the LDM's encoder stays fp32
