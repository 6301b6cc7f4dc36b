"""World specs: deterministic generation, strict loading, occupancy and map rendering (no rendering GL needed)."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from gnm_nav.sim.map_render import render_map
from gnm_nav.sim.occupancy import occupancy_grid
from gnm_nav.sim.world_gen import generate_world
from gnm_nav.sim.world_spec import WorldSpecError, dump_world_spec, load_world_spec, save_world_spec
from gnm_nav.sim.worlds import resolve_world, shipped_worlds


@pytest.mark.parametrize("family", ["office", "hall", "maze"])
def test_generation_is_deterministic_and_traversable(family, tmp_path):
    a, b = generate_world(5, family), generate_world(5, family)
    assert dump_world_spec(a) == dump_world_spec(b)
    assert dump_world_spec(a) != dump_world_spec(generate_world(6, family))
    assert a.family == family and len(a.walls) >= 4 and len(a.materials) >= 6 and a.lights
    grid = occupancy_grid(a)
    assert grid.clearance_at(*a.spawn[:2]) >= 0.45  # the widest body fits at the spawn
    save_world_spec(a, tmp_path / "w.yaml")
    assert dump_world_spec(load_world_spec(tmp_path / "w.yaml")) == dump_world_spec(a)


def test_shipped_worlds_load():
    names = shipped_worlds()
    assert {"box_room", "office_11", "hall_11", "maze_11"} <= set(names)
    for name in names:
        assert resolve_world(name).name == name


def _write(tmp_path, data) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.__setitem__("wals", d.pop("walls")), "unknown field 'wals'"),
    (lambda d: d["materials"]["floor"].__setitem__("colour", [1, 1, 1]), "unknown field materials.floor.'colour'"),
    (lambda d: d["walls"][1].__setitem__("material", "wal"), "walls\\[1\\].material.*unknown material 'wal'"),
    (lambda d: d["walls"][0].__setitem__("height", "tall"), "'walls\\[0\\].height' must be a number"),
    (lambda d: d.__setitem__("bounds", [0, 0, 1]), "'bounds' must be a list of 4"),
    (lambda d: d["materials"]["floor"].__setitem__("texture", "marble"), "texture' must be one of"),
])
def test_spec_errors_name_the_field(tmp_path, edit, match):
    data = yaml.safe_load(open(resolve_world_path("box_room")).read())
    edit(data)
    with pytest.raises(WorldSpecError, match=match):
        load_world_spec(_write(tmp_path, data))


def resolve_world_path(name: str):
    from gnm_nav.sim.worlds import worlds_dir

    return worlds_dir() / f"{name}.yaml"


def test_resolve_world_forms():
    assert resolve_world("4").seed == 4
    assert resolve_world("maze:4").family == "maze"
    with pytest.raises(WorldSpecError, match="unknown world 'nowhere'"):
        resolve_world("nowhere")
    with pytest.raises(WorldSpecError, match="FAMILY:SEED"):
        resolve_world("castle:3")
    with pytest.raises(WorldSpecError, match="unknown world '-1'"):  # a negative seed names no world
        resolve_world("-1")


def test_a_binary_world_file_is_one_clear_error(tmp_path):
    path = tmp_path / "world.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(WorldSpecError, match="not a text file"):
        load_world_spec(path)


def test_occupancy_and_map_of_hand_written_world():
    spec = resolve_world("box_room")
    grid = occupancy_grid(spec)
    assert grid.clearance_at(5.0, 1.0) == 0.0  # inside the partition wall
    assert grid.clearance_at(2.5, 2.5) > 1.0  # open floor
    assert grid.occupied[grid.to_cell(6.5, 3.5)]  # pillar
    img = render_map(spec, [np.array([[1.0, 2.5], [4.0, 3.5]])], px_per_m=20)
    assert img.shape == (100, 160, 3)
    assert tuple(img[0, 0]) == (60, 60, 66)  # corner wall, north up
    mid = img[100 - 60, 50]  # (2.5, 3.0) on the line, north up
    assert mid[0] > 150 and mid[1] < 150  # the trajectory line is drawn in red


def test_sdf_export_matches_spec():
    import xml.etree.ElementTree as ET

    from gnm_nav.sim.sdf import world_to_sdf

    spec = resolve_world("box_room")
    world = ET.fromstring(world_to_sdf(spec)).find("world")
    models = world.findall("model")
    assert len(models) == 1 + len(spec.walls) + len(spec.obstacles) + len(spec.decor) + len(spec.pillars)
    colliding = [m for m in models if m.find("link/collision") is not None]
    assert len(colliding) == 1 + len(spec.solid_boxes()) + len(spec.solid_cylinders())  # decor lamps do not collide
    assert len(world.findall("light")) == len(spec.lights)
    wall = world.find("model[@name='walls_4']")
    assert wall.find("pose").text.split()[:3] == ["5", "1.25", "1.3"]
