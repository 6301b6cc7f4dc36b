#!/usr/bin/env bash
# Prepares the real `ros2 launch` tier for the tests: launch, launch_ros and ros2cli (from ROS2_TOOLING) in a
# venv layered over the package's venv (colcon pins setuptools<80, so it gets a venv of its own), then the
# package built by colcon into an install prefix, as on a robot. Usage: launch_tier.sh BASE_VENV TIER_DIR TOOLING
set -euo pipefail
BASE=$(cd "$1" && pwd)
TIER=$(mkdir -p "$2" && cd "$2" && pwd)
TOOLING=$(cd "$3" && pwd)
PY=$(basename "$(ls -d "$BASE"/lib/python3.*)")
test -x "$TIER/venv/bin/python" || "$BASE/bin/python" -m venv --without-pip "$TIER/venv"
test -x "$TIER/venv/bin/pip" || "$TIER/venv/bin/python" -m ensurepip --upgrade >/dev/null
# The base venv's packages after the tier's own; the ROS wheels' shared libraries are found through
# LD_LIBRARY_PATH, which their bootstrapper (run from the base's .pth files) passes on when it re-executes.
cat > "$TIER/venv/lib/$PY/site-packages/gnm_nav_base.pth" <<PTH
import os, glob, site; os.environ['LD_LIBRARY_PATH'] = os.pathsep.join(glob.glob('$BASE/lib/$PY/site-packages/ros_*.libs') + ['$BASE/lib', os.environ.get('LD_LIBRARY_PATH', '')]); site.addsitedir('$BASE/lib/$PY/site-packages')
PTH
# (pip's warnings about local index folders filtered out; a failing install still fails this script: pipefail)
bash "$TOOLING/install.sh" "$TIER/venv" --colcon 2>&1 | { grep -v "^WARNING: Location" || true; }
"$TIER/venv/bin/python" -c "import launch, launch_ros, ros2cli, rclpy"
AMENT_PREFIX_PATH="$TIER/venv:$BASE" "$TIER/venv/bin/colcon" --log-base "$TIER/log" build --paths . \
  --packages-select gnm_nav --build-base "$TIER/build" --install-base "$TIER/install" --event-handlers console_cohesion-
