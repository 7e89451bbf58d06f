"""The cluster launcher file in docs/ is checked by Ray's own validator, so `ray up` would accept it."""

import pytest
import yaml
from conftest import ROOT
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_FILE = ROOT / "docs" / "ray-cluster.yaml"


def load() -> dict:
    return yaml.safe_load(CLUSTER_FILE.read_text())


def test_ray_accepts_the_cluster_file() -> None:
    validate_config(prepare_config(load()))


def test_ray_rejects_a_broken_copy() -> None:
    """The validator is not a no-op: a head type that does not exist is refused."""
    broken = load() | {"head_node_type": "missing"}
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepare_config(broken))


def test_every_node_installs_the_pinned_cluster_requirements() -> None:
    config = load()
    (setup,) = config["setup_commands"]
    mount, source = next(iter(config["file_mounts"].items()))
    installed = setup.removeprefix(f"pip install -r {mount}/")
    assert source == "." and (ROOT / installed).is_file()
    assert "ray==" in (ROOT / installed).read_text()


def test_the_scaling_document_points_at_this_file() -> None:
    assert "docs/ray-cluster.yaml" in (ROOT / "docs" / "SCALE.md").read_text()
