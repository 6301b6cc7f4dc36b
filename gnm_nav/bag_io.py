"""rosbag2 reading and writing (sqlite3 .db3 and MCAP) with the `rosbags` library — no ROS install needed.

Bags are written as rosbag2 format version 8 with Jazzy message definitions, which Jazzy and Kilted
`ros2 bag` both read. A bag is written into a hidden sibling folder and renamed into place on close, so
an interrupted recording never leaves a bag that looks complete.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator, Literal

import numpy as np

from gnm_nav.common.angles import quaternion_to_yaw, yaw_to_quaternion
from gnm_nav.common.errors import DatasetError
from gnm_nav.image_codec import decode_compressed, decode_raw, encode_rgb8

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
ODOMETRY = "nav_msgs/msg/Odometry"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
BOOL = "std_msgs/msg/Bool"
BAG_VERSION: Literal[8] = 8  # the newest version Jazzy's rosbag2 reads


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


class BagWriter:
    """Context manager writing a rosbag2 with typed helpers for the topics the simulator records."""

    def __init__(self, path: str | Path, storage: Literal["mcap", "sqlite3"] = "mcap") -> None:
        if storage not in ("mcap", "sqlite3"):
            raise DatasetError(f"bag storage must be 'mcap' or 'sqlite3', got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise DatasetError(f"bag {self.path} already exists; choose a new path")
        self.storage = storage
        self._store = _typestore()
        self._writer: Any = None
        self._tmpdir: Path | None = None
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._tmpdir / self.path.name, version=BAG_VERSION, storage_plugin=plugin)
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._tmpdir is not None
        try:
            if exc_type is None:
                self._writer.close()
                (self._tmpdir / self.path.name).rename(self.path)
            else:
                self._writer.abort()
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _write(self, topic: str, msgtype: str, stamp_s: float, msg: Any) -> None:
        if self._writer is None:
            raise RuntimeError("BagWriter must be used as a context manager")
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise DatasetError(f"bag topic {topic} already holds {conn.msgtype}, cannot write {msgtype}")
        self._writer.write(conn, int(round(stamp_s * 1e9)), self._store.serialize_cdr(msg, msgtype))

    def _header(self, stamp_s: float, frame_id: str) -> Any:
        t = self._store.types
        sec = int(math.floor(stamp_s))
        nanosec = min(int(round((stamp_s - sec) * 1e9)), 999_999_999)
        return t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                        frame_id=frame_id)

    def write_image(self, topic: str, stamp_s: float, rgb: np.ndarray, frame_id: str = "camera") -> None:
        h, w, step, data = encode_rgb8(rgb)
        msg = self._store.types[IMAGE](header=self._header(stamp_s, frame_id), height=h, width=w, encoding="rgb8",
                                       is_bigendian=0, step=step, data=np.frombuffer(data, dtype=np.uint8))
        self._write(topic, IMAGE, stamp_s, msg)

    def write_odometry(self, topic: str, stamp_s: float, x: float, y: float, yaw: float, v: float, w: float,
                       frame_id: str = "odom", child_frame_id: str = "base_link") -> None:
        t = self._store.types
        qx, qy, qz, qw = yaw_to_quaternion(yaw)
        pose = t["geometry_msgs/msg/Pose"](position=t["geometry_msgs/msg/Point"](x=x, y=y, z=0.0),
                                           orientation=t["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw))
        msg = t[ODOMETRY](
            header=self._header(stamp_s, frame_id), child_frame_id=child_frame_id,
            pose=t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
            twist=t["geometry_msgs/msg/TwistWithCovariance"](twist=self._twist(v, w), covariance=np.zeros(36)))
        self._write(topic, ODOMETRY, stamp_s, msg)

    def _twist(self, v: float, w: float) -> Any:
        t = self._store.types
        vec = t["geometry_msgs/msg/Vector3"]
        return t["geometry_msgs/msg/Twist"](linear=vec(x=v, y=0.0, z=0.0), angular=vec(x=0.0, y=0.0, z=w))

    def write_twist_stamped(self, topic: str, stamp_s: float, v: float, w: float, frame_id: str = "base_link") -> None:
        msg = self._store.types[TWIST_STAMPED](header=self._header(stamp_s, frame_id), twist=self._twist(v, w))
        self._write(topic, TWIST_STAMPED, stamp_s, msg)

    def write_bool(self, topic: str, stamp_s: float, value: bool) -> None:
        self._write(topic, BOOL, stamp_s, self._store.types[BOOL](data=bool(value)))


def _open_reader(path: str | Path) -> Any:
    from rosbags.highlevel import AnyReader

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"bag {path} does not exist")
    try:
        reader = AnyReader([path], default_typestore=_typestore())
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for unreadable bags
        raise DatasetError(f"cannot open bag {path}: {exc}") from exc
    return reader


def bag_topics(path: str | Path) -> dict[str, str]:
    """topic -> message type of every connection in the bag."""
    reader = _open_reader(path)
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()


def _iter_topic(path: str | Path, topic: str, msgtypes: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    reader = _open_reader(path)
    try:
        # `ros2 bag record` stores absolute names; accept 'camera/image_raw' for '/camera/image_raw' and back
        conns = [c for c in reader.connections if c.topic.lstrip("/") == topic.lstrip("/")]
        if not conns:
            present = ", ".join(f"{c.topic} ({c.msgtype})" for c in reader.connections) or "none"
            raise DatasetError(f"bag {path} has no topic {topic!r}; topics present: {present}")
        wrong = [c.msgtype for c in conns if c.msgtype not in msgtypes]
        if wrong:
            raise DatasetError(f"bag {path}: topic {topic} holds {wrong[0]}, expected one of {', '.join(msgtypes)}")
        for conn, _, raw in reader.messages(connections=conns):
            yield conn.msgtype, reader.deserialize(raw, conn.msgtype)
    finally:
        reader.close()


def _stamp(header: Any) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def iter_images(path: str | Path, topic: str) -> Iterator[tuple[float, np.ndarray]]:
    """(header stamp seconds, RGB uint8) for each Image or CompressedImage on the topic, in bag order."""
    for msgtype, msg in _iter_topic(path, topic, (IMAGE, COMPRESSED_IMAGE)):
        if msgtype == IMAGE:
            rgb = decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian))
        else:
            rgb = decode_compressed(msg.format, msg.data)
        yield _stamp(msg.header), rgb


def iter_odometry(path: str | Path, topic: str) -> Iterator[tuple[float, float, float, float]]:
    """(header stamp seconds, x, y, yaw) for each nav_msgs/Odometry on the topic."""
    for _, msg in _iter_topic(path, topic, (ODOMETRY,)):
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        yield _stamp(msg.header), float(p.x), float(p.y), quaternion_to_yaw(q.x, q.y, q.z, q.w)
