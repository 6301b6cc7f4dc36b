"""Headless MuJoCo rendering of the robot camera (EGL, falling back to OSMesa)."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gnm_nav.common.angles import yaw_to_quaternion
from gnm_nav.common.errors import GnmNavError
from gnm_nav.sim.mjcf import ROBOT_BODY, ROBOT_CAMERA, CameraGeometry, world_to_mjcf
from gnm_nav.sim.world_spec import WorldSpec

GL_BACKENDS = ("egl", "osmesa")


class RenderError(GnmNavError):
    """No headless OpenGL backend works on this machine."""


_PROBE = "import mujoco; c = mujoco.GLContext(8, 8); c.make_current(); c.free()"
_CHECKED_ENV = "GNM_NAV_MUJOCO_GL_OK"  # set once a backend is known to work; inherited by worker processes


def _probe(backend: str) -> str | None:
    """Try a GL backend in a child process (the choice is fixed at import); None if it works, else the error."""
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "timed out"
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def _import_mujoco():
    """Import mujoco with a working headless GL: MUJOCO_GL if set, else egl, falling back to osmesa."""
    if "mujoco" not in sys.modules and not os.environ.get(_CHECKED_ENV):
        requested = os.environ.get("MUJOCO_GL")
        candidates = [requested] if requested else []
        candidates += [b for b in GL_BACKENDS if b != requested]
        errors = []
        for backend in candidates:
            error = _probe(backend)
            if error is None:
                os.environ["MUJOCO_GL"] = os.environ[_CHECKED_ENV] = backend
                os.environ.pop("PYOPENGL_PLATFORM", None)
                break
            errors.append(f"{backend}: {error}")
        else:
            raise RenderError("no headless OpenGL for MuJoCo (" + "; ".join(errors) + "). Install Mesa EGL "
                              "(libegl1, libgl1-mesa-dri) or OSMesa (libosmesa6), then set MUJOCO_GL=egl or osmesa.")
    import mujoco

    return mujoco


class CameraRenderer:
    """Renders RGB frames from a pose (x, y, yaw) in one world, at a fixed output size.

    A GL context is bound to the thread that made it current; with `own_thread` all GL work runs on one
    private thread, so callers on any thread (a ROS multi-threaded executor) can render safely.
    """

    def __init__(self, spec: WorldSpec, camera: CameraGeometry, width: int, height: int,
                 own_thread: bool = False) -> None:
        self.width, self.height = width, height
        self._cam_h = camera.height_m
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujoco-render") if own_thread else None
        self._call(self._setup, spec, camera)

    def _call(self, fn, *args):
        return fn(*args) if self._pool is None else self._pool.submit(fn, *args).result()

    def _setup(self, spec: WorldSpec, camera: CameraGeometry) -> None:
        mujoco = _import_mujoco()
        self._mujoco = mujoco
        xml, assets = world_to_mjcf(spec, camera)
        self.model = mujoco.MjModel.from_xml_string(xml, assets)
        self.model.vis.global_.offwidth = max(self.width, 64)
        self.model.vis.global_.offheight = max(self.height, 64)
        self.data = mujoco.MjData(self.model)
        self._mocap = self.model.body(ROBOT_BODY).mocapid[0]
        self._cam = self.model.camera(ROBOT_CAMERA).id
        self._renderer = mujoco.Renderer(self.model, self.height, self.width)

    def render(self, x: float, y: float, yaw: float) -> np.ndarray:
        return self._call(self._render, x, y, yaw)

    def _render(self, x: float, y: float, yaw: float) -> np.ndarray:
        mj = self._mujoco
        self.data.mocap_pos[self._mocap] = (x, y, self._cam_h)
        qx, qy, qz, qw = yaw_to_quaternion(yaw)
        self.data.mocap_quat[self._mocap] = (qw, qx, qy, qz)  # MuJoCo orders w first
        mj.mj_kinematics(self.model, self.data)
        mj.mj_camlight(self.model, self.data)
        self._renderer.update_scene(self.data, camera=self._cam)
        return self._renderer.render()

    def close(self) -> None:
        self._call(self._renderer.close)
        if self._pool is not None:
            self._pool.shutdown()
