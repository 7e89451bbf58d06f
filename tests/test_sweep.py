"""Sweeps: one cached job per cell, on the local worker pool and on a real local Ray cluster with the same records;
a failed or cancelled cell leaves the others stored; a rerun schedules only missing cells; the CLI's lists and ranges."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import resnet_core.__main__ as cli
from resnet_core.config import ConfigError, ExperimentConfig
from serving import sweep as sweeps
from serving import sweep_cli
from serving.job import CANCELLED, DONE, FAILED
from serving.jobs import Executor

# The 2-D moons and a 2-layer MLP: a cell trains in well under a second, so the workers' start-up dominates.
BASE = ExperimentConfig(arch="mlp", dataset="moons", depth=2, width=8, steps=6, batch_size=16, n_samples=100, eval_every=3)
CELLS = [BASE.replace(seed=s) for s in (0, 1, 2)]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A real Ray cluster on this machine, 2 CPUs, no dashboard; skipped only if Ray itself cannot start here."""
    import ray  # pinned in requirements-cluster.txt, which requirements-dev.txt includes: missing is a failure

    from serving import ray_backend

    try:
        ray_backend.connect(None, num_cpus=2, object_store_memory=100 * 2**20)
    except Exception as error:  # any failure to start is the environment's, and says why
        pytest.skip(f"a local Ray cluster could not start here: {type(error).__name__}: {error}")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool() -> Iterator[Executor]:
    """One pool of 2 workers for the module: each test's backend shares it (a worker's start costs seconds)."""
    executor = Executor(workers=2, threads=1, idle_seconds=math.inf)
    yield executor
    executor.shutdown()


@pytest.fixture
def local(pool: Executor) -> Callable[..., sweeps.Backend]:
    return lambda target=sweeps.TARGET: sweeps.LocalBackend(pool, target, owned=False)


@pytest.fixture
def on_ray(ray_cluster: None) -> Callable[..., sweeps.Backend]:
    from serving.ray_backend import RayBackend

    return lambda target=sweeps.TARGET: RayBackend(cpus=1, threads=1, target=target)


def run_all(configs: list[ExperimentConfig], backend: sweeps.Backend) -> dict[int, sweeps.Outcome]:
    try:
        return {outcome.config.seed: outcome for outcome in sweeps.run(configs, backend)}
    finally:
        backend.close()


def test_ray_records_equal_the_local_pools(cache_dir: Path, local, on_ray) -> None:
    by_pool = run_all(CELLS[:2], local())
    by_ray = run_all(CELLS[:2], on_ray())
    assert {o.state for o in [*by_pool.values(), *by_ray.values()]} == {DONE}
    for seed in (0, 1):
        assert json.dumps(by_ray[seed].records) == json.dumps(by_pool[seed].records)  # bit for bit (and NaN for NaN)
        assert [r["kind"] for r in by_ray[seed].records].count("done") == 2
    assert by_ray[0].records != by_ray[1].records  # the seed reached the engine


def test_ray_puts_each_dataset_in_the_object_store_once(cache_dir: Path, on_ray, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    put = ray.put
    shipped = []
    monkeypatch.setattr(ray, "put", lambda value: shipped.append(value) or put(value))
    cells = [BASE.replace(depth=2), BASE.replace(depth=4), BASE.replace(depth=2, seed=1)]  # the seed draws the 2-D set
    backend = on_ray()
    try:
        states = [outcome.state for outcome in sweeps.run(cells, backend)]
    finally:
        backend.close()
    assert states == [DONE] * 3 and len(shipped) == 2
    assert all(isinstance(array, np.ndarray) for data in shipped for array in data)  # arrays: read in place by the tasks


@pytest.mark.parametrize("backend_name", ["local", "on_ray"])
def test_a_failed_cell_leaves_the_others_stored(cache_dir: Path, request: pytest.FixtureRequest, backend_name: str) -> None:
    backend = request.getfixturevalue(backend_name)
    outcomes = run_all(CELLS, backend("tests.job_targets:train_but_seed_1_fails"))
    assert outcomes[1].state == FAILED and "seed: 1 refuses to train" in outcomes[1].message
    assert outcomes[0].state == outcomes[2].state == DONE and outcomes[0].stored and outcomes[2].stored
    assert sweeps.missing(CELLS) == [CELLS[1]]  # a rerun schedules only the failed cell


@pytest.mark.parametrize("backend_name", ["local", "on_ray"])
def test_cancelling_a_cell_keeps_the_finished_ones(cache_dir: Path, request: pytest.FixtureRequest, backend_name: str) -> None:
    backend = request.getfixturevalue(backend_name)
    chosen = backend("tests.job_targets:train_but_seed_1_waits")
    outcomes = {}
    try:
        for outcome in sweeps.run(CELLS[:2], chosen):
            outcomes[outcome.config.seed] = outcome
            if outcome.config.seed == 0:
                chosen.cancel(CELLS[1])  # seed 1 is still waiting: stop it
    finally:
        chosen.close()
    assert outcomes[0].state == DONE and outcomes[1].state == CANCELLED
    assert sweeps.missing(CELLS[:2]) == [CELLS[1]]


def test_a_rerun_schedules_only_missing_cells_and_the_table_reads_the_cache(cache_dir: Path, local) -> None:
    run_all(CELLS[:2], local())
    assert sweeps.missing(CELLS) == [CELLS[2]]
    stored = sweeps.stored_sweep(CELLS)
    assert stored.fields == ["seed"] and stored.missing == [CELLS[2]]
    assert sorted(stored.cells["seed"].unique()) == [0, 1] and len(stored.cells) == 4  # two nets per cell
    plain = stored.summary.set_index("variant").loc["plain"]
    errors = stored.cells[stored.cells["variant"] == "plain"]["train_error"]
    assert plain["seeds"] == 2 and plain["train_error_mean"] == pytest.approx(errors.mean())
    assert (plain["train_error_low"], plain["train_error_high"]) == (errors.min(), errors.max())  # the pages' seed range


def test_the_cli_computes_missing_cells_and_prints_the_table(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = ["--arch", "mlp", "--dataset", "moons", "--depth", "2,4", "--width", "8", "--steps", "6", "--batch-size", "16"]
    options += ["--n-samples", "100", "--eval-every", "3", "--seed", "0-1", "--workers", "2", "--quiet"]
    assert cli.main(["sweep", *options]) == 0
    first = capsys.readouterr()
    assert "computing 4" in first.err and "Mean [min–max] over seeds" in first.out
    assert cli.main(["sweep", *options]) == 0  # everything stored: nothing scheduled, the same table
    second = capsys.readouterr()
    assert "computing" not in second.err and second.out == first.out


def test_lists_and_ranges_parse_to_a_grid() -> None:
    assert sweeps.parse_list("depth", "20,32,44") == [20, 32, 44]
    assert sweeps.parse_list("seed", "0-4") == [0, 1, 2, 3, 4]
    assert sweeps.parse_list("seed", "0-1,5,1") == [0, 1, 5]
    assert sweeps.parse_list("shortcut", "A,B,C") == ["A", "B", "C"]
    assert sweeps.parse_list("l2", "1e-4,0") == [1e-4, 0.0]  # a float's exponent is not a range
    assert sweeps.parse_list("lr_drops", "32000,48000") == ["32000,48000"]  # one value: its comma is its own
    configs = sweeps.grid({"depth": [20, 32], "seed": [0, 1, 2]})
    assert [(c.depth, c.seed) for c in configs] == [(20, 0), (20, 1), (20, 2), (32, 0), (32, 1), (32, 2)]
    assert sweeps.format_list("seed", [4, 0, 2, 1, 3]) == "0-4" and sweeps.format_list("depth", [56, 20]) == "20,56"
    with pytest.raises(ConfigError, match="backwards"):
        sweeps.parse_list("seed", "4-0")


def test_the_sweep_command_of_a_grid_parses_back_to_it() -> None:
    configs = sweeps.grid({"depth": [20, 56], "lr": [0.02], "seed": list(sweeps.SEEDS)})
    command = sweeps.sweep_command(configs)
    assert command == "python -m resnet_core sweep --depth 20,56 --lr 0.02 --seed 0-4"  # only what differs from the defaults
    args = cli.build_parser().parse_args(command.split()[3:])
    assert sweep_cli.sweep_configs(args) == configs


def test_the_paper_preset_fills_every_option_not_given(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(
        ["sweep", "--preset", "paper-cifar10", "--depth", "20,110", "--data-path", str(tmp_path)]
    )
    configs = sweep_cli.sweep_configs(args)
    assert [c.depth for c in configs] == [20, 110]
    assert {(c.steps, c.batch_size, c.lr_drops, c.augment, c.l2, c.width) for c in configs} == {
        (64_000, 128, "32000,48000", "pad-crop-flip", 1e-4, 16)
    }


@pytest.mark.parametrize(
    "args, field",
    [
        (["--seed", "4-0"], "seed"),
        (["--seed", "x"], "seed"),
        (["--depth", "20,21"], "depth"),
        (["--shortcut", "A,D"], "shortcut"),
        (["--lr-drops", "32k"], "lr_drops"),
        (["--preset", "paper"], "--preset"),
        (["--workers", "0"], "--workers"),
        (["--preset", "paper-cifar10"], "data_path"),
    ],
)
def test_bad_sweep_options_exit_2_with_one_line(args: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sweep", *args])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m resnet_core") and field in lines[0]


def test_a_bad_sweep_option_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "resnet_core", "sweep", "--seed", "4-0"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        == "python -m resnet_core: error: seed: '4-0' is a range that runs backwards; write low-high such as 0-4"
    )
