"""Paired training: same batches, records, cadence, divergence, and instrumentation that changes nothing."""

import math
import sys

import pytest
import torch

from resnet_core import ExperimentConfig, measure_init, train
from resnet_core.results import RunLog

SMALL = ExperimentConfig(depth=8, width=4, steps=12, batch_size=32, measure_every=4, eval_every=5)


def run(config: ExperimentConfig) -> RunLog:
    return RunLog(config).extend(train(config))


def test_records_follow_the_documented_sequence():
    log = run(SMALL)
    assert log.finished and set(log.meta) == {"plain", "residual"}
    for v in ("plain", "residual"):
        assert [r["step"] for r in log.steps[v]] == list(range(12))
        assert [r["step"] for r in log.measured_steps(v)] == [0, 4, 8, 11]  # cadence plus the last step
        assert [r["step"] for r in log.evals[v]] == [0, 5, 10, 12]
        n_layers, n_blocks = len(log.meta[v]["layers"]), len(log.meta[v]["blocks"])
        record = log.measured_steps(v)[0]
        assert len(record["grad_norm"]) == len(record["weight_norm"]) == n_layers == 8
        assert all(len(record[m]) == n_blocks == 3 for m in ("act_grad_norm", "act_std", "branch_ratio"))
        assert log.final[v]["diverged"] is False
    assert all(math.isnan(x) for x in log.measured_steps("plain")[0]["branch_ratio"])
    assert all(x > 0 for x in log.measured_steps("residual")[0]["branch_ratio"])


def test_step_zero_equals_measure_init():
    trained, init = run(SMALL), RunLog(SMALL).extend(measure_init(SMALL))
    for v in ("plain", "residual"):
        a, b = trained.measured_steps(v)[0], init.measured_steps(v)[0]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5)
        assert a["act_grad_norm"] == pytest.approx(b["act_grad_norm"], rel=1e-5)


def test_instrumentation_does_not_change_training():
    measured_every_step = run(SMALL.replace(measure_every=1))
    measured_rarely = run(SMALL.replace(measure_every=1000))
    for v in ("plain", "residual"):
        assert [r["loss"] for r in measured_every_step.steps[v]] == [r["loss"] for r in measured_rarely.steps[v]]


def test_same_seed_same_run_and_pair_sees_same_batches():
    a, b = run(SMALL), run(SMALL)
    assert [r["loss"] for r in a.steps["residual"]] == [r["loss"] for r in b.steps["residual"]]
    # option A with zero_residual: both nets are the same function at step 0, so their first losses agree
    zero = run(SMALL.replace(init="zero_residual", steps=1))
    assert zero.steps["plain"][0]["loss"] != pytest.approx(
        zero.steps["residual"][0]["loss"]
    )  # plain is constant, residual is not
    same = run(SMALL.replace(steps=1))
    assert same.steps["plain"][0]["batch_error"] >= 0


def test_l2_is_coupled_weight_decay_on_every_parameter():
    """With lr l and no gradient signal (lr tiny vs decay), one SGD step scales W by (1 - l * l2) exactly."""
    config = SMALL.replace(steps=1, momentum=0.0, l2=0.5, lr=1e-6, optimizer="sgd")
    from resnet_core.models import build_model
    from resnet_core.training import make_optimizer

    model = build_model(config, "residual")
    optimizer = make_optimizer(config, model)
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for b, p in zip(before, model.parameters(), strict=True):
        assert torch.allclose(p, b * (1 - 1e-6 * 0.5))


def test_divergence_is_reported_and_the_other_net_goes_on():
    config = ExperimentConfig(
        arch="mlp",
        dataset="moons",
        depth=20,
        width=16,
        norm="none",
        lr=10.0,
        momentum=0.9,
        steps=30,
        batch_size=32,
        eval_every=10,
        measure_every=5,
    )
    records = list(train(config))
    log = RunLog(config).extend(records)
    diverged = [r for r in records if r["kind"] == "diverged"]
    assert diverged, "lr 10 on an unnormalised 20-layer MLP should diverge"
    for d in diverged:
        v = d["variant"]
        assert log.final[v]["diverged"] and log.final[v]["diverged_at"] == d["step"]
        assert log.steps[v][-1]["step"] == d["step"]  # no steps after divergence
        assert not math.isfinite(d["loss"])
    assert [r for r in records if r["kind"] == "done"] and log.finished


def test_diverging_net_alone_stops(monkeypatch):
    """Make the plain net output NaN from its 4th training forward: residual trains all steps, plain stops at 3."""
    train_module = sys.modules["resnet_core.training"]

    class PlainFailsFromItsFourthStep(train_module.PairedStack):  # both nets run in one PairedStack
        def forward(self, x):
            logits = super().forward(x)
            if self.training and torch.is_grad_enabled():  # a training step, not evaluation's BN re-estimate
                self.calls = getattr(self, "calls", 0) + 1
                if self.calls >= 4:
                    return torch.stack([logits[0] * math.nan, logits[1]])
            return logits

    monkeypatch.setattr(train_module, "PairedStack", PlainFailsFromItsFourthStep)
    log = run(SMALL)
    assert log.diverged == {"plain": 3}
    assert log.final["plain"]["diverged_at"] == 3 and not log.final["residual"]["diverged"]
    assert len(log.steps["residual"]) == SMALL.steps and len(log.steps["plain"]) == 4


def test_device_resolution_and_errors():
    from resnet_core.training import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"^device: 'cuda'"):
            list(train(SMALL.replace(device="cuda")))


def test_cnn56_shows_the_science_at_init():
    """docs/SCIENCE_NOTES.md 1: with BN a plain-56 gradient grows toward the input by hundreds; the ResNet stays near 1."""
    config = ExperimentConfig(depth=56, batch_size=128, width=16)
    log = RunLog(config).extend(measure_init(config))
    assert log.ratio("plain") > 100
    assert 0.2 < log.ratio("residual") < 20


def test_evaluation_re_estimates_batchnorm_statistics_on_the_training_set():
    """After estimate_norm_statistics, the stem BN's running mean / var are the training set's statistics (checked by a hook)."""
    from resnet_core.data import load_dataset
    from resnet_core.evaluation import estimate_norm_statistics
    from resnet_core.models import build_model

    config = ExperimentConfig(arch="cnn", dataset="digits", depth=8, width=4)
    model = build_model(config, "plain")
    x_train = load_dataset(config)[0]
    seen = []
    hook = model.stem.layer.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
    with torch.no_grad():
        model.eval()(x_train)
    hook.remove()
    z = seen[0].double()  # (N, C, H, W): the stem conv's output over the whole training set
    momentum = model.stem.norm.momentum
    estimate_norm_statistics(model, x_train)
    assert model.stem.norm.momentum == momentum  # restored
    assert torch.allclose(model.stem.norm.running_mean.double(), z.mean((0, 2, 3)), atol=1e-5)
    # chunks of EVAL_BATCH: the size-weighted mean of per-chunk unbiased variances, within a percent of the whole set's
    assert torch.allclose(model.stem.norm.running_var.double(), z.var((0, 2, 3)), rtol=1e-2)


@pytest.mark.parametrize("seed", [13, 29])
def test_training_error_is_what_the_trained_net_computes_not_lagging_running_averages(seed):
    """Issue #11's case: depth 20, L2 0.1, 150 steps. The stale running averages reported the residual net at
    ~0.6 training error while it fits its data; the re-estimated statistics agree with batch statistics."""
    from resnet_core.data import load_dataset
    from resnet_core.models import Stack

    config = ExperimentConfig(arch="cnn", dataset="digits", depth=20, l2=0.1, steps=150, seed=seed, eval_every=150)
    kept: dict[str, Stack] = {}
    done = {r["variant"]: r for r in train(config, keep_models=kept) if r["kind"] == "done"}
    x_train, y_train, *_ = load_dataset(config)
    with torch.no_grad():  # batch statistics over the whole training set in one pass: an independent reading
        batch_stat_error = (kept["residual"].train()(x_train).argmax(1) != y_train).float().mean().item()
    assert done["residual"]["train_error"] == pytest.approx(batch_stat_error, abs=0.05)
    assert done["residual"]["train_error"] < 0.3
