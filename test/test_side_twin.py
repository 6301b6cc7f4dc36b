"""Side twins: a drive's poses moved sideways, never into an obstacle."""
from __future__ import annotations

import numpy as np

from gnm_nav.sim.side_twin import SIDE_OFFSET_RANGE_M, draw_side_offset, draw_side_turn, side_poses


def test_poses_move_left_of_their_heading_and_shrink_where_the_body_would_not_fit():
    positions = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0]])
    yaws = np.array([0.0, 0.0, np.pi / 2, np.pi / 2])

    def wall_at_y_half(x: float, y: float) -> float:  # a wall along y = 0.5 for x < 1.5; open elsewhere
        return 0.5 - y if x < 1.5 else 10.0

    moved = side_poses(positions, yaws, 0.4, wall_at_y_half, body_radius_m=0.19)
    # heading +x: left is +y; 0.4 m would leave 0.1 m to the wall, 0.3 m (75%) leaves 0.2 m
    np.testing.assert_allclose(moved[:2], [[0.0, 0.3], [1.0, 0.3]], atol=1e-12)
    np.testing.assert_allclose(moved[2:], [[1.6, 0.0], [1.6, 1.0]], atol=1e-12)  # heading +y: left is -x, room enough
    nowhere = side_poses(positions, yaws, -0.4, lambda x, y: 0.0, body_radius_m=0.2)
    np.testing.assert_array_equal(nowhere, positions)  # no room at all: the pose itself


def test_offsets_are_drawn_on_both_sides_within_the_range():
    rng = np.random.default_rng(0)
    offsets = np.array([draw_side_offset(rng) for _ in range(400)])
    assert (offsets > 0).mean() > 0.4 and (offsets < 0).mean() > 0.4
    assert np.all((np.abs(offsets) >= SIDE_OFFSET_RANGE_M[0]) & (np.abs(offsets) <= SIDE_OFFSET_RANGE_M[1]))


def test_turns_are_drawn_on_both_sides_within_the_largest_and_none_without_one():
    rng = np.random.default_rng(0)
    turns = np.array([draw_side_turn(rng, 0.4) for _ in range(400)])
    assert (turns > 0).mean() > 0.4 and (turns < 0).mean() > 0.4 and np.abs(turns).max() <= 0.4
    assert np.abs(turns).max() > 0.35
    assert draw_side_turn(rng, 0.0) == 0.0
