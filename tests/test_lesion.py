"""Lesion study and paths (resnet_core/lesion.py, resnet_core/paths.py) against independent computations on tiny nets."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from resnet_core import ExperimentConfig, build_model, build_pair, load_dataset
from resnet_core.__main__ import main
from resnet_core.evaluation import estimate_norm_statistics
from resnet_core.lesion import DeletedBlock, after_training, lesion_study, lesioned, transition
from resnet_core.paths import path_gradient, path_lengths, path_study, routed_forward

TINY = ExperimentConfig(depth=14, width=4, steps=4, batch_size=16, measure_every=4, eval_every=4)


def data(config: ExperimentConfig) -> tuple[torch.Tensor, ...]:
    return tuple(load_dataset(config))


@pytest.mark.parametrize("block", ["post", "pre"])
@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_deleting_an_identity_initialised_block_changes_nothing(shortcut: str, block: str) -> None:
    """zero_residual makes every branch output exactly 0, so removing it must leave the function as it was."""
    config = TINY.replace(init="zero_residual", shortcut=shortcut, block=block, activation="tanh")
    model = build_model(config, "residual").eval()
    x = data(config)[0][:32]
    expected = model(x)
    for i in range(config.blocks):
        assert torch.equal(lesioned(model, [i]).eval()(x), expected), i
    records = list(lesion_study({"plain": build_model(config, "plain"), "residual": model}, data(config), config, draws=1))
    errors = {tuple(r["deleted"]): r["test_error"] for r in records if r["variant"] == "residual" and r["mode"] != "random"}
    assert len(errors) == config.blocks + 1 and len(set(errors.values())) == 1  # every single deletion = the baseline


def test_a_deleted_plain_block_is_the_identity_or_option_a_map() -> None:
    plain = build_model(TINY, "plain").block_list()
    x = torch.rand(5, 4, 8, 8)  # non-negative, as a ReLU output is
    assert not transition(plain[0]) and torch.equal(DeletedBlock(plain[0])(x), x)
    assert transition(plain[2])
    out = DeletedBlock(plain[2])(x)
    assert out.shape == (5, 8, 4, 4)
    assert torch.equal(out[:, :4], x[:, :, ::2, ::2]) and torch.count_nonzero(out[:, 4:]) == 0


def test_lesioning_leaves_the_trained_model_as_it_was() -> None:
    pair = build_pair(TINY)
    before = {v: {k: t.clone() for k, t in m.state_dict().items()} for v, m in pair.items()}
    records = list(lesion_study(pair, data(TINY), TINY, draws=2))
    for v, model in pair.items():
        assert all(torch.equal(t, before[v][k]) for k, t in model.state_dict().items()), v
    n = TINY.blocks
    per_variant = 1 + n + 2 * (n - 1) + 1  # baseline, singles, two draws for k < n, one for k = n
    assert len(records) == 2 * per_variant
    random = [r for r in records if r["mode"] == "random"]
    assert all(len(set(r["deleted"])) == r["k"] for r in random)
    assert [r["deleted"] for r in random if r["variant"] == "plain"] == [
        r["deleted"] for r in random if r["variant"] == "residual"
    ]


def test_batchnorm_statistics_are_re_estimated_on_the_given_inputs() -> None:
    model = build_model(TINY, "residual")
    x = data(TINY)[0][:200]
    estimate_norm_statistics(model, x)
    z = model.stem.layer(x).detach()  # the stem's BN sees the first conv's output
    assert torch.allclose(model.stem.norm.running_mean, z.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(model.stem.norm.running_var, z.transpose(0, 1).flatten(1).var(dim=1), rtol=1e-4)


@pytest.mark.parametrize("n", range(1, 11))
def test_path_lengths_sum_to_one_and_match_counting_every_path(n: int) -> None:
    shares = path_lengths(n)
    assert math.fsum(shares) == pytest.approx(1.0, abs=1e-12)
    counts = [0] * (n + 1)
    for path in itertools.product((0, 1), repeat=n):  # 1: through the branch, 0: through the shortcut
        counts[sum(path)] += 1
    assert shares == [c / 2**n for c in counts]


@pytest.mark.parametrize(
    "config",
    [
        ExperimentConfig(arch="mlp", dataset="moons", depth=6, width=6, n_samples=100),
        ExperimentConfig(arch="mlp", dataset="moons", depth=6, width=6, n_samples=100, block="pre", norm="none", shortcut="C"),
        ExperimentConfig(depth=8, width=4, shortcut="B", activation="tanh"),
    ],
    ids=["mlp-post-bn", "mlp-pre-C", "cnn-B-tanh"],
)
def test_the_gradients_of_all_paths_add_up_to_the_full_gradient(config: ExperimentConfig) -> None:
    """The chain rule through n blocks expands into 2^n products: routed gradients must sum to plain autograd's."""
    model = build_model(config, "residual").eval()
    x, y = data(config)[0][:24], data(config)[1][:24]
    a0 = model.stem(x).detach().requires_grad_(True)
    (full,) = torch.autograd.grad(F.cross_entropy(model.classify(model.blocks(a0)), y), a0)
    n = len(model.block_list())
    total = sum(path_gradient(model, x, y, {i for i in range(n) if path[i]}) for path in itertools.product((0, 1), repeat=n))
    assert torch.allclose(total, full, rtol=1e-4, atol=1e-7)
    logits, _ = routed_forward(model, x, {0})
    assert torch.allclose(logits, model(x))  # routing changes the backward only


def test_paths_refuse_a_plain_net_and_measure_each_length_once() -> None:
    with pytest.raises(ValueError, match="plain"):
        routed_forward(build_model(TINY, "plain"), data(TINY)[0][:4], set())
    records = list(after_training(TINY, path_study))
    paths = [r for r in records if r["kind"] == "paths"]
    n = TINY.blocks
    assert [r["k"] for r in paths] == list(range(n + 1))
    assert [r["count"] for r in paths] == [math.comb(n, k) for k in range(n + 1)]
    assert [r["draws"] for r in paths] == [1] + [10] * (n - 1) + [1]
    assert all(r["grad_mean"] >= 0 and math.isfinite(r["grad_mean"]) for r in paths)
    assert records[0]["kind"] == "meta" and any(r["kind"] == "done" for r in records)  # training streamed first


def test_cli_lesion_and_paths_write_json_and_csv(tmp_path: Path) -> None:
    tiny = ["--depth", "8", "--width", "4", "--steps", "4", "--batch-size", "16", "--eval-every", "4", "--quiet"]
    out, csv = tmp_path / "lesion.json", tmp_path / "lesion.csv"
    assert main(["lesion", *tiny, "--draws", "2", "--block", "pre", "--out", str(out), "--csv", str(csv)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["block"] == "pre" and result["config"]["depth"] == 8
    modes = [r["mode"] for r in result["lesion"] if r["variant"] == "plain"]
    assert modes == ["baseline"] + ["single"] * 3 + ["random"] * (2 * 2 + 1)
    assert len(pd.read_csv(csv)) == len(result["lesion"])
    out = tmp_path / "paths.json"
    assert main(["paths", *tiny, "--draws", "2", "--out", str(out)]) == 0
    assert [r["k"] for r in json.loads(out.read_text())["paths"]] == [0, 1, 2, 3]


def test_cli_study_refuses_bad_draws_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["paths", "--draws", "0"])
    assert stopped.value.code == 2 and "draws: '0'" in capsys.readouterr().err
