"""graph_builder_node: record a topological graph while a person drives (camera + optional odom).

Each run is one recording session of gnm_nav.graph.builder: it grows the graph in `graph_dir`
(attaching to and merging with earlier sessions when a model is available). The graph is saved
atomically every `autosave_period` s and when the node stops (Ctrl-C saves what was recorded).
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.paths import DEFAULT_GNM_MODEL, resolve_model_path
from gnm_nav.graph.builder import LINK_DISTANCE, GraphBuilder, SessionLinker
from gnm_nav.graph.render import graph_layout
from gnm_nav.graph.ros_markers import graph_markers
from gnm_nav.graph.store import GRAPH_FILE, POSE_FRAME_KEY, TopoGraph
from gnm_nav.ros import legacy_params
from gnm_nav.ros.images import CameraSubscriber
from gnm_nav.ros.lifecycle import spin_node
from gnm_nav.ros.odometry import PoseHistory, pose_2d
from gnm_nav.ros.params import ParamSpec, declare_parameters, legacy_values
from gnm_nav.ros.qos import LATCHED, RELIABLE
from gnm_nav.ros.time import stamp_to_sec

PARAMS = [
    ParamSpec("graph_dir", "", "graph directory to create or grow (required)", read_only=True),
    ParamSpec("append", True, "grow an existing graph in graph_dir with a new session (false: refuse to touch it)",
              read_only=True),
    ParamSpec("image_transport", "raw", "raw | compressed (subscribes camera/image_raw/compressed)", read_only=True,
              choices=("raw", "compressed")),
    ParamSpec("image_qos", "sensor_data", "camera QoS: sensor_data (best effort) | reliable", read_only=True,
              choices=("sensor_data", "reliable")),
    ParamSpec("odom_max_age", 0.5, "s; an odometry pose further than this from the image stamp is not used",
              positive=True),
    ParamSpec("record_interval_s", 1.0, "add a node every this many seconds of camera time", read_only=True,
              positive=True),
    ParamSpec("record_distance_m", 0.0, "with odometry: add a node every this many metres instead (0 = interval)",
              read_only=True, minimum=0.0),
    ParamSpec("gnm_model_path", DEFAULT_GNM_MODEL, "GNM ONNX model linking sessions ('' = do not link)",
              read_only=True),
    ParamSpec("providers", "auto", "ONNX Runtime providers: auto | tensorrt | cuda | cpu", read_only=True,
              choices=("auto", "tensorrt", "cuda", "cpu")),
    ParamSpec("link_distance", LINK_DISTANCE, "model steps; attach/merge a session only to nodes predicted this close",
              read_only=True, positive=True),
    ParamSpec("autosave_period", 10.0, "s between saves while recording (0 = only on shutdown)", read_only=True,
              minimum=0.0),
    ParamSpec("map_frame_id", "map", "frame of gnm/graph_markers"),
    ParamSpec("markers_period", 2.0, "s between gnm/graph_markers messages", read_only=True, positive=True),
]
LEGACY = legacy_params.GRAPH_BUILDER  # the 0.1 names it still answers to, for one release


class GraphBuilderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("graph_builder_node", **kwargs)
        self._legacy = legacy_values(self, LEGACY)
        self.p = declare_parameters(self, PARAMS, LEGACY)
        self._lock = threading.Lock()
        self._odom = PoseHistory()
        self._markers_pub = self.create_publisher(MarkerArray, "gnm/graph_markers", LATCHED)
        self.graph, self.builder = self._open()
        self.session = self.builder.start_session()
        self._saved_nodes = len(self.graph)
        self._camera = CameraSubscriber(self, self._legacy.topic("camera/image_raw"), self.p["image_transport"],
                                        self.p["image_qos"], self._on_image)
        self.create_subscription(Odometry, self._legacy.topic("odom"), self._on_odom, RELIABLE)
        if self.p["autosave_period"] > 0:
            self.create_timer(self.p["autosave_period"], self.save)
        self.create_timer(self.p["markers_period"], self._publish_markers)
        self.get_logger().info(
            f"recording session {self.session.session} into {self.p['graph_dir']} ({len(self.graph)} nodes so far); "
            f"a node every {self._spacing()}; Ctrl-C saves")

    def _spacing(self) -> str:
        if self.p["record_distance_m"] > 0:
            return f"{self.p['record_distance_m']} m (with odometry, else {self.p['record_interval_s']} s)"
        return f"{self.p['record_interval_s']} s"

    def _open(self) -> tuple[TopoGraph, GraphBuilder]:
        directory = Path(self.p["graph_dir"]) if self.p["graph_dir"] else None
        if directory is None:
            raise GnmNavError("parameter graph_dir is empty: set the directory to record the graph into")
        if (directory / GRAPH_FILE).exists():
            if not self.p["append"]:
                raise GnmNavError(f"{directory} already holds a graph and append is false")
            graph = TopoGraph.load(directory)
        else:
            graph = TopoGraph(meta={"source": "graph_builder_node"})
        linker = None
        if len(graph) and self.p["gnm_model_path"]:
            try:
                from gnm_nav.gnm.engine import GNMEngine

                engine = GNMEngine(resolve_model_path(self.p["gnm_model_path"]), providers=self.p["providers"])
                linker = SessionLinker.for_graph(engine, graph, self.p["link_distance"])
            except GnmNavError as exc:
                self.get_logger().warning(f"sessions will not be linked (no model): {exc}")
        builder = GraphBuilder(graph, self.p["record_interval_s"], self.p["record_distance_m"], linker)
        return graph, builder

    def _on_odom(self, msg: Odometry) -> None:
        self._odom.add(stamp_to_sec(msg.header.stamp), pose_2d(msg))
        with self._lock:
            if msg.header.frame_id:
                self.graph.meta.setdefault(POSE_FRAME_KEY, msg.header.frame_id)
            self.builder.backfill_pose(lambda stamp: self._odom.at(stamp, self.p["odom_max_age"]))

    def _on_image(self, rgb: np.ndarray, stamp: float) -> None:
        pose = self._odom.at(stamp, self.p["odom_max_age"])
        with self._lock:
            node = self.builder.offer(rgb, stamp, pose)
        if node is not None and node == self.session.nodes[0] and self.session.attached_to:
            other, dist = self.session.attached_to
            self.get_logger().info(f"session starts at existing node {other} (predicted distance {dist:.1f})")

    def save(self) -> None:
        with self._lock:
            if len(self.graph) == self._saved_nodes or len(self.graph) == 0:
                return
            self.graph.save(self.p["graph_dir"])
            self._saved_nodes = len(self.graph)

    def _publish_markers(self) -> None:
        with self._lock:
            if len(self.graph) == 0:
                return
            msg = graph_markers(self.graph, self.p["map_frame_id"], self.get_clock().now().to_msg(),
                                closest=self.session.nodes[-1] if self.session.nodes else None,
                                layout=graph_layout(self.graph)[0])
        self._markers_pub.publish(msg)

    def finish(self) -> None:
        """End the session (merge into earlier sessions) and save; called on shutdown."""
        with self._lock:
            summary = self.builder.end_session()
        self._saved_nodes = -1  # force a save: end_session may have added merge edges
        self.save()
        if summary is not None:
            merged = f", merged into node {summary.merged_into[0]}" if summary.merged_into else ""
            self.get_logger().info(f"session {summary.session}: {len(summary.nodes)} nodes{merged}; "
                                   f"graph {self.p['graph_dir']} has {len(self.graph)} nodes")

    def destroy_node(self) -> None:
        try:
            self.finish()
        finally:
            super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    try:
        return spin_node(GraphBuilderNode, argv)
    except GnmNavError as exc:  # no graph_dir, unreadable graph...: one line, not a traceback
        print(f"graph_builder_node: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
