"""Collect GNM-format training data with the expert driver, across worlds and robot bodies, in worker processes.

Work is split into jobs (one world x one robot); each job writes trajectories named by (world, robot, k)
whose content is a pure function of the seeds, so a rerun after an interruption skips finished
trajectories and produces exactly what an uninterrupted run would have.

A share of the drives (`relit_share`) also gets a relit twin, `<name>_relit`: the same poses seen again in the
world under other light and other wall finishes (sim.world_changes.relight, what `gnm-nav eval --changes lighting`
does to a repeat). A graph is taught in one light and repeated in another; a model that only ever compared
frames of one drive reads the same place in other light as far away (gnm_sim: 1.2 steps at a node's own pose in
the taught world, 10.8 after relighting). The trainer can draw a sample's goal from the twin
(gnm_nav.gnm.training.samples, `twin_goal_prob`).

A share of the drives (`side_share`) gets a side twin, `<name>_side`: every pose moved sideways by one offset
(gnm_nav.sim.side_twin), the view from beside the line whose goals and future poses the trainer pairs with it;
with `side_turn_deg` its headings are also turned by one angle per drive. Twins do not count to the frame quota.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gnm_nav.common.errors import GnmNavError
from gnm_nav.data.gnm_format import (
    FRAME_RATE_HZ,
    TRAJ_DATA,
    read_trajectory,
    remove_partial_trajectories,
    side_name,
    twin_name,
    write_data_config,
    write_splits,
    write_trajectory,
)
from gnm_nav.robot_profile import RobotProfile
from gnm_nav.sim.env import load_profile
from gnm_nav.sim.world_gen import generate_world
from gnm_nav.sim.world_spec import WorldSpec, save_world_spec

DATASET_PREFIX = "sim_"
MIN_TRAJ_FRAMES = 8


@dataclass(frozen=True)
class CollectJob:
    out: str
    world_seed: int
    world_index: int
    robot: str
    robot_index: int
    seed: int
    frames: int  # frame quota for this job
    min_route_m: float
    perturb: str = "none"  # a gnm_nav.sim.perturb preset ...
    perturb_share: float = 0.0  # ... applied to this share of the drives
    relit_share: float = 0.0  # share of the drives that also get a relit twin
    side_share: float = 0.0  # share of the drives that also get a side twin
    side_turn_deg: float = 0.0  # a side twin's headings turned by up to this much (one angle per drive)


@dataclass
class JobResult:
    trajectories: list[str] = field(default_factory=list)
    frames: int = 0
    metres: float = 0.0
    skipped: int = 0  # trajectories already present from an earlier run
    skipped_frames: int = 0
    twins: list[str] = field(default_factory=list)  # relit and side twins (they do not count to the quota)


_progress: "mp.Queue | _ListQueue | None" = None


def _init_worker(progress: "mp.Queue | _ListQueue | None", in_worker_process: bool = False) -> None:
    global _progress
    _progress = progress
    if in_worker_process:
        os.environ.setdefault("LP_NUM_THREADS", "1")  # one software-GL thread each: the workers fill the cores
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it stops the pool)


def _report(n: int) -> None:
    if _progress is not None:
        _progress.put(n)


def dataset_name(robot: str) -> str:
    return f"{DATASET_PREFIX}{robot}"


def render_relit(world: WorldSpec, profile: RobotProfile, positions: np.ndarray, yaws: np.ndarray,
                 seed: tuple[int, ...]) -> list[np.ndarray]:
    """The camera frames at these poses in `world` relit (its own light and finishes drawn from `seed`)."""
    from gnm_nav.sim.world_changes import changed_world

    relit, _ = changed_world(world, "lighting", seed, [], profile.body_radius_m)
    return render_poses(relit, profile, positions, yaws)


def render_poses(world: WorldSpec, profile: RobotProfile, positions: np.ndarray,
                 yaws: np.ndarray) -> list[np.ndarray]:
    """The robot's camera frames at these poses in `world`."""
    from gnm_nav.sim.mjcf import CameraGeometry
    from gnm_nav.sim.render import CameraRenderer

    w, h = profile.camera_width, profile.camera_height
    renderer = CameraRenderer(world, CameraGeometry.from_profile(profile, w, h), w, h)
    try:
        return [renderer.render(float(x), float(y), float(yaw)) for (x, y), yaw in zip(positions, yaws)]
    finally:
        renderer.close()


def run_job(job: CollectJob) -> JobResult:
    """Drive routes in one world with one robot until the job's frame quota is met."""
    from gnm_nav.sim.env import SimEnv
    from gnm_nav.sim.expert import ExpertConfig, GridPlanner, PlanningError, sample_route
    from gnm_nav.sim.perturb import PERTURBATIONS, perturbed_route
    from gnm_nav.sim.rollout import expert_rollout

    world = generate_world(job.world_seed)
    profile = load_profile(job.robot)
    ds_dir = Path(job.out) / dataset_name(job.robot)
    result = JobResult()
    env = None
    k = 0
    try:
        while result.frames < job.frames:
            name = f"{world.name}_{job.robot}_{k:03d}"
            k += 1
            done = ds_dir / name
            relit = np.random.default_rng([job.seed, job.world_seed, job.robot_index, k, 1]).random() < job.relit_share
            side = np.random.default_rng([job.seed, job.world_seed, job.robot_index, k, 3]).random() < job.side_share
            if (done / TRAJ_DATA).is_file():
                traj = read_trajectory(done)
                result.trajectories.append(name)
                result.frames += len(traj)
                result.metres += float(np.linalg.norm(np.diff(traj.positions, axis=0), axis=1).sum())
                result.skipped += 1
                result.skipped_frames += len(traj)
                _report(len(traj))
                if relit:
                    _write_twin(job, world, profile, ds_dir, name, k, traj.positions, traj.yaws, result)
                if side:
                    _write_side_twin(job, world, profile, ds_dir, name, k, traj.positions, traj.yaws, result)
                continue
            if env is None:
                env = SimEnv(world, profile, seed=job.seed)
                planner = GridPlanner(env.grid, profile.body_radius_m)
            rng = np.random.default_rng([job.seed, job.world_seed, job.robot_index, k])
            try:
                route = sample_route(planner, rng, job.min_route_m)
            except PlanningError:
                route = sample_route(planner, rng, job.min_route_m / 3)
            expert = ExpertConfig()
            if job.perturb != "none" and rng.random() < job.perturb_share:  # (clean data draws nothing here)
                perturbation = PERTURBATIONS[job.perturb]
                route, expert = perturbed_route(route, planner, perturbation, rng), perturbation.expert
            remaining = job.frames - result.frames
            max_time = min(2.5 * route.length / profile.max_v + 20.0, remaining / FRAME_RATE_HZ)
            frames, poses = [], []
            for step in expert_rollout(env, planner, route, rng, FRAME_RATE_HZ, max_time, config=expert):
                if step.frame is not None:
                    frames.append(step.frame)
                    poses.append((step.state.pose.x, step.state.pose.y, step.state.pose.yaw))
            if len(frames) < MIN_TRAJ_FRAMES and remaining >= MIN_TRAJ_FRAMES:
                continue
            arr = np.asarray(poses, dtype=np.float64)
            write_trajectory(ds_dir, name, frames, arr[:, :2], arr[:, 2])
            result.trajectories.append(name)
            result.frames += len(frames)
            result.metres += float(np.linalg.norm(np.diff(arr[:, :2], axis=0), axis=1).sum())
            _report(len(frames))
            if relit:
                _write_twin(job, world, profile, ds_dir, name, k, arr[:, :2], arr[:, 2], result)
            if side:
                _write_side_twin(job, world, profile, ds_dir, name, k, arr[:, :2], arr[:, 2], result)
    finally:
        if env is not None:
            env.close()
    return result


def _write_twin(job: CollectJob, world: WorldSpec, profile: RobotProfile, ds_dir: Path, name: str, k: int,
                positions: np.ndarray, yaws: np.ndarray, result: JobResult) -> None:
    """The drive's relit twin (kept from an earlier run when complete); its frames do not count to the quota."""
    twin = twin_name(name)
    if not (ds_dir / twin / TRAJ_DATA).is_file():
        frames = render_relit(world, profile, positions, yaws, (job.seed, job.world_seed, job.robot_index, k, 2))
        write_trajectory(ds_dir, twin, frames, positions, yaws)
    result.twins.append(twin)


def _write_side_twin(job: CollectJob, world: WorldSpec, profile: RobotProfile, ds_dir: Path, name: str, k: int,
                     positions: np.ndarray, yaws: np.ndarray, result: JobResult) -> None:
    """The drive's side twin (kept from an earlier run when complete); its frames do not count to the quota."""
    from gnm_nav.common.angles import wrap_angle
    from gnm_nav.sim.occupancy import occupancy_grid
    from gnm_nav.sim.side_twin import draw_side_offset, draw_side_turn, side_poses

    twin = side_name(name)
    if not (ds_dir / twin / TRAJ_DATA).is_file():
        offset = draw_side_offset(np.random.default_rng([job.seed, job.world_seed, job.robot_index, k, 4]))
        turn = draw_side_turn(np.random.default_rng([job.seed, job.world_seed, job.robot_index, k, 5]),
                              math.radians(job.side_turn_deg))
        grid = occupancy_grid(world)
        moved = side_poses(positions, yaws, offset, grid.clearance_at, profile.body_radius_m)
        turned = wrap_angle(yaws + turn) if turn else yaws
        write_trajectory(ds_dir, twin, render_poses(world, profile, moved, turned), moved, turned)
    result.twins.append(twin)


@dataclass
class CollectSummary:
    frames: int  # in the dataset, including those from an earlier run
    new_frames: int  # written by this run
    metres: float
    trajectories: int
    twins: int  # relit and side twins among the trajectories
    skipped: int
    worlds: list[str]
    robots: list[str]
    seconds: float


def plan_jobs(out: Path, n_worlds: int, robots: list[str], frames: int, seed: int,
              min_route_m: float, perturb: str = "none", perturb_share: float = 0.0,
              relit_share: float = 0.0, side_share: float = 0.0, side_turn_deg: float = 0.0) -> list[CollectJob]:
    n_jobs = n_worlds * len(robots)
    quota = max(MIN_TRAJ_FRAMES, math.ceil(frames / n_jobs))
    return [CollectJob(out=str(out), world_seed=seed + i, world_index=i, robot=r, robot_index=j, seed=seed,
                       frames=quota, min_route_m=min_route_m, perturb=perturb, perturb_share=perturb_share,
                       relit_share=relit_share, side_share=side_share, side_turn_deg=side_turn_deg)
            for i in range(n_worlds) for j, r in enumerate(robots)]


def held_out_worlds(n_worlds: int) -> set[int]:
    """World indices held out for the test split: the last ~20% (none if there is only one world)."""
    n_test = 0 if n_worlds < 2 else max(1, round(0.2 * n_worlds))
    return set(range(n_worlds - n_test, n_worlds))


def collect(out: Path, n_worlds: int, robots: list[str], frames: int, seed: int, workers: int = 1,
            min_route_m: float = 8.0, progress_bar: bool = True, perturb: str = "none",
            perturb_share: float = 0.5, relit_share: float = 0.0, side_share: float = 0.0,
            side_turn_deg: float = 0.0) -> CollectSummary:
    """Write a GNM-format dataset root at `out` (one dataset per robot), resuming any earlier partial run.
    perturb: a gnm_nav.sim.perturb preset applied to a share `perturb_share` of the drives (the rest clean);
    relit_share, side_share: the shares of the drives that also get a relit or a side twin (not counted in
    `frames`; side twins may be added to a dataset collected without them); side_turn_deg: a side twin's headings
    turned by up to this much, one angle per drive."""
    from tqdm import tqdm

    from gnm_nav.sim.perturb import PERTURBATIONS

    if perturb not in PERTURBATIONS:
        raise GnmNavError(f"unknown perturbation preset {perturb!r}; one of {', '.join(PERTURBATIONS)}")
    if not 0.0 <= perturb_share <= 1.0:
        raise GnmNavError(f"the perturbed share must be in [0, 1], got {perturb_share}")
    if not 0.0 <= relit_share <= 1.0:
        raise GnmNavError(f"the relit share must be in [0, 1], got {relit_share}")
    if not 0.0 <= side_share <= 1.0:
        raise GnmNavError(f"the side share must be in [0, 1], got {side_share}")
    if not 0.0 <= side_turn_deg <= 45.0:
        raise GnmNavError(f"the side twins' turn must be in [0, 45] degrees, got {side_turn_deg}")

    for r in robots:
        load_profile(r)  # fail fast on an unknown robot name, before any worker starts
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_perturbation(out, robots, perturb, perturb_share, relit_share, side_share, side_turn_deg)
    worlds = [generate_world(seed + i) for i in range(n_worlds)]
    for w in worlds:
        save_world_spec(w, out / "worlds" / f"{w.name}.yaml")
    for r in robots:
        remove_partial_trajectories(out / dataset_name(r))
    jobs = plan_jobs(out, n_worlds, robots, frames, seed, min_route_m, perturb, perturb_share, relit_share,
                     side_share, side_turn_deg)
    start = time.monotonic()
    results: list[JobResult] = []
    bar = tqdm(total=sum(j.frames for j in jobs), unit="frame", desc="collect", disable=not progress_bar)
    if workers <= 1:
        _init_worker(_ListQueue(bar))
        try:
            results = [run_job(j) for j in jobs]
        finally:
            _init_worker(None)
    else:
        ctx = mp.get_context("spawn")  # fresh processes: each gets its own GL context
        progress = ctx.Queue()
        with ctx.Pool(workers, initializer=_init_worker, initargs=(progress, True)) as pool:
            pending = pool.map_async(run_job, jobs, chunksize=1)
            while not pending.ready():
                try:
                    bar.update(progress.get(timeout=0.2))
                except queue.Empty:
                    pass
            results = pending.get()
            while not progress.empty():
                bar.update(progress.get())
    bar.close()
    _write_metadata(out, jobs, results, robots, n_worlds)
    frames = sum(r.frames for r in results)
    return CollectSummary(frames=frames, new_frames=frames - sum(r.skipped_frames for r in results),
                          metres=sum(r.metres for r in results),
                          trajectories=sum(len(r.trajectories) + len(r.twins) for r in results),
                          twins=sum(len(r.twins) for r in results),
                          skipped=sum(r.skipped for r in results), worlds=[w.name for w in worlds], robots=robots,
                          seconds=time.monotonic() - start)


class _ListQueue:
    """In-process stand-in for the progress queue: updates the bar directly."""

    def __init__(self, bar) -> None:
        self._bar = bar

    def put(self, n: int) -> None:
        self._bar.update(n)


def _check_same_perturbation(out: Path, robots: list[str], perturb: str, share: float, relit_share: float,
                             side_share: float, side_turn_deg: float) -> None:
    """A resumed dataset keeps the perturbation and the twins' shares and turn it was started with (its
    trajectories would otherwise mix two); one collected without side twins may get them."""
    from gnm_nav.data.gnm_format import read_data_config

    config = read_data_config(out) if (out / "data_config.yaml").is_file() else {}
    wanted = (perturb, share if perturb != "none" else 0.0)
    for robot in robots:
        entry = config.get(dataset_name(robot))
        if entry is None:
            continue
        record = entry.get("perturbation", {"preset": "none", "share": 0.0})
        if (record["preset"], record["share"]) != wanted:
            raise GnmNavError(f"{out} was collected with perturbation {record['preset']} (share {record['share']}); "
                              f"asked for {wanted[0]} (share {wanted[1]}): collect into another folder")
        if entry.get("relit_share", 0.0) != relit_share:
            raise GnmNavError(f"{out} was collected with relit share {entry.get('relit_share', 0.0)}; asked for "
                              f"{relit_share}: collect into another folder")
        if entry.get("side_share", 0.0) not in (0.0, side_share):
            raise GnmNavError(f"{out} was collected with side share {entry['side_share']}; asked for "
                              f"{side_share}: collect into another folder")
        if entry.get("side_share", 0.0) and entry.get("side_turn_deg", 0.0) != side_turn_deg:
            raise GnmNavError(f"{out} has side twins turned by up to {entry.get('side_turn_deg', 0.0)} degrees; "
                              f"asked for {side_turn_deg}: collect into another folder")


def _perturbation_record(job: CollectJob) -> dict:
    """How the drives were disturbed (data_config.yaml): the preset, the share of drives, and its settings."""
    from gnm_nav.sim.perturb import PERTURBATIONS

    share = job.perturb_share if job.perturb != "none" else 0.0
    return {"preset": job.perturb, "share": share, "settings": PERTURBATIONS[job.perturb].as_config()}


def _write_metadata(out: Path, jobs: list[CollectJob], results: list[JobResult], robots: list[str],
                    n_worlds: int) -> None:
    from gnm_nav.data.gnm_format import read_data_config

    config = read_data_config(out)
    held_out = held_out_worlds(n_worlds)
    for robot in robots:
        mine = [(j, r) for j, r in zip(jobs, results) if j.robot == robot]
        frames = sum(r.frames for _, r in mine)
        metres = sum(r.metres for _, r in mine)
        steps = frames - sum(len(r.trajectories) for _, r in mine)
        spacing = metres / steps if steps > 0 else 0.0
        config[dataset_name(robot)] = {"metric_waypoint_spacing": round(spacing, 4), "robot": robot,
                                       "frame_rate_hz": FRAME_RATE_HZ, "source": "gnm_nav sim collect",
                                       "worlds": [f"seed {j.world_seed}" for j, _ in mine],
                                       "perturbation": _perturbation_record(jobs[0]),
                                       "relit_share": jobs[0].relit_share, "side_share": jobs[0].side_share,
                                       "side_turn_deg": jobs[0].side_turn_deg}
        train = [t for j, r in mine if j.world_index not in held_out for t in r.trajectories]
        test = [t for j, r in mine if j.world_index in held_out for t in r.trajectories]
        if not test:  # one world: hold out every tenth trajectory instead
            test, train = train[::10], [t for i, t in enumerate(train) if i % 10]
        twins = {t for _, r in mine for t in r.twins}
        # a twin goes where its drive went: the same place must not be trained on in one light and tested in another
        write_splits(out, dataset_name(robot), [*train, *_twins_of(train, twins)], [*test, *_twins_of(test, twins)])
    write_data_config(out, config)


def _twins_of(drives: list[str], twins: set[str]) -> list[str]:
    """The relit and side twins of these drives that exist, in the drives' order."""
    return [t for d in drives for t in (twin_name(d), side_name(d)) if t in twins]
