"""Teach/repeat differences: furniture moved without sealing the route, other light and finishes, the same for
every mode (seeded); and the larger generated worlds of the long preset."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gnm_nav.common.errors import GnmNavError
from gnm_nav.evaluation.routes import plan_routes
from gnm_nav.sim.expert import GridPlanner
from gnm_nav.sim.occupancy import occupancy_grid
from gnm_nav.sim.world_changes import CHANGES, changed_world
from gnm_nav.sim.world_spec import load_world_spec, save_world_spec
from gnm_nav.sim.worlds import resolve_world

BODY = 0.18


@pytest.fixture(scope="module")
def office_route():
    (task,), _ = plan_routes(["office_11"], "turtlebot", 1, 10.0)
    return resolve_world("office_11"), [(task.start.x, task.start.y), task.goal]


def _centres(spec):
    return sorted(tuple(np.round(o.center, 3)) for o in [*spec.obstacles, *spec.pillars])


def test_furniture_moves_but_the_route_stays_open(office_route):
    spec, points = office_route
    changed, report = changed_world(spec, "furniture", seed=(1, 2), route_points=points, body_radius=BODY)
    assert report["moved_pieces"] >= 1 and report["changed_finishes"] == 0
    assert _centres(changed) != _centres(spec)
    assert [w.center for w in changed.walls] == [w.center for w in spec.walls]  # walls and doors stay
    assert changed.lights == spec.lights and changed.materials == spec.materials
    GridPlanner(occupancy_grid(changed), BODY).plan(*points)  # still a path for the body
    grid = occupancy_grid(changed)
    assert all(grid.clearance_at(x, y) >= BODY for x, y in points)
    assert _centres(spec) == _centres(resolve_world("office_11"))  # the teach world is untouched


def test_changes_come_from_the_seed(office_route):
    spec, points = office_route
    a, _ = changed_world(spec, "both", (1, 2), points, BODY)
    b, _ = changed_world(spec, "both", (1, 2), points, BODY)
    c, _ = changed_world(spec, "both", (9, 2), points, BODY)
    assert a.to_dict() == b.to_dict() != c.to_dict()


def test_lighting_changes_lights_and_some_finishes_only(office_route, tmp_path):
    spec, points = office_route
    changed, report = changed_world(spec, "lighting", (1, 2), points, BODY)
    assert _centres(changed) == _centres(spec)
    assert [light.diffuse for light in changed.lights] != [light.diffuse for light in spec.lights]
    retextured = [n for n in spec.materials if spec.materials[n] != changed.materials[n]]
    assert 1 <= len(retextured) == report["changed_finishes"] < len(spec.materials)
    path = tmp_path / "repeat.yaml"
    save_world_spec(changed, path)  # the sim node loads the changed world from a spec file
    reloaded = load_world_spec(path)
    assert reloaded.name == changed.name
    assert reloaded.lights[0].diffuse == pytest.approx(changed.lights[0].diffuse, abs=1e-3)
    assert reloaded.materials[retextured[0]].texture == changed.materials[retextured[0]].texture


def test_no_change_and_unknown_changes(office_route):
    spec, points = office_route
    same, report = changed_world(spec, "none", (1, 2), points, BODY)
    assert same.to_dict() == spec.to_dict() and report == {"moved_pieces": 0, "changed_finishes": 0}
    with pytest.raises(GnmNavError, match="unknown world change 'rain'"):
        changed_world(spec, "rain", (1, 2), points, BODY)
    assert CHANGES == ("none", "furniture", "lighting", "both")


def test_a_route_through_a_narrow_gap_is_never_sealed():
    """box_room: the only way from the west to the east half passes the partition's north end; whatever moves,
    every seed leaves a path."""
    spec = resolve_world("box_room")
    points = [(1.5, 1.0), (6.5, 2.2)]
    for seed in range(8):
        changed, _ = changed_world(spec, "furniture", (seed, 2), points, BODY)
        GridPlanner(occupancy_grid(changed), BODY).plan(*points)


def test_large_worlds_double_the_sides_and_host_long_routes():
    small, large = resolve_world("1002"), resolve_world("large:1002")
    assert large.name == f"{small.name}_x2" and large.family == small.family
    assert large.bounds[2] == pytest.approx(2 * small.bounds[2], abs=0.02)
    assert resolve_world("large:office:7").family == "office"
    with pytest.raises(GnmNavError, match="large:SEED"):
        resolve_world("large:-3")
    (task,), _ = plan_routes(["large:1002"], "turtlebot", 1, 40.0, route_preset="long")
    assert 40.0 <= task.planned_length_m <= 80.0
    assert math.dist((task.start.x, task.start.y), task.goal) > 5.0


def test_a_perturbed_start_fits_the_changed_world_the_repeat_spawns_in(office_route):
    """Furniture moved beside the start may cover the offsets around it: the start is drawn where the body fits in
    both worlds (a start free only in the teach world stopped `gnm-nav closed-loop --changes both` on world 1548)."""
    import copy

    from gnm_nav.common.pose import Pose2D
    from gnm_nav.evaluation.routes import perturbed_start
    from gnm_nav.sim.world_spec import Box

    spec, points = office_route
    (x0, y0) = points[0]
    changed = copy.deepcopy(spec)  # a block over the half-plane x > x0 + 0.05 near the start
    changed.obstacles.append(Box(center=[x0 + 0.05 + BODY + 0.5, y0], size=[1.0, 1.0], height=0.8,
                                 material=changed.obstacles[0].material))
    grid = occupancy_grid(changed)
    start = Pose2D(x0, y0, 0.0)
    starts = [perturbed_start("office_11", "turtlebot", start, np.random.default_rng(k), 0.25, 0.25, also_in=changed)
              for k in range(40)]
    assert all(grid.clearance_at(s.x, s.y) >= BODY for s in starts)
    plain = [perturbed_start("office_11", "turtlebot", start, np.random.default_rng(k), 0.25, 0.25) for k in range(40)]
    assert any(grid.clearance_at(s.x, s.y) < BODY for s in plain)  # the teach world alone would spawn some inside


def test_the_repeat_world_spawns_at_the_route_start_where_furniture_covers_the_teach_spawn():
    """World 1548: a moved piece covers the teach world's spawn; the repeat world spawns at the route's start."""
    from gnm_nav.evaluation.routes import repeat_world_spec
    from gnm_nav.sim.env import SimEnv, load_profile

    task = plan_routes([str(seed) for seed in range(1541, 1549)], "turtlebot", 8, 15.0)[0][-1]  # closed-loop's 8th
    spec, _ = repeat_world_spec(task, task.goal, "both", "turtlebot")
    teach = resolve_world("1548")
    assert occupancy_grid(spec).clearance_at(*teach.spawn[:2]) < BODY  # the case itself
    assert spec.spawn == [task.start.x, task.start.y, task.start.yaw]
    env = SimEnv(spec, load_profile("turtlebot"), render=False)
    try:
        assert (env.pose.x, env.pose.y) == (task.start.x, task.start.y)
    finally:
        env.close()
