"""Top-down pictures of a world (floor zones, walls, obstacles) with optional trajectory overlays."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from gnm_nav.sim.occupancy import OccupancyGrid, occupancy_grid, rasterize
from gnm_nav.sim.world_spec import WorldSpec

TRAJ_COLOURS = [(230, 60, 40), (40, 110, 230), (40, 170, 60), (200, 120, 20), (150, 60, 200)]


def render_map(spec: WorldSpec, trajectories: Sequence[np.ndarray] = (), px_per_m: float = 40.0,
               colours: Sequence[tuple[int, int, int]] | None = None) -> np.ndarray:
    """RGB image, north (+y) up; floor zones in their colour, solid things dark, trajectories as lines (in
    `colours`, default TRAJ_COLOURS in turn)."""
    colours = list(colours) if colours else TRAJ_COLOURS
    res = 1.0 / px_per_m
    grid: OccupancyGrid = occupancy_grid(spec, resolution=res)
    h, w = grid.shape
    img = np.full((h, w, 3), 235, dtype=np.uint8)
    for b in spec.decor:  # floor zones: thin non-solid boxes lying on the floor
        if b.z == 0.0 and b.height < 0.02:
            tint = np.asarray(spec.materials[b.material].rgb) * 0.35 + 0.65
            zone = np.zeros((h, w), dtype=bool)
            rasterize(zone, grid.origin, res, [b], [])
            img[zone] = (tint * 255).astype(np.uint8)
    img[grid.occupied] = (60, 60, 66)
    for i, traj in enumerate(trajectories):
        pts = np.asarray(traj, dtype=np.float64)[:, :2]
        if len(pts) == 0:
            continue
        pix = np.stack([(pts[:, 0] - grid.origin[0]) / res, (pts[:, 1] - grid.origin[1]) / res], axis=1)
        pix = np.round(pix).astype(np.int32)
        colour = colours[i % len(colours)]
        cv2.polylines(img, [pix], False, colour, max(2, int(px_per_m / 15)), lineType=cv2.LINE_AA)
        cv2.circle(img, tuple(int(v) for v in pix[0]), max(3, int(px_per_m / 8)), (30, 180, 30), -1)
        cv2.circle(img, tuple(int(v) for v in pix[-1]), max(3, int(px_per_m / 8)), (200, 30, 30), -1)
    return np.ascontiguousarray(img[::-1])  # row 0 = ymax: north up
