"""Procedural indoor worlds: seed + family -> WorldSpec (office, hall, maze). Same seed, same world.

Obstacles are placed one at a time and kept only if the free space a wide robot needs stays connected,
so every generated world is fully traversable by every robot profile we ship.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gnm_nav.sim.occupancy import DEFAULT_RESOLUTION, largest_free_component, occupancy_grid, rasterize
from gnm_nav.sim.world_spec import Box, Cylinder, Light, Material, WorldSpec, WorldSpecError

GENERATED_FAMILIES = ("office", "hall", "maze")
WALL_T = 0.15
DOOR_H = 2.05
PASSAGE_RADIUS = 0.5  # clearance kept connected: the widest body (0.40 m) plus margin

WALL_COLOURS = [(0.92, 0.90, 0.85), (0.85, 0.88, 0.92), (0.80, 0.86, 0.78), (0.93, 0.85, 0.75), (0.75, 0.75, 0.78),
                (0.95, 0.95, 0.95), (0.70, 0.80, 0.88), (0.88, 0.78, 0.80), (0.96, 0.92, 0.70), (0.65, 0.72, 0.65)]
ACCENT_COLOURS = [(0.55, 0.25, 0.22), (0.20, 0.35, 0.55), (0.25, 0.50, 0.35), (0.60, 0.50, 0.20), (0.45, 0.30, 0.50),
                  (0.75, 0.45, 0.25), (0.30, 0.55, 0.60), (0.62, 0.62, 0.25)]
FLOOR_LOOKS = [("wood", (0.62, 0.45, 0.30), 1.2), ("wood", (0.78, 0.62, 0.45), 1.0), ("tiles", (0.80, 0.80, 0.78), 1.2),
               ("tiles", (0.55, 0.58, 0.60), 1.0), ("carpet", (0.35, 0.38, 0.45), 0.8),
               ("carpet", (0.50, 0.35, 0.30), 0.8),
               ("concrete", (0.60, 0.60, 0.58), 2.0), ("checker", (0.75, 0.72, 0.68), 1.0),
               ("carpet", (0.30, 0.42, 0.35), 0.8), ("tiles", (0.85, 0.80, 0.70), 0.8)]
WALL_TEXTURES = ["plaster", "plaster", "plain", "brick", "stripes", "concrete"]
FURNITURE_COLOURS = [(0.45, 0.30, 0.20), (0.30, 0.30, 0.32), (0.85, 0.85, 0.82), (0.20, 0.25, 0.40), (0.55, 0.20, 0.15),
                     (0.70, 0.55, 0.35), (0.15, 0.15, 0.15)]


@dataclass
class _Builder:
    """Accumulates a spec while keeping the passable free space connected."""

    rng: np.random.Generator
    family: str
    seed: int
    bounds: tuple[float, float, float, float]
    wall_height: float
    scale: float = 1.0  # side length factor over the family's usual size: furniture counts grow with the area
    materials: dict[str, Material] = field(default_factory=dict)
    walls: list[Box] = field(default_factory=list)
    obstacles: list[Box] = field(default_factory=list)
    pillars: list[Cylinder] = field(default_factory=list)
    decor: list[Box] = field(default_factory=list)
    lights: list[Light] = field(default_factory=list)
    _occupied: np.ndarray | None = None
    _passable: np.ndarray | None = None
    _reach: int = 0

    def material(self, name: str, rgb: tuple[float, ...], texture: str, scale: float = 1.0,
                 specular: float = 0.1, emission: float = 0.0) -> str:
        jitter = self.rng.uniform(-0.04, 0.04, 3)
        rgb_j = [float(np.clip(c + j, 0.03, 1.0)) for c, j in zip(rgb, jitter)]
        # palette scales are per pattern cell group; one texture image spans twice that
        self.materials[name] = Material(rgb=rgb_j, texture=texture, texture_scale_m=2 * scale, specular=specular,
                                        emission=emission)
        return name

    def random_floor(self, name: str) -> str:
        kind, rgb, scale = FLOOR_LOOKS[self.rng.integers(len(FLOOR_LOOKS))]
        return self.material(name, rgb, kind, scale)

    def random_wall(self, name: str, accent: bool = False) -> str:
        palette = ACCENT_COLOURS if accent else WALL_COLOURS
        rgb = palette[self.rng.integers(len(palette))]
        return self.material(name, rgb, WALL_TEXTURES[self.rng.integers(len(WALL_TEXTURES))], 1.5)

    def wall(self, x0: float, y0: float, x1: float, y1: float, material: str,
             gaps: Sequence[tuple[float, float]] = (), faces: tuple[int, ...] = (-1, 1)) -> None:
        """An axis-aligned wall from (x0,y0) to (x1,y1) with door gaps given as (start, end) along it.

        `faces` are the sides (-1: towards -y/-x, +1: towards +y/+x) that can carry posters.
        """
        horizontal = abs(y1 - y0) < 1e-9
        a, b = (min(x0, x1), max(x0, x1)) if horizontal else (min(y0, y1), max(y0, y1))
        cursor = a - WALL_T / 2
        pieces = []
        for g0, g1 in sorted(gaps):
            pieces.append((cursor, g0))
            self._lintel(horizontal, x0, y0, g0, g1, material)
            cursor = g1
        pieces.append((cursor, b + WALL_T / 2))
        for s, e in pieces:
            if e - s < 0.05:
                continue
            mid = (s + e) / 2
            center = [mid, y0] if horizontal else [x0, mid]
            size = [e - s, WALL_T] if horizontal else [WALL_T, e - s]
            self.walls.append(Box(center=center, size=size, height=self.wall_height, material=material))
            base = [e - s, WALL_T + 0.03] if horizontal else [WALL_T + 0.03, e - s]
            self.decor.append(Box(center=center, size=base, height=0.1, material="baseboard", solid=False))
            self._posters(horizontal, x0, y0, s, e, faces)

    def _posters(self, horizontal: bool, x0: float, y0: float, s: float, e: float, faces: tuple[int, ...]) -> None:
        """Pictures, notice boards and closed doors on wall faces: the landmarks that make places recognisable."""
        length = e - s
        for side in faces:
            if length < 1.2 or self.rng.random() > min(0.8, 0.3 * length):
                continue
            w = float(self.rng.uniform(0.4, min(1.2, length - 0.6)))
            along = float(self.rng.uniform(s + 0.3 + w / 2, e - 0.3 - w / 2))
            door = self.rng.random() < 0.2
            h, z = (2.0, 0.0) if door else (float(self.rng.uniform(0.4, 0.9)), float(self.rng.uniform(0.9, 1.4)))
            name = f"poster_{len(self.materials)}"
            if door:
                self.material(name, (0.45, 0.32, 0.22), "wood", 0.6)
            else:
                colour = ACCENT_COLOURS[int(self.rng.integers(len(ACCENT_COLOURS)))]
                pattern = ("stripes", "checker", "plain", "tiles", "brick")[int(self.rng.integers(5))]
                self.material(name, colour, pattern, float(self.rng.uniform(0.3, 0.8)))
            offset = side * (WALL_T / 2 + 0.01)
            center = [along, y0 + offset] if horizontal else [x0 + offset, along]
            size = [w, 0.02] if horizontal else [0.02, w]
            self.decor.append(Box(center=center, size=size, height=h, z=z, material=name, solid=False))

    def _lintel(self, horizontal: bool, x0: float, y0: float, g0: float, g1: float, material: str) -> None:
        mid = (g0 + g1) / 2
        center = [mid, y0] if horizontal else [x0, mid]
        size = [g1 - g0, WALL_T] if horizontal else [WALL_T, g1 - g0]
        self.decor.append(Box(center=center, size=size, height=self.wall_height - DOOR_H, z=DOOR_H,
                              material=material, solid=False))
        for edge in (g0, g1):
            post = [edge, y0] if horizontal else [x0, edge]
            self.decor.append(Box(center=post, size=[0.06, WALL_T + 0.04] if horizontal else [WALL_T + 0.04, 0.06],
                                  height=DOOR_H, material="door_frame", solid=False))

    def outer_walls(self, material: str) -> None:
        xmin, ymin, xmax, ymax = self.bounds
        i = WALL_T / 2
        self.wall(xmin + i, ymin + i, xmax - i, ymin + i, material, faces=(1,))
        self.wall(xmin + i, ymax - i, xmax - i, ymax - i, material, faces=(-1,))
        self.wall(xmin + i, ymin + i, xmin + i, ymax - i, material, faces=(1,))
        self.wall(xmax - i, ymin + i, xmax - i, ymax - i, material, faces=(-1,))

    def _grid(self) -> np.ndarray:
        if self._occupied is None:
            self._occupied = occupancy_grid(self.spec(check=False)).occupied
            self._passable = self._free(self._occupied)
            self._reach = int(largest_free_component(self._passable).sum())
        return self._occupied

    @staticmethod
    def _free(occupied: np.ndarray) -> np.ndarray:
        import cv2

        dist = cv2.distanceTransform((~occupied).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return dist * DEFAULT_RESOLUTION >= PASSAGE_RADIUS

    def try_place(self, boxes: Sequence[Box], cylinders: Sequence[Cylinder] = (), decor: Sequence[Box] = ()) -> bool:
        """Add an obstacle group unless it would cut the passable space in two."""
        occupied = self._grid()
        trial = occupied.copy()
        xmin, ymin = self.bounds[0], self.bounds[1]
        rasterize(trial, (xmin, ymin), DEFAULT_RESOLUTION, [b for b in boxes if b.solid], list(cylinders))
        after = self._free(trial)
        lost = int((self._passable & ~after).sum())
        reach = int(largest_free_component(after).sum())
        if reach < self._reach - lost - 2:
            return False
        self._occupied, self._passable, self._reach = trial, after, reach
        self.obstacles += list(boxes)
        self.pillars += list(cylinders)
        self.decor += list(decor)
        return True

    def ceiling_lights(self, spacing: float, max_lights: int = 3) -> None:
        """Lamp panels on a grid; a few carry point lights (each light costs ~10% of software-GL render time)."""
        xmin, ymin, xmax, ymax = self.bounds
        warm = self.rng.uniform(0.85, 1.0)
        level = self.rng.uniform(0.6, 0.9)
        colour = [level, level * warm, level * warm * self.rng.uniform(0.85, 1.0)]
        self.material("lamp", (1.0, 0.98, 0.92), "plain", emission=1.0)
        xs = np.arange(xmin + spacing / 2, xmax, spacing)
        ys = np.arange(ymin + spacing / 2, ymax, spacing)
        spots = [(float(x), float(y)) for x in xs for y in ys]
        for x, y in spots:
            self.decor.append(Box(center=[x, y], size=[1.2, 0.3], height=0.02, z=self.wall_height - 0.03,
                                  material="lamp", solid=False))
        chosen = self.rng.permutation(len(spots))[:max_lights]
        for k in chosen:
            x, y = spots[k]
            self.lights.append(Light(pos=[x, y, self.wall_height - 0.1], diffuse=[float(c) for c in colour]))
        sun = float(self.rng.uniform(0.1, 0.3))
        self.lights.append(Light(pos=[0.0, 0.0, 10.0], diffuse=[sun, sun, sun], directional=True,
                                 dir=[float(self.rng.uniform(-0.4, 0.4)), float(self.rng.uniform(-0.4, 0.4)), -1.0]))

    def spec(self, check: bool = True) -> WorldSpec:
        spawn = self.free_point() if check else None
        ambient = float(self.rng.uniform(0.25, 0.4)) if check else 0.3
        name = f"{self.family}_{self.seed}" + (f"_x{self.scale:g}" if self.scale != 1.0 else "")
        return WorldSpec(name=name, family=self.family, seed=self.seed,
                         bounds=list(self.bounds), wall_height=self.wall_height, floor_material="floor",
                         ceiling_material="ceiling", materials=self.materials, walls=self.walls,
                         obstacles=self.obstacles, pillars=self.pillars, decor=self.decor, lights=self.lights,
                         ambient=[ambient] * 3, spawn=spawn)

    def free_point(self) -> list[float]:
        free = largest_free_component(self._free(self._grid()))
        rows, cols = np.nonzero(free)
        k = int(self.rng.integers(len(rows)))
        x = self.bounds[0] + (cols[k] + 0.5) * DEFAULT_RESOLUTION
        y = self.bounds[1] + (rows[k] + 0.5) * DEFAULT_RESOLUTION
        return [float(x), float(y), float(self.rng.uniform(-math.pi, math.pi))]

    # ---- furniture -------------------------------------------------------------------------------------
    def furniture(self, x: float, y: float, yaw: float) -> tuple[list[Box], list[Cylinder], list[Box]]:
        """One random piece centred at (x, y): solid boxes/cylinders plus visual-only parts."""
        kind = ("table", "cabinet", "boxes", "plant", "shelf", "sofa")[int(self.rng.integers(6))]
        col = FURNITURE_COLOURS[int(self.rng.integers(len(FURNITURE_COLOURS)))]
        c, s = math.cos(yaw), math.sin(yaw)

        def at(dx: float, dy: float) -> list[float]:
            return [x + c * dx - s * dy, y + s * dx + c * dy]

        if kind == "table":
            mat = self.material(f"table_{len(self.materials)}", col, "wood", 0.8)
            w, d = self.rng.uniform(1.0, 1.8), self.rng.uniform(0.6, 0.9)
            top = Box(center=[x, y], size=[w, d], height=0.04, z=0.72, yaw=yaw, material=mat)
            legs = [Box(center=at(sx * (w / 2 - 0.05), sy * (d / 2 - 0.05)), size=[0.05, 0.05], height=0.72,
                        yaw=yaw, material="metal") for sx in (-1, 1) for sy in (-1, 1)]
            return [top, *legs], [], []
        if kind == "cabinet":
            mat = self.material(f"cabinet_{len(self.materials)}", col, "plain")
            return [Box(center=[x, y], size=[self.rng.uniform(0.6, 1.2), 0.5], height=self.rng.uniform(0.9, 1.9),
                        yaw=yaw, material=mat)], [], []
        if kind == "boxes":
            boxes = []
            for _ in range(int(self.rng.integers(1, 4))):
                size = self.rng.uniform(0.35, 0.7)
                boxes.append(Box(center=at(*self.rng.uniform(-0.4, 0.4, 2)), size=[size, size * 0.8],
                                 height=self.rng.uniform(0.3, 0.7), yaw=float(yaw + self.rng.uniform(-0.3, 0.3)),
                                 material="cardboard"))
            return boxes, [], []
        if kind == "plant":
            pot = Cylinder(center=[x, y], radius=0.22, height=0.45, material="pot")
            leaves = Box(center=[x, y], size=[0.55, 0.55], height=0.7, z=0.45, yaw=float(self.rng.uniform(0, 1.5)),
                         material="leaves", solid=False)
            return [], [pot], [leaves]
        if kind == "shelf":
            mat = self.material(f"shelf_{len(self.materials)}", col, "wood", 0.8)
            return [Box(center=[x, y], size=[self.rng.uniform(1.2, 2.2), 0.4], height=1.8, yaw=yaw,
                        material=mat)], [], []
        mat = self.material(f"sofa_{len(self.materials)}", ACCENT_COLOURS[int(self.rng.integers(len(ACCENT_COLOURS)))],
                            "carpet", 0.5)
        return [Box(center=[x, y], size=[1.8, 0.8], height=0.45, yaw=yaw, material=mat),
                Box(center=at(0, -0.3), size=[1.8, 0.2], height=0.85, yaw=yaw, material=mat)], [], []

    def scatter(self, region: tuple[float, float, float, float], count: int, against_walls: bool) -> None:
        """Try to place `count` furniture pieces in a rectangle, preferring the walls when asked."""
        x0, y0, x1, y1 = region
        for _ in range(count * 4):
            if count <= 0:
                return
            if against_walls and self.rng.random() < 0.7:
                side = int(self.rng.integers(4))
                margin = 0.45
                x = self.rng.uniform(x0 + 0.8, x1 - 0.8) if side < 2 else (x0 + margin if side == 2 else x1 - margin)
                y = self.rng.uniform(y0 + 0.8, y1 - 0.8) if side >= 2 else (y0 + margin if side == 0 else y1 - margin)
                yaw = (0.0, math.pi, -math.pi / 2, math.pi / 2)[side]
            else:
                x, y = self.rng.uniform(x0 + 0.8, x1 - 0.8), self.rng.uniform(y0 + 0.8, y1 - 0.8)
                yaw = float(self.rng.uniform(-math.pi, math.pi))
            if x1 - x0 < 1.6 or y1 - y0 < 1.6:
                return
            boxes, cyls, decor = self.furniture(float(x), float(y), float(yaw))
            if self.try_place(boxes, cyls, decor):
                count -= 1


def _common_materials(b: _Builder) -> None:
    b.material("baseboard", (0.38, 0.34, 0.3), "plain")
    b.material("door_frame", (0.45, 0.35, 0.28), "wood", 0.5)
    b.material("metal", (0.6, 0.6, 0.62), "metal", 0.5, specular=0.5)
    b.material("cardboard", (0.66, 0.50, 0.32), "cardboard", 0.6)
    b.material("pot", (0.55, 0.32, 0.22), "plain")
    b.material("leaves", (0.22, 0.48, 0.20), "carpet", 0.3)
    b.material("ceiling", (0.92, 0.92, 0.9), "tiles", 1.2)
    b.random_floor("floor")


def _office(b: _Builder) -> None:
    xmin, ymin, xmax, ymax = b.bounds
    corridor_w = float(b.rng.uniform(1.8, 2.6))
    cy = float(b.rng.uniform(ymin + 0.45 * (ymax - ymin), ymin + 0.55 * (ymax - ymin)))
    c0, c1 = cy - corridor_w / 2, cy + corridor_w / 2
    wall_mat = b.random_wall("wall")
    b.outer_walls(wall_mat)
    rooms = []
    for side, (ya, yb) in enumerate(((ymin, c0), (c1, ymax))):
        xs = [xmin]
        while xmax - xs[-1] > 7.0:  # rooms 3.5-5.5 m wide; the last one keeps at least 3.5 m
            xs.append(xs[-1] + float(b.rng.uniform(3.5, min(5.5, xmax - xs[-1] - 3.5))))
        xs.append(xmax)
        corridor_y = c0 if side == 0 else c1
        gaps = []
        for k in range(len(xs) - 1):
            ra, rb = xs[k], xs[k + 1]
            rooms.append((ra, ya, rb, yb))
            door_w = float(b.rng.uniform(1.1, 1.4))
            d0 = float(b.rng.uniform(ra + 0.4, rb - 0.4 - door_w))
            gaps.append((d0, d0 + door_w))
            room_floor = b.random_floor(f"room_floor_{side}_{k}")
            b.decor.append(Box(center=[(ra + rb) / 2, (ya + yb) / 2], size=[rb - ra, yb - ya], height=0.004,
                               material=room_floor, solid=False))
            back_y = ya if side == 0 else yb
            accent = b.random_wall(f"room_wall_{side}_{k}", accent=bool(b.rng.random() < 0.5))
            inset = WALL_T + 0.011  # just in front of the outer wall's inner face
            b.walls.append(Box(center=[(ra + rb) / 2, back_y + (inset if side == 0 else -inset)],
                               size=[rb - ra - WALL_T, 0.02], height=b.wall_height - 0.01, material=accent))
            if k > 0:
                inner_gaps = []
                if b.rng.random() < 0.4:
                    g0 = float(b.rng.uniform(min(ya, yb) + 0.5, max(ya, yb) - 1.7))
                    inner_gaps.append((g0, g0 + 1.2))
                b.wall(ra, ya, ra, yb, wall_mat, inner_gaps)
        b.wall(xmin, corridor_y, xmax, corridor_y, wall_mat, gaps)
    b.ceiling_lights(spacing=float(b.rng.uniform(2.5, 3.5)))
    for ra, ya, rb, yb in rooms:  # furniture against room walls; the corridor only a few pieces
        b.scatter((ra + WALL_T, ya + WALL_T, rb - WALL_T, yb - WALL_T), int(b.rng.integers(1, 4)), True)
    b.scatter((xmin + WALL_T, c0, xmax - WALL_T, c1), int(b.rng.integers(0, 3)), True)


def _hall(b: _Builder) -> None:
    xmin, ymin, xmax, ymax = b.bounds
    wall_mat = b.random_wall("wall")
    b.outer_walls(wall_mat)
    b.material("pillar", (0.7, 0.7, 0.68), "concrete", 1.0)
    for k in range(int(b.rng.integers(2, 6))):  # painted floor zones
        zone = b.random_floor(f"zone_{k}")
        w, h = b.rng.uniform(2.0, 5.0, 2)
        b.decor.append(Box(center=[float(b.rng.uniform(xmin + w / 2, xmax - w / 2)),
                                   float(b.rng.uniform(ymin + h / 2, ymax - h / 2))],
                           size=[float(w), float(h)], height=0.004 + 0.001 * k, material=zone, solid=False))
    spacing = float(b.rng.uniform(4.0, 6.0))
    square = b.rng.random() < 0.5
    for x in np.arange(xmin + spacing, xmax - 1.0, spacing):
        for y in np.arange(ymin + spacing, ymax - 1.0, spacing):
            if square:
                b.try_place([Box(center=[float(x), float(y)], size=[0.5, 0.5], height=b.wall_height,
                                 material="pillar")])
            else:
                b.try_place([], [Cylinder(center=[float(x), float(y)], radius=0.3, height=b.wall_height,
                                          material="pillar")])
    for k in range(int(b.rng.integers(0, 3))):  # partition walls
        length = float(b.rng.uniform(2.5, 5.0))
        horizontal = b.rng.random() < 0.5
        x = float(b.rng.uniform(xmin + 2.0, xmax - 2.0 - (length if horizontal else 0)))
        y = float(b.rng.uniform(ymin + 2.0, ymax - 2.0 - (0 if horizontal else length)))
        mat = b.random_wall(f"partition_{k}", accent=True)
        center = [x + length / 2, y] if horizontal else [x, y + length / 2]
        size = [length, WALL_T] if horizontal else [WALL_T, length]
        b.try_place([Box(center=center, size=size, height=float(b.rng.uniform(1.2, 2.2)), material=mat)])
    b.ceiling_lights(spacing=float(b.rng.uniform(3.0, 4.5)))
    b.scatter((xmin + WALL_T, ymin + WALL_T, xmax - WALL_T, ymax - WALL_T),
              int(round(b.rng.integers(8, 16) * b.scale ** 2)), False)


def _maze(b: _Builder) -> None:
    xmin, ymin, xmax, ymax = b.bounds
    cell = float(b.rng.uniform(1.9, 2.5))
    nx, ny = int((xmax - xmin) // cell), int((ymax - ymin) // cell)
    b.bounds = (xmin, ymin, xmin + nx * cell, ymin + ny * cell)
    xmax, ymax = b.bounds[2], b.bounds[3]
    region_mats = [b.random_wall(f"wall_{k}", accent=k % 2 == 1) for k in range(4)]
    b.outer_walls(region_mats[0])
    # recursive backtracker over cells; an edge is open once carved
    visited = np.zeros((nx, ny), dtype=bool)
    open_edges: set[tuple[int, int, int, int]] = set()
    stack = [(int(b.rng.integers(nx)), int(b.rng.integers(ny)))]
    visited[stack[0]] = True
    while stack:
        cx, cy = stack[-1]
        nbrs = [(cx + dx, cy + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= cx + dx < nx and 0 <= cy + dy < ny and not visited[cx + dx, cy + dy]]
        if not nbrs:
            stack.pop()
            continue
        nxt = nbrs[int(b.rng.integers(len(nbrs)))]
        open_edges.add((min(cx, nxt[0]), min(cy, nxt[1]), max(cx, nxt[0]), max(cy, nxt[1])))
        visited[nxt] = True
        stack.append(nxt)
    loops = 0.15
    for i in range(nx):
        for j in range(ny):
            quadrant = (2 * i) // nx + 2 * ((2 * j) // ny)
            mat = region_mats[quadrant]
            x0, y0 = xmin + i * cell, ymin + j * cell
            if i + 1 < nx and (i, j, i + 1, j) not in open_edges and b.rng.random() > loops:
                b.wall(x0 + cell, y0, x0 + cell, y0 + cell, mat)
            if j + 1 < ny and (i, j, i, j + 1) not in open_edges and b.rng.random() > loops:
                b.wall(x0, y0 + cell, x0 + cell, y0 + cell, mat)
    b.ceiling_lights(spacing=cell * 1.5)
    b.material("pillar", (0.7, 0.7, 0.68), "concrete", 1.0)
    for _ in range(int(round(b.rng.integers(2, 6) * b.scale ** 2))):
        i, j = int(b.rng.integers(nx)), int(b.rng.integers(ny))
        px, py = xmin + (i + 0.5) * cell, ymin + (j + 0.5) * cell
        boxes, cyls, decor = b.furniture(float(px + b.rng.uniform(-0.3, 0.3)), float(py + b.rng.uniform(-0.3, 0.3)),
                                         float(b.rng.uniform(-math.pi, math.pi)))
        b.try_place(boxes, cyls, decor)


_FAMILY_BUILDERS = {"office": _office, "hall": _hall, "maze": _maze}


LARGE_SCALE = 2.0  # `large:SEED` worlds: twice the usual side lengths, for routes of 40-80 m


def generate_world(seed: int, family: str | None = None, scale: float = 1.0) -> WorldSpec:
    """A world from a seed; the family defaults to one chosen by the seed. `scale` multiplies the side lengths
    (the layout is generated for the larger floor, not stretched)."""
    if not (math.isfinite(scale) and 0.5 <= scale <= 4.0):
        raise WorldSpecError(f"world scale must be within 0.5..4, got {scale}")
    if family is None:
        family = GENERATED_FAMILIES[seed % len(GENERATED_FAMILIES)]
    if family not in _FAMILY_BUILDERS:
        raise WorldSpecError(f"unknown world family {family!r} (choose from {', '.join(GENERATED_FAMILIES)})")
    rng = np.random.default_rng([seed, GENERATED_FAMILIES.index(family)])
    size = {"office": ((14, 22), (10, 14)), "hall": ((12, 20), (10, 16)), "maze": ((10, 16), (9, 14))}[family]
    w, h = float(rng.uniform(*size[0])) * scale, float(rng.uniform(*size[1])) * scale
    b = _Builder(rng=rng, family=family, seed=seed, bounds=(0.0, 0.0, round(w, 2), round(h, 2)),
                 wall_height=float(rng.uniform(2.5, 3.2)), scale=scale)
    _common_materials(b)
    _FAMILY_BUILDERS[family](b)
    return b.spec()
