"""The package says one version everywhere (package.xml, setup.py, gnm_nav.__version__) and keeps ROS's format 3."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import gnm_nav

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_everywhere():
    manifest = ET.parse(ROOT / "package.xml").getroot()
    assert manifest.get("format") == "3"
    version = manifest.findtext("version")
    setup = re.search(r'version="([^"]+)"', (ROOT / "setup.py").read_text(encoding="utf-8"))
    assert setup is not None and version == setup.group(1) == gnm_nav.__version__
    changelog = (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(version)}\n-+$", changelog, re.MULTILINE), "CHANGELOG.rst has no entry for it"
