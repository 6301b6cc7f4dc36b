"""World spec -> SDF world for Gazebo (gz sim) users: same walls, obstacles and lights, flat colours.

Gazebo then provides the robot and its sensors (bridged with ros_gz_bridge); only the static world comes
from here, so a world used in MuJoCo can be reproduced in Gazebo.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape

from gnm_nav.sim.world_spec import Box, Cylinder, WorldSpec


def _f(*values: float) -> str:
    return " ".join(f"{v:.4g}" for v in values)


def _material(spec: WorldSpec, name: str) -> str:
    r, g, b = spec.materials[name].rgb
    emission = spec.materials[name].emission
    return (f"<material><ambient>{_f(r, g, b)} 1</ambient><diffuse>{_f(r, g, b)} 1</diffuse>"
            f"<emissive>{_f(r * emission, g * emission, b * emission)} 1</emissive></material>")


def _link(name: str, pose: str, geometry: str, material: str, collide: bool) -> str:
    collision = f"<collision name='collision'><geometry>{geometry}</geometry></collision>" if collide else ""
    return (f"<model name='{escape(name)}'><static>true</static><pose>{pose}</pose><link name='link'>"
            f"{collision}<visual name='visual'><geometry>{geometry}</geometry>{material}</visual></link></model>")


def _box(spec: WorldSpec, name: str, b: Box) -> str:
    pose = _f(b.center[0], b.center[1], b.z + b.height / 2, 0, 0, b.yaw)
    geometry = f"<box><size>{_f(b.size[0], b.size[1], b.height)}</size></box>"
    return _link(name, pose, geometry, _material(spec, b.material), b.solid)


def _cylinder(spec: WorldSpec, name: str, c: Cylinder) -> str:
    pose = _f(c.center[0], c.center[1], c.z + c.height / 2, 0, 0, 0)
    geometry = f"<cylinder><radius>{c.radius:.4g}</radius><length>{c.height:.4g}</length></cylinder>"
    return _link(name, pose, geometry, _material(spec, c.material), c.solid)


def world_to_sdf(spec: WorldSpec) -> str:
    xmin, ymin, xmax, ymax = spec.bounds
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    floor = Box(center=[cx, cy], size=[xmax - xmin + 2, ymax - ymin + 2], height=0.01, z=-0.01,
                material=spec.floor_material)
    models = [_box(spec, "floor", floor)]
    for group in ("walls", "obstacles", "decor"):
        models += [_box(spec, f"{group}_{i}", b) for i, b in enumerate(getattr(spec, group))]
    models += [_cylinder(spec, f"pillar_{i}", c) for i, c in enumerate(spec.pillars)]
    lights = []
    for i, light in enumerate(spec.lights):
        kind = "directional" if light.directional else "point"
        dx, dy, dz = light.dir
        norm = math.sqrt(dx * dx + dy * dy + dz * dz) or 1.0
        lights.append(f"<light type='{kind}' name='light_{i}'><pose>{_f(*light.pos, 0, 0, 0)}</pose>"
                      f"<diffuse>{_f(*light.diffuse)} 1</diffuse><specular>0.1 0.1 0.1 1</specular>"
                      f"<direction>{_f(dx / norm, dy / norm, dz / norm)}</direction>"
                      f"<attenuation><range>20</range><constant>1</constant><linear>0.05</linear>"
                      f"<quadratic>0.02</quadratic></attenuation><cast_shadows>false</cast_shadows></light>")
    amb = _f(*spec.ambient)
    body = "\n    ".join(lights + models)
    return f"""<?xml version="1.0"?>
<sdf version="1.9">
  <world name="{escape(spec.name)}">
    <physics name="default" type="ode">
      <max_step_size>0.005</max_step_size><real_time_factor>1</real_time_factor>
    </physics>
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-scene-broadcaster-system" name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors">
      <render_engine>ogre2</render_engine>
    </plugin>
    <scene><ambient>{amb} 1</ambient><background>0.7 0.7 0.7 1</background><shadows>false</shadows></scene>
    {body}
  </world>
</sdf>
"""
