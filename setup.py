"""ament_python build of gnm_nav: also installable with pip for development and CI."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gnm_nav"

NODES = {
    "gnm_policy_node": "gnm_nav.nodes.policy_node:main",
    "topological_planner_node": "gnm_nav.nodes.planner_node:main",
    "ldm_safety_filter_node": "gnm_nav.nodes.safety_filter_node:main",
    "graph_builder_node": "gnm_nav.nodes.graph_builder_node:main",
    "keyboard_teleop": "gnm_nav.nodes.keyboard_teleop:main",
    "mujoco_sim_node": "gnm_nav.nodes.mujoco_sim_node:main",
    "odometry_replay_node": "gnm_nav.nodes.odometry_replay_node:main",
}

setup(
    name=PACKAGE,
    version="0.2.1",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{PACKAGE}/config/worlds", glob("config/worlds/*.yaml")),
        (f"share/{PACKAGE}/config/eval", glob("config/eval/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.json")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="gnm_nav maintainers",
    maintainer_email="gnm-nav@example.org",
    description="Image-goal navigation for camera robots: GNM policy, topological graph planner, "
    "Lyapunov density safety filter, on ONNX Runtime.",
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in NODES.items()]
        + ["gnm-nav = gnm_nav.cli:main"],
    },
)
