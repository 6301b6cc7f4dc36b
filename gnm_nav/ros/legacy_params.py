"""Parameter names the nodes answered to in 0.1, kept working in 0.2 with a deprecation warning each
(gnm_nav.ros.params.legacy_values). Delete this module, each node's use of it (`LEGACY`) and the evaluation modes
that run an old default through one of these names (config/eval/*_lookahead2.yaml) in 0.3.

- Topic-name parameters: topics are renamed by remapping now (`--ros-args -r camera/image_raw:=front/image`,
  or `remappings=` in a launch file), as every ROS 2 package does.
- `model_path`: says which model it takes now (`gnm_model_path`, `ldm_model_path`), so a `/**` params file
  cannot hand the safety filter the GNM.
- Tuning parameters: their values live in the ROS-free core's configuration (`LocalizerConfig`,
  `OdometryConfig`, `SweepConfig`, `BackUpConfig`, `FilterSettings`, ...), each with the evaluation that chose it
  in docs/decisions.md; they were knobs no user had a reason to turn.
"""
from __future__ import annotations

from gnm_nav.ros.params import Legacy, Renamed, Retired, TopicParameter

_IMAGE = TopicParameter("image_topic", "camera/image_raw")
_NODE_PERIODS = (Retired("diagnostics_period", "node", "diagnostics_period"),)

PLANNER: tuple[Legacy, ...] = (
    Renamed("model_path", "gnm_model_path"),
    _IMAGE,
    TopicParameter("goal_image_topic", "gnm/goal_image"),
    TopicParameter("odom_topic", "odom"),
    TopicParameter("subgoal_pose_topic", "gnm/subgoal_pose"),
    *(Retired(name, "localizer", name) for name in (
        "window_radius", "max_window", "switch_margin", "smoothing", "lost_distance", "lost_ticks",
        "relocalize_top_k", "accept_distance", "jump_penalty")),
    Retired("close_threshold", "navigator", "close_threshold"),
    Retired("subgoal_lookahead", "navigator", "lookahead"),
    Retired("steer_lookahead_m", "navigator", "steer_lookahead_m"),
    Retired("odom_confirm_distance", "odometry", "confirm_distance"),
    Retired("odom_tolerance_m", "odometry", "tolerance_m"),
    Retired("odom_drift", "odometry", "drift"),
    Retired("odom_penalty", "odometry", "penalty"),
    Retired("max_dead_reckoning_m", "odometry", "max_dead_reckoning_m"),
    Retired("odom_arrive_radius_m", "odometry", "arrive_radius_m"),
    Retired("markers_period", "node", "markers_period"),
    *_NODE_PERIODS,
)

POLICY: tuple[Legacy, ...] = (
    Renamed("model_path", "gnm_model_path"),
    _IMAGE,
    TopicParameter("subgoal_topic", "gnm/subgoal"),
    TopicParameter("cmd_vel_topic", "cmd_vel_nav"),
    TopicParameter("subgoal_pose_topic", "gnm/subgoal_pose"),
    TopicParameter("lost_topic", "gnm/localization_lost"),
    TopicParameter("odom_topic", "odom"),
    TopicParameter("base_cmd_vel_topic", "cmd_vel"),
    Retired("waypoint_index", "policy", "waypoint_index"),
    Retired("eval_seed", "degradation", "seed"),
    Retired("recovery_after_s", "sweep", "after_s"),
    Retired("recovery_turn_rate", "sweep", "turn_rate"),
    Retired("recovery_amplitude", "sweep", "amplitude_rad"),
    Retired("recovery_sweeps", "sweep", "sweeps"),
    Retired("backup_stall_s", "backup", "stall_s"),
    Retired("backup_stall_ratio", "backup", "stall_ratio"),
    Retired("backup_distance_m", "backup", "distance_m"),
    Retired("backup_speed", "backup", "speed"),
    Retired("backup_timeout_s", "backup", "timeout_s"),
    Retired("backup_max_tries", "backup", "max_tries"),
    Retired("bump_margin_m", "backup", "bump_margin_m"),
    *_NODE_PERIODS,
)

SAFETY_FILTER: tuple[Legacy, ...] = (
    Renamed("model_path", "ldm_model_path"),
    Renamed("encoder_model_path", "gnm_model_path"),
    _IMAGE,
    TopicParameter("input_topic", "cmd_vel_nav"),
    TopicParameter("output_topic", "cmd_vel"),
    *(Retired(name, "filter", name) for name in (
        "margin", "weight_v", "weight_w", "fallback_scale", "stop_turn_rate", "reverse_pass_speed")),
    Retired("use_card_grid", "grid", "use_card_grid"),
    Retired("candidate_v_range", "grid", "v_range"),
    Retired("candidate_w_range", "grid", "w_range"),
    Retired("candidate_counts", "grid", "counts"),
    Retired("tick_period", "node", "tick_period"),
    *_NODE_PERIODS,
)

GRAPH_BUILDER: tuple[Legacy, ...] = (
    Renamed("model_path", "gnm_model_path"),
    _IMAGE,
    TopicParameter("odom_topic", "odom"),
)

TELEOP: tuple[Legacy, ...] = (TopicParameter("cmd_vel_topic", "cmd_vel"),)
