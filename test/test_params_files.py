"""Every node's parameters have one source, its PARAMS table: config/*.yaml are written from it, and the
navigation nodes keep to the knobs a user has a reason to turn (topics are renamed by remapping)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gnm_nav.ros.params_files import PARAMS_FILES, expected_text, node_params

CONFIG = Path(__file__).resolve().parent.parent / "config"
NAVIGATION = ("planner.yaml", "policy.yaml", "safety_filter.yaml")


@pytest.mark.parametrize("config", sorted(PARAMS_FILES))
def test_params_file_is_written_from_the_table(config):
    """The file is exactly what `python -m gnm_nav.ros.params_files` writes, and it loads to the defaults."""
    assert (CONFIG / config).read_text() == expected_text(config), "run python -m gnm_nav.ros.params_files"
    loaded = yaml.safe_load((CONFIG / config).read_text())["/**"]["ros__parameters"]
    specs = node_params(config)
    assert list(loaded) == [spec.name for spec in specs]
    for spec in specs:
        assert loaded[spec.name] == spec.default and type(loaded[spec.name]) is type(spec.default), spec.name
        assert spec.description and spec.problem(spec.default) is None, spec.name


def test_topics_are_remapped_and_models_named_by_what_they_take():
    for config in PARAMS_FILES:
        names = {spec.name for spec in node_params(config)}
        assert not {n for n in names if n.endswith("_topic")}, config
        assert "model_path" not in names and "encoder_model_path" not in names, config


def test_the_navigation_nodes_keep_to_fifty_parameters():
    assert sum(len(node_params(config)) for config in NAVIGATION) <= 50
