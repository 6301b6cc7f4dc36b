"""Node processes spin paced (gnm_nav.ros.lifecycle.spin_paced): with MultiThreadedExecutor.spin(), a node whose
timer publishes lost most of its timer periods and incoming messages in some runs (its waiting loop starved the
worker thread), which slowed the simulator and starved the planner, policy and replay nodes in evaluations."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock

from gnm_nav.ros.time import sec_to_stamp

NODE = """
import sys
from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import Int32
from gnm_nav.ros.lifecycle import spin_node

class Busy(Node):
    def __init__(self):
        super().__init__("busy")
        self.ticks = self.received = 0
        self.pub = self.create_publisher(Int32, "busy/ticks", 10)
        self.create_subscription(Odometry, "busy/odom", self.on_odom, 10)
        self.create_timer(0.1, self.tick)

    def on_odom(self, msg):
        self.received += 1

    def tick(self):
        self.ticks += 1
        self.pub.publish(Int32(data=self.ticks))
        self.get_logger().info(f"tick {self.ticks}")

    def destroy_node(self):
        print(f"RESULT {self.ticks} {self.received}", flush=True)
        super().destroy_node()

sys.exit(spin_node(Busy, sys.argv + ["--ros-args", "-p", "use_sim_time:=true"]))
"""


def test_a_busy_node_keeps_its_timer_and_its_subscriptions(ros):
    pub, clock = ros.publisher(Odometry, "busy/odom"), ros.publisher(Clock, "/clock")
    proc = subprocess.Popen([sys.executable, "-c", NODE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ}, text=True)
    try:
        ros.wait_matched(pub, clock, timeout=15)
        sent, start = 0, time.monotonic()
        while time.monotonic() - start < 6.0:  # the simulator at twice real time: 40 Hz of 0.05 s sim ticks
            sent += 1
            clock.publish(Clock(clock=sec_to_stamp(0.05 * sent)))
            pub.publish(Odometry())
            time.sleep(0.025)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    ticks, received = (int(v) for v in out.split("RESULT")[1].split())
    assert received >= 0.9 * sent, (received, sent)
    assert ticks >= 0.8 * 0.05 * sent / 0.1, (ticks, sent)  # a 0.1 s sim-time timer
