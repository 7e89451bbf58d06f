"""Batched pair execution (resnet_core/paired.py) against the oracle: each net trained alone, in its own modules.

train() runs both nets in one PairedStack; here each net of the same pair trains on its own
with a plain torch optimizer, and its measurements come from tests/oracle.py (a functional
re-implementation). The records must agree within float32 tolerance step by step, and the
models handed back through keep_models must hold the same trained weights and BN statistics.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from resnet_core import ExperimentConfig, build_pair, load_dataset, train
from resnet_core.evaluation import error_rate, estimate_norm_statistics
from resnet_core.models import Stack
from resnet_core.paired import PairedStack
from resnet_core.probes import weight_layers
from resnet_core.specs import VARIANTS
from resnet_core.training import minibatch_indices
from tests.oracle import reference_measurement

STEPS = 3
CASES = [
    ExperimentConfig(depth=8, width=4, batch_size=16),
    ExperimentConfig(depth=8, width=4, batch_size=16, shortcut="B", activation="gelu"),
    ExperimentConfig(depth=8, width=4, batch_size=16, shortcut="C", norm="none", optimizer="adam", lr=0.01),
    ExperimentConfig(depth=8, width=4, batch_size=16, shortcut="B", padding="circular"),
    ExperimentConfig(arch="mlp", dataset="moons", depth=4, width=8, batch_size=16, n_samples=200),
    ExperimentConfig(
        arch="mlp",
        dataset="spirals",
        depth=4,
        width=8,
        batch_size=16,
        n_samples=200,
        shortcut="C",
        norm="none",
        activation="tanh",
        init="zero_residual",
    ),
    ExperimentConfig(depth=8, width=4, batch_size=16, block="pre", shortcut="B"),
    ExperimentConfig(
        arch="mlp", dataset="moons", depth=4, width=8, batch_size=16, n_samples=200, block="pre", activation="sigmoid", lr=0.5
    ),
    ExperimentConfig(depth=8, width=4, batch_size=16, block="pre", norm="none", init="zero_residual", shortcut="C"),
    # two blocks a stage: identity shortcuts after the first block (their norm comes from the output before them),
    # and z's moments from the BN that makes it (post) or from z itself (pre)
    ExperimentConfig(depth=14, width=4, batch_size=16),
    ExperimentConfig(depth=14, width=4, batch_size=16, block="pre", init="zero_residual"),
]
COMPARED = ("grad_norm", "weight_norm", "act_grad_norm", "act_std", "branch_ratio", "out_ms")


def one_by_one(config: ExperimentConfig) -> tuple[dict[str, Stack], dict[str, list[dict[str, list[float]]]]]:
    """Train each net of the pair alone for STEPS steps on train()'s minibatches; return the nets and their records."""
    x, y, _, _ = load_dataset(config)
    nets = build_pair(config)
    records: dict[str, list[dict[str, list[float]]]] = {v: [] for v in VARIANTS}
    for v, net in nets.items():
        if config.optimizer == "adam":
            optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.l2)
        else:
            optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.l2)
        for _, index in zip(range(STEPS), minibatch_indices(config, len(x)), strict=False):
            xb, yb = x[index], y[index]
            reference = reference_measurement(net, config, xb, yb)  # functional: BN running statistics untouched
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            layers = [p for _, p in weight_layers(net)]
            records[v].append(
                {
                    "loss": [loss.item()],
                    "batch_error": [(logits.argmax(1) != yb).float().mean().item()],
                    "grad_norm": [p.grad.norm().item() for p in layers],
                    "weight_norm": [p.detach().norm().item() for p in layers],
                    **{k: reference[k] for k in ("act_grad_norm", "act_std", "branch_ratio", "out_ms")},
                }
            )
            optimizer.step()
    return nets, records


def close(actual: list[float], expected: list[float]) -> bool:
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == pytest.approx(e, rel=1e-4, abs=1e-6)
        for a, e in zip(actual, expected, strict=True)
    )


@pytest.mark.parametrize(
    "config", CASES, ids=lambda c: f"{c.arch}{c.depth}-{c.block}-{c.shortcut}-{c.norm}-{c.optimizer}-{c.activation}"
)
def test_paired_training_matches_each_net_trained_alone(config: ExperimentConfig) -> None:
    config = config.replace(steps=STEPS, measure_every=1, eval_every=STEPS)
    kept: dict[str, Stack] = {}
    records = list(train(config, keep_models=kept))
    nets, expected = one_by_one(config)
    for v in VARIANTS:
        steps = [r for r in records if r["kind"] == "step" and r["variant"] == v]
        assert [r["step"] for r in steps] == list(range(STEPS))
        for step, (got, want) in enumerate(zip(steps, expected[v], strict=True)):
            assert close([got["loss"], got["batch_error"]], want["loss"] + want["batch_error"]), (v, step)
            for metric in COMPARED:
                assert close(got[metric], want[metric]), (v, step, metric, got[metric], want[metric])
        # keep_models hands back the trained nets: same weights and (re-estimated) BN statistics as the oracle's
        x_train, y_train, x_test, y_test = load_dataset(config)
        estimate_norm_statistics(nets[v], x_train)
        trained, oracle = kept[v].state_dict(), nets[v].state_dict()
        for name, tensor in oracle.items():
            if tensor.is_floating_point():  # running statistics: means over the training set, summed in another order
                tolerance = {"rtol": 1e-3, "atol": 1e-4} if "running_" in name else {"rtol": 1e-4, "atol": 1e-5}
                assert torch.allclose(trained[name], tensor, **tolerance), (v, name)
        # the eval records come from the paired nets in eval mode; the oracle evaluates its own net
        final = next(r for r in records if r["kind"] == "done" and r["variant"] == v)
        assert final["train_error"] == pytest.approx(error_rate(nets[v], x_train, y_train).item(), abs=2 / len(x_train))
        assert final["test_error"] == pytest.approx(error_rate(nets[v], x_test, y_test).item(), abs=2 / len(x_test))


def test_a_stopped_run_still_hands_back_its_trained_nets() -> None:
    """A page that stops training early (the generator is closed mid-run) keeps the weights reached so far."""
    config = CASES[0].replace(steps=50)
    kept: dict[str, Stack] = {}
    before = {v: net.state_dict() for v, net in build_pair(config).items()}
    run = train(config, keep_models=kept)
    for record in run:
        if record["kind"] == "step" and record["step"] == 2:
            break
    run.close()
    for v in VARIANTS:
        changed = [n for n, t in before[v].items() if t.is_floating_point() and not torch.equal(t, kept[v].state_dict()[n])]
        assert changed, f"{v}: the kept net still holds its initial weights"


def _autograd_nodes(root: torch.Tensor) -> int:
    """The nodes of root's backward graph: what a backward pass visits, one kernel launch or more each."""
    seen, stack = set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


def test_a_deep_thin_mlp_pair_costs_a_few_autograd_nodes_per_layer() -> None:
    """A thin MLP's step is bound by nodes, not arithmetic: each linear layer is one baddbmm on a slice of its run of
    `flat` (one unbind per run), not views and transposes of its own (16 nodes per block, twice the time per layer)."""
    config = ExperimentConfig(arch="mlp", dataset="moons", depth=100, width=8, norm="none", n_samples=200)
    pair = PairedStack.from_config(config)
    x_train, *_ = load_dataset(config)
    nodes = _autograd_nodes(pair(x_train[:16]).sum())
    # per block: 2 baddbmm, 2 relu, the shortcut's slice and index_add; the stem, classifier, unbinds and flat: a few
    assert nodes <= 7 * len(pair.spec.blocks)
