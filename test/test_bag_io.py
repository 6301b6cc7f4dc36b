"""rosbag2 writing and reading through rosbags, both storages."""
from __future__ import annotations

import numpy as np
import pytest

from gnm_nav.bag_io import BagWriter, bag_topics, iter_images, iter_odometry
from gnm_nav.common.errors import DatasetError


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip(tmp_path, storage):
    path = tmp_path / "bag"
    with BagWriter(path, storage) as bag:
        for i in range(4):
            t = 10.0 + 0.25 * i
            bag.write_image("/camera/image_raw", t, np.full((6, 8, 3), (i * 20, 5, 200), np.uint8), "camera")
            bag.write_odometry("/odom", t, 0.5 * i, -0.1 * i, 0.2 * i, 0.3, 0.1, "odom", "base_link")
            bag.write_twist_stamped("/cmd_vel", t, 0.3, 0.1)
            bag.write_bool("/sim/collision", t, i == 2)
    assert bag_topics(path) == {"/camera/image_raw": "sensor_msgs/msg/Image", "/odom": "nav_msgs/msg/Odometry",
                                "/cmd_vel": "geometry_msgs/msg/TwistStamped", "/sim/collision": "std_msgs/msg/Bool"}
    images = list(iter_images(path, "/camera/image_raw"))
    assert [round(s, 3) for s, _ in images] == [10.0, 10.25, 10.5, 10.75]
    assert images[3][1].shape == (6, 8, 3) and tuple(images[3][1][0, 0]) == (60, 5, 200)
    odom = list(iter_odometry(path, "odom"))  # relative name finds the absolute topic
    assert odom[2][1:] == pytest.approx((1.0, -0.2, 0.4))
    with pytest.raises(DatasetError, match="no topic '/camera/compressed'.*/odom"):
        list(iter_images(path, "/camera/compressed"))
    with pytest.raises(DatasetError, match="expected one of"):
        list(iter_images(path, "/odom"))


def test_failed_recording_leaves_nothing(tmp_path):
    path = tmp_path / "bag"
    with pytest.raises(RuntimeError):
        with BagWriter(path, "mcap") as bag:
            bag.write_bool("/x", 1.0, True)
            raise RuntimeError("crash mid-recording")
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(DatasetError, match="does not exist"):
        bag_topics(path)
