"""Camera -> cmd_vel_nav latency through DDS: the real gnm_policy_node process, a probe publishing
camera frames at the robot's rate and timing the command each frame triggers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def measure_camera_to_cmd_latency(model_path: Path, width: int = 160, height: int = 120, fps: float = 9.0,
                                  frames: int = 120, warmup_s: float = 20.0) -> dict:
    """Start gnm_policy_node as its own process and time camera publish -> TwistStamped receive."""
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from gnm_nav.ros.images import rgb_to_msg
    from gnm_nav.ros.qos import RELIABLE, image_qos

    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    cmd = [sys.executable, "-m", "gnm_nav.nodes.policy_node", "--ros-args", "-p", f"gnm_model_path:={model_path}",
           "-p", "robot_profile:=locobot", "-p", "max_rate_hz:=30.0", "-p", "image_qos:=reliable",
           "-r", "__node:=bench_policy_node"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    context = Context()
    os.environ["ROS_DOMAIN_ID"] = env["ROS_DOMAIN_ID"]
    rclpy.init(context=context)
    try:
        node = Node("bench_latency_probe", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        camera = node.create_publisher(type(rgb_to_msg(np.zeros((2, 2, 3), np.uint8), 0.0, "")),
                                       "camera/image_raw", image_qos("reliable"))
        subgoal = node.create_publisher(type(rgb_to_msg(np.zeros((2, 2, 3), np.uint8), 0.0, "")), "gnm/subgoal",
                                        RELIABLE)
        received: list[float] = []
        node.create_subscription(TwistStamped, "cmd_vel_nav", lambda _m: received.append(time.perf_counter()), RELIABLE)
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(8)]
        goal = rgb_to_msg(images[0], 0.0, "camera")
        period = 1.0 / fps
        latencies: list[float] = []
        deadline = time.monotonic() + warmup_s
        i = 0
        # Warm up until the node is active and answering every frame, then measure.
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gnm_policy_node exited: {proc.stderr.read()[-2000:]}")
            measuring = len(received) > 10
            if not measuring and time.monotonic() > deadline:
                raise RuntimeError("gnm_policy_node did not start commanding within the warm-up time")
            subgoal.publish(goal)
            count_before = len(received)
            t_pub = time.perf_counter()
            camera.publish(rgb_to_msg(images[i % len(images)], time.time(), "camera"))
            i += 1
            while time.perf_counter() - t_pub < period:
                executor.spin_once(timeout_sec=max(0.0, period - (time.perf_counter() - t_pub)))
            if measuring and len(received) > count_before:
                latencies.append(received[count_before] - t_pub)
                if len(latencies) >= frames:
                    break
        lat_ms = np.array(latencies) * 1e3
        return {"dds_latency_ms_p50": float(np.percentile(lat_ms, 50)),
                "dds_latency_ms_p99": float(np.percentile(lat_ms, 99)),
                "dds_latency_frames": len(latencies), "dds_camera": f"{width}x{height}@{fps:g}fps"}
    finally:
        rclpy.shutdown(context=context)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
