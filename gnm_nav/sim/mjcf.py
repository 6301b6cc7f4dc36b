"""World spec (+ robot camera) -> MJCF text and in-memory texture assets for MuJoCo."""
from __future__ import annotations

import math
from dataclasses import dataclass

from gnm_nav.robot_profile import RobotProfile
from gnm_nav.sim.textures import texture_png
from gnm_nav.sim.world_spec import Box, Cylinder, WorldSpec

ROBOT_BODY = "robot"
ROBOT_CAMERA = "robot_cam"


@dataclass(frozen=True)
class CameraGeometry:
    """The robot camera as MuJoCo needs it: mount height, pitch down, vertical field of view."""

    height_m: float
    pitch_deg: float
    fovy_deg: float

    @classmethod
    def from_profile(cls, profile: RobotProfile, width: int | None = None, height: int | None = None) -> CameraGeometry:
        w = width or profile.camera_width
        h = height or profile.camera_height
        fovy = 2.0 * math.degrees(math.atan(math.tan(math.radians(profile.camera_hfov_deg) / 2.0) * h / w))
        return cls(profile.camera_height_m, profile.camera_pitch_deg, fovy)


def _f(*values: float) -> str:
    return " ".join(f"{v:.4g}" for v in values)


def _box_xml(name: str, b: Box) -> str:
    return (f'<geom name="{name}" type="box" pos="{_f(b.center[0], b.center[1], b.z + b.height / 2)}" '
            f'size="{_f(b.size[0] / 2, b.size[1] / 2, b.height / 2)}" euler="0 0 {b.yaw:.5g}" '
            f'material="{b.material}"/>')


def _cyl_xml(name: str, c: Cylinder) -> str:
    return (f'<geom name="{name}" type="cylinder" pos="{_f(c.center[0], c.center[1], c.z + c.height / 2)}" '
            f'size="{_f(c.radius, c.height / 2)}" material="{c.material}"/>')


def world_to_mjcf(spec: WorldSpec, camera: CameraGeometry | None = None) -> tuple[str, dict[str, bytes]]:
    """MJCF XML and its PNG assets. With a camera, adds a mocap body carrying it (the robot's eye)."""
    xmin, ymin, xmax, ymax = spec.bounds
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half_x, half_y = (xmax - xmin) / 2 + 1.0, (ymax - ymin) / 2 + 1.0
    assets: dict[str, bytes] = {}
    asset_xml = []
    for name, mat in spec.materials.items():
        fname = f"tex_{name}.png"
        assets[fname] = texture_png(mat)
        rep = 2.0 / mat.texture_scale_m  # MuJoCo's uniform texrepeat counts repeats per 2 m (its size is half-size)
        asset_xml.append(f'<texture name="tex_{name}" type="2d" file="{fname}"/>')
        asset_xml.append(f'<material name="{name}" texture="tex_{name}" texuniform="true" texrepeat="{_f(rep, rep)}" '
                         f'specular="{mat.specular:.3g}" shininess="0.2" emission="{mat.emission:.3g}"/>')
    # a plane's third size is its render grid spacing: every grid quad is lit per vertex, so a fine grid
    # (0.1 m) makes software GL 2-3x slower for no visible gain at robot-camera resolutions
    body = [f'<geom name="floor" type="plane" pos="{_f(cx, cy, 0)}" size="{_f(half_x, half_y, 2.0)}" '
            f'material="{spec.floor_material}"/>']
    if spec.ceiling_material is not None:
        body.append(f'<geom name="ceiling" type="plane" pos="{_f(cx, cy, spec.wall_height)}" euler="3.14159 0 0" '
                    f'size="{_f(half_x, half_y, 2.0)}" material="{spec.ceiling_material}"/>')
    for group in ("walls", "obstacles", "decor"):
        body += [_box_xml(f"{group}_{i}", b) for i, b in enumerate(getattr(spec, group))]
    body += [_cyl_xml(f"pillar_{i}", c) for i, c in enumerate(spec.pillars)]
    for light in spec.lights:
        kind = 'directional="true"' if light.directional else 'attenuation="1 0.05 0.02"'
        body.append(f'<light pos="{_f(*light.pos)}" dir="{_f(*light.dir)}" diffuse="{_f(*light.diffuse)}" '
                    f'specular="0.1 0.1 0.1" castshadow="false" {kind}/>')
    if camera is not None:
        p = math.radians(camera.pitch_deg)
        body.append(f'<body name="{ROBOT_BODY}" mocap="true" pos="{_f(cx, cy, camera.height_m)}">'
                    f'<camera name="{ROBOT_CAMERA}" fovy="{camera.fovy_deg:.4g}" '
                    f'xyaxes="0 -1 0 {_f(math.sin(p), 0, math.cos(p))}"/></body>')
    amb = spec.ambient
    xml = f"""<mujoco model="{spec.name}">
  <compiler angle="radian"/>
  <statistic extent="1" center="{_f(cx, cy, 1)}"/>
  <visual>
    <quality shadowsize="0" offsamples="0" numslices="12" numstacks="4"/>
    <headlight ambient="{_f(*amb)}" diffuse="0.15 0.15 0.15" specular="0 0 0"/>
    <map znear="0.02" zfar="80" haze="0.0"/>
    <rgba haze="0 0 0 1"/>
  </visual>
  <asset>
    {chr(10).join('    ' + a for a in asset_xml).strip()}
  </asset>
  <worldbody>
    {chr(10).join('    ' + b for b in body).strip()}
  </worldbody>
</mujoco>
"""
    return xml, assets
