"""Camera frames in, subgoal out: context buffer + localiser + planner, shared by the planner node and bag replay.

Frames arrive at the camera rate; `tick()` runs at the model's step rate (4 Hz) on the newest
context. Goals are a node id, a list of them driven to in order (a mission), or an image, which is
matched against the whole graph.
`localization_mode="window"` reproduces the public deployment code instead (the anchor mode of
`gnm-nav eval`): WindowLocalizer on a linear route, subgoal = its closest node, goal reached when
the closest node is the goal.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from gnm_nav.common.errors import GraphError
from gnm_nav.gnm.context_buffer import ContextBuffer
from gnm_nav.graph.bank import NodeBank
from gnm_nav.graph.belief import BeliefConfig, BeliefLocalizer
from gnm_nav.graph.goal_checker import GOAL_THRESHOLD, GoalCheck, GoalChecker
from gnm_nav.graph.likelihood import DistanceLikelihood
from gnm_nav.graph.localization import (
    Localization,
    Localizer,
    LocalizerConfig,
    WindowLocalizer,
    bank_for_graph,
    match_image,
    single_frame_obs,
)
from gnm_nav.graph.mission import Mission, WaypointReached
from gnm_nav.graph.nav_state import GoalProgress, NavState, mission_progress
from gnm_nav.graph.odometry import OdometryConfig, OdometryPrior
from gnm_nav.graph.planning import SUBGOAL_HORIZON_S, Planner, PlanStep, node_spacing_s
from gnm_nav.graph.store import TopoGraph


@dataclass
class NavStep:
    stamp: float
    localization: Localization
    plan: PlanStep
    subgoal_image: np.ndarray | None = field(repr=False, default=None)
    subgoal_offset_m: np.ndarray | None = None  # [x, y] in the base frame to steer at, from odometry (the carrot)
    goal_veto_m: float = 0.0  # > 0: the model saw the goal, the odometry put it this far beyond its tolerance
    goal_by_odometry_m: float | None = None  # the goal was declared by the odometry, which put it this near
    waypoint: WaypointReached | None = None  # a goal of the mission was reached this tick
    state: NavState | None = None  # the tick as one value (gnm/nav_state)
    lost: bool = False  # no node matches on the way to a goal: the policy may turn on the spot (control.recovery)

    @property
    def closest(self) -> int | None:
        return self.localization.closest


LOCALIZATION_MODES = ("graph", "belief", "window")
STEER_LOOKAHEAD_M = 0.4  # pure-pursuit distance, ~1.5 s of driving; longer cuts corners (0.6 did, on tuning routes)


class Navigator:
    def __init__(self, graph: TopoGraph, engine, localizer_config: LocalizerConfig = LocalizerConfig(),
                 close_threshold: float = 3.0, goal_threshold: float = GOAL_THRESHOLD, bank: NodeBank | None = None,
                 localization_mode: str = "graph", odometry: OdometryConfig | None = OdometryConfig(),
                 lookahead: int | None = None, steer_lookahead_m: float = STEER_LOOKAHEAD_M,
                 likelihood: DistanceLikelihood | None = None, belief_config: BeliefConfig = BeliefConfig()) -> None:
        """odometry: how wheel odometry (on_odom) helps localisation; None = images only. likelihood: the model's
        fitted distance likelihood (localization_mode belief; None = DistanceLikelihood.uncalibrated()). lookahead:
        0.1's subgoal_lookahead, in nodes (the subgoal horizon becomes that many of the graph's node spacings);
        None = planning.SUBGOAL_HORIZON_S."""
        if localization_mode not in LOCALIZATION_MODES:
            raise GraphError(f"localization_mode must be one of {LOCALIZATION_MODES}, got {localization_mode!r}")
        card = engine.card
        self.graph = graph
        self.card = card
        image_size = card.image_size
        self.bank = bank if bank is not None else bank_for_graph(graph, image_size, card.center_crop)
        self.odometry = OdometryPrior(graph.g, odometry) if odometry is not None else None
        if localization_mode == "belief":
            self.localizer: Localizer | BeliefLocalizer = BeliefLocalizer(
                graph.g, self.bank, engine.evaluate, likelihood or DistanceLikelihood.uncalibrated(),
                card.context_spacing_s, belief_config, image_size, card.center_crop, self.odometry)
        else:
            self.localizer = Localizer(graph.g, self.bank, engine.evaluate, localizer_config, image_size,
                                       card.center_crop, self.odometry)
        horizon_s = SUBGOAL_HORIZON_S if lookahead is None else lookahead * node_spacing_s(graph.g)
        self.planner = Planner(graph.g, horizon_s, close_threshold)
        self.goal_checker = GoalChecker(goal_threshold, self.odometry)
        self.steer_lookahead_m = steer_lookahead_m
        self.mission = Mission()
        self._goal_progress = GoalProgress()
        self.window: WindowLocalizer | None = None
        if localization_mode == "window":
            self.window = WindowLocalizer(graph.g, self.bank, engine.evaluate, close_threshold)  # the public radius
        self.context = ContextBuffer(card.context_size, card.context_spacing_s, image_size, card.center_crop)
        self._latest_rgb: np.ndarray | None = None
        self._node_image = lru_cache(maxsize=8)(graph.image)

    @property
    def period_s(self) -> float:
        return self.card.context_spacing_s

    def set_goal(self, node: int | None) -> None:
        self.set_goals(() if node is None else (node,))

    def set_goals(self, nodes: Sequence[int]) -> None:
        """Drive to these nodes in order (empty = no goal); GraphError names an unknown one and changes nothing."""
        for node in nodes:
            self.planner.check_node(node)
        self.mission = Mission(tuple(nodes))
        self._aim(self.mission.current, restart=True)
        if isinstance(self.localizer, BeliefLocalizer):
            self.localizer.mark_arrived(False)

    def _aim(self, node: int | None, restart: bool) -> None:
        self.planner.set_goal(node)
        if self.window is not None:
            self.window.set_goal(node, restart)

    def set_start(self, node: int) -> None:
        """The robot starts near `node` (Localizer.hint); the window mode starts at the first node anyway."""
        self.localizer.hint(node)

    def goal_from_image(self, rgb: np.ndarray) -> tuple[int, float]:
        """The node an image shows (global match); GraphError when it matches nothing closely enough."""
        obs = single_frame_obs(rgb, self.card.context_size, self.card.image_size, self.card.center_crop)
        config = self.localizer.config
        node, dist, _, _ = match_image(self.bank, self.localizer.evaluate, obs, rgb, config.relocalize_top_k,
                                       config.accept_distance, self.card.image_size, self.card.center_crop)
        if node is None:
            raise GraphError(f"the goal image matches no graph node (best predicted distance {dist:.1f} > "
                             f"accept_distance {config.accept_distance})")
        self.set_goal(node)
        return node, dist

    def on_odom(self, pose: tuple[float, float, float]) -> None:
        """The newest wheel odometry (x, y, yaw in the odometry frame); ignored without odometry help."""
        if self.odometry is not None:
            self.odometry.observe(pose)

    def on_frame(self, rgb: np.ndarray, stamp: float) -> None:
        if self.context.push(rgb, stamp):
            self._latest_rgb = rgb

    def tick(self) -> NavStep | None:
        """Localise and plan on the newest context; None until the context has filled."""
        stamp = self.context.latest_stamp
        if not self.context.ready or self._latest_rgb is None or stamp is None:
            return None
        if self.window is not None:
            loc = self.window.step(self.context.model_input())
            plan, veto_m, arrived_m = self._window_plan(loc), 0.0, None
        else:
            loc = self.localizer.step(self.context.model_input(), self._latest_rgb, stamp)
            plan = self.planner.update(loc.closest, loc.distance)
            check = (self.goal_checker.check(self.planner.goal, loc.closest, loc.distance, loc.distances)
                     if plan.subgoal is not None else GoalCheck(False))
            if check.reached:
                plan = replace(plan, subgoal=self.planner.goal, goal_reached=True)
            veto_m, arrived_m = check.veto_m, check.by_odometry_m
        waypoint = None
        if plan.goal_reached:
            waypoint = self.mission.reached()
            if waypoint is not None and waypoint.next_goal is not None:  # on to the next goal: not an arrival
                self._aim(waypoint.next_goal, restart=False)
                plan = replace(plan, goal_reached=False)
            elif isinstance(self.localizer, BeliefLocalizer):
                self.localizer.mark_arrived()
        image = self._node_image(plan.subgoal) if plan.subgoal is not None else None
        offset = self._steering_offset(plan)
        lost = loc.closest is None and self.planner.goal is not None and not self.mission.complete
        return NavStep(stamp, loc, plan, image, offset, veto_m, arrived_m, waypoint, self._state(stamp, loc, plan),
                       lost)

    def _state(self, stamp: float, loc: Localization, plan: PlanStep) -> NavState:
        """The tick as a NavState; a localiser without states of its own is tracking while it believes a node."""
        goal, mission = self.planner.goal, self.mission
        arrived = mission.complete
        nodes_to_goal = (0 if arrived else len(plan.path) - 1 if plan.path and plan.path[-1] == goal else None)
        progress = self._goal_progress.update(mission.goals[-1] if arrived else goal, nodes_to_goal, arrived)
        state = loc.state or ("arrived" if arrived else "lost" if loc.closest is None else "tracking")
        goals = len(mission.goals)
        return NavState(stamp, state, loc.closest, loc.confidence, None if arrived else goal, nodes_to_goal, progress,
                        mission.index, goals, mission_progress(mission.index, goals, progress))

    def _steering_offset(self, plan: PlanStep) -> np.ndarray | None:
        """Where the odometry says to steer, in the base frame: the first node from the subgoal on along the path
        at least steer_lookahead_m away (pure pursuit's carrot). A subgoal the robot is passing or has just
        passed lies beside or behind it, and steering at it turns the robot round in a loop."""
        if self.odometry is None or plan.subgoal is None:
            return None
        path = plan.path[plan.path.index(plan.subgoal):] if plan.subgoal in plan.path else (plan.subgoal,)
        return self.odometry.carrot(path, self.steer_lookahead_m)

    def _window_plan(self, loc: Localization) -> PlanStep:
        """The public code's rule: drive to the (already advanced) closest node; reached when it is the goal."""
        goal = self.planner.goal
        if goal is None:
            return PlanStep(None, (), False, False, "no goal")
        window = self.window
        assert window is not None, "window mode only"
        path = tuple(window.order[window.index:window.goal_index + 1])
        return PlanStep(loc.closest, path, loc.closest == goal, False)
