"""Host limits: reading the settings, the cost budget and its messages, the data-path rule, threads."""

from __future__ import annotations

import threading

import pytest
import torch

from lab import pages
from lab.degradation import DEFAULT_DEPTHS
from lab.identity import DEFAULT_L2S
from lab.lessons import LESSONS
from resnet_core.config import ExperimentConfig
from serving.cost import budget_message, estimate_cost, first_view_fits, largest_depth, largest_steps, sweep_message
from serving.limits import (
    HOSTED_MAX_GFLOP,
    HOSTED_MAX_MEMORY_MB,
    LAPTOP_MAX_GFLOP,
    LAPTOP_MAX_MEMORY_MB,
    HostLimits,
    apply_thread_limit,
    cifar10_rule,
)

HOSTED = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1"}, cpu_count=2)
LAPTOP = HostLimits.from_settings({}, cpu_count=2)
# The attacks of the reliability issue: an init view at width 128 and batch 4096 (ran over 200 s), and an MLP
# evaluated on 100,000 points after every one of 100,000 steps (~26 h; under the old proxy 0.8% of the budget).
WIDE_INIT = ExperimentConfig(depth=56, width=128, batch_size=4096, steps=0)
EVAL_EVERY_STEP = ExperimentConfig(arch="mlp", dataset="moons", eval_every=1, n_samples=100_000, steps=100_000)


def test_laptop_default_is_generous_but_bounded_with_one_thread_per_training() -> None:
    limits = HostLimits.from_settings({}, cpu_count=8)
    assert limits == HostLimits(max_gflop=LAPTOP_MAX_GFLOP, max_memory_mb=LAPTOP_MAX_MEMORY_MB, threads=1)
    assert LAPTOP_MAX_GFLOP >= 10 * HOSTED_MAX_GFLOP and LAPTOP_MAX_MEMORY_MB >= 2 * HOSTED_MAX_MEMORY_MB
    # Generous: the paper's ResNet-20 on a local CIFAR-10 for 100 steps (~15 min of one core) runs in a classroom ...
    assert (
        budget_message(ExperimentConfig(dataset="cifar10", data_path="/c", width=16, batch_size=128, steps=100), limits) is None
    )
    # ... but not a link that would hold the teacher's laptop for hours or take gigabytes.
    for config in (WIDE_INIT, EVAL_EVERY_STEP, ExperimentConfig(depth=1202, width=512, steps=100_000, batch_size=4096)):
        assert budget_message(config, limits) is not None


def test_caps_can_be_switched_off_by_name() -> None:
    limits = HostLimits.from_settings({"RESNET_LAB_MAX_GFLOP": "off", "RESNET_LAB_MAX_MEMORY_MB": " Off "})
    assert limits.max_gflop is None and limits.max_memory_mb is None
    assert budget_message(ExperimentConfig(depth=1202, width=512, steps=100_000, batch_size=4096), limits) is None
    with pytest.raises(ValueError, match=r"RESNET_LAB_MAX_GFLOP.*'off'"):
        HostLimits.from_settings({"RESNET_LAB_MAX_GFLOP": "lots"})


def test_hosted_defaults_follow_the_cores() -> None:
    limits = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1"}, cpu_count=8)
    assert limits.hosted and (limits.max_gflop, limits.max_memory_mb) == (HOSTED_MAX_GFLOP, HOSTED_MAX_MEMORY_MB)
    assert limits.max_concurrent == 8 and limits.threads == 1  # 8 trainings x 1 thread = 8 cores
    explicit = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1", "RESNET_LAB_MAX_CONCURRENT": "2"}, cpu_count=8)
    assert explicit.threads == 4  # fewer trainings at once: each gets more of the cores


def test_explicit_settings_override_and_accept_scientific_notation() -> None:
    limits = HostLimits.from_settings(
        {
            "RESNET_LAB_MAX_GFLOP": "5e3",
            "RESNET_LAB_MAX_MEMORY_MB": "512",
            "RESNET_LAB_MAX_CONCURRENT": "3",
            "RESNET_LAB_THREADS": "1",
            "RESNET_LAB_CIFAR10_PATH": " /data/cifar ",
        },
        cpu_count=2,
    )
    assert (limits.max_gflop, limits.max_memory_mb, limits.max_concurrent, limits.threads) == (5_000, 512, 3, 1)
    assert limits.cifar10_path == "/data/cifar" and not limits.hosted


def test_deprecated_max_compute_converts_in_proportion_to_its_old_default() -> None:
    with pytest.warns(FutureWarning, match="RESNET_LAB_MAX_GFLOP"):
        limits = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1", "RESNET_LAB_MAX_COMPUTE": "5e6"})
    assert limits.max_gflop == HOSTED_MAX_GFLOP // 10  # a tenth of the old default is a tenth of the new one
    with pytest.warns(FutureWarning):
        both = HostLimits.from_settings({"RESNET_LAB_MAX_COMPUTE": "5e6", "RESNET_LAB_MAX_GFLOP": "7"})
    assert both.max_gflop == 7  # the new name wins


@pytest.mark.parametrize("raw", ["-1", "0", "lots", "2.5"])
def test_malformed_setting_names_itself(raw: str) -> None:
    with pytest.raises(ValueError, match="RESNET_LAB_MAX_SWEEP"):
        HostLimits.from_settings({"RESNET_LAB_MAX_SWEEP": raw})


def test_cost_grows_as_the_work_does() -> None:
    """Conv FLOPs grow with width squared, evaluations count, and the init view alone is not free."""
    base = estimate_cost(ExperimentConfig(depth=20, width=16))
    wide = estimate_cost(ExperimentConfig(depth=20, width=32))
    assert 3.8 < wide.flops / base.flops < 4.0  # the 1-channel stem and the classifier are linear in width
    often = estimate_cost(ExperimentConfig(depth=20, width=16, eval_every=1))
    assert often.flops > 3 * base.flops  # 150 evaluations of 1,797 images outweigh 150 steps of 64
    assert estimate_cost(ExperimentConfig(steps=0)).flops > 0
    assert estimate_cost(ExperimentConfig(batch_size=4096)) == estimate_cost(
        ExperimentConfig(batch_size=1437)
    )  # digits' train set


def test_the_issues_attacks_are_refused_on_a_hosted_lab() -> None:
    wide = estimate_cost(WIDE_INIT)
    assert wide.gflop > 3 * HOSTED_MAX_GFLOP and wide.memory_mb > 4 * HOSTED_MAX_MEMORY_MB
    message = budget_message(WIDE_INIT, HOSTED)
    assert message is not None and "GFLOP" in message and "MB of memory" in message
    assert estimate_cost(EVAL_EVERY_STEP).gflop > 100 * HOSTED_MAX_GFLOP
    message = budget_message(EVAL_EVERY_STEP, HOSTED)
    assert message is not None and " h of one CPU core" in message  # hours, said as hours
    assert budget_message(WIDE_INIT.replace(depth=20), HOSTED) is not None  # the shallower one too (its memory)


def test_the_first_view_is_priced_apart_from_training() -> None:
    """Issue 14: a deep, long request may still open its cheap first view (the init measurement) with Train off;
    a first view that alone is over the host's memory is refused outright."""
    deep = ExperimentConfig(depth=1202, steps=1000)
    first, training = estimate_cost(deep, train=False), estimate_cost(deep)
    assert first.flops < training.flops / 100 and first.memory_mb == training.memory_mb
    assert first_view_fits(deep, HOSTED) and budget_message(deep, HOSTED) is not None
    assert not first_view_fits(WIDE_INIT, HOSTED)


def test_budget_message_names_cost_and_largest_values_that_really_fit() -> None:
    config = ExperimentConfig(arch="cnn", depth=110, width=16, steps=100, batch_size=128)
    limits = HostLimits(max_gflop=1000)
    message = budget_message(config, limits)
    assert message is not None
    assert f"about {estimate_cost(config).gflop:,.0f} GFLOP" in message and "budget of 1,000 GFLOP" in message
    depth = largest_depth(config, limits)
    assert depth is not None and f"largest depth allowed is {depth}" in message
    assert estimate_cost(config.replace(depth=depth)).gflop <= 1000 < estimate_cost(config.replace(depth=depth + 6)).gflop
    steps = largest_steps([config], limits)
    assert steps is not None and f"at most {steps} steps" in message
    assert estimate_cost(config.replace(steps=steps)).gflop <= 1000 < estimate_cost(config.replace(steps=steps + 1)).gflop


def test_memory_message_names_the_largest_batch_that_fits() -> None:
    config = ExperimentConfig(depth=20, width=32, batch_size=1024, steps=1)
    limits = HostLimits(max_memory_mb=256)
    message = budget_message(config, limits)
    assert message is not None and "MB of memory" in message and "GFLOP" not in message
    batch = int(message.split("largest batch size that fits is ")[1].rstrip("."))
    assert (
        estimate_cost(config.replace(batch_size=batch)).memory_mb
        <= 256
        < estimate_cost(config.replace(batch_size=batch + 1)).memory_mb
    )


def test_budget_message_when_nothing_fits_says_what_to_lower() -> None:
    config = ExperimentConfig(arch="mlp", dataset="moons", depth=2, width=512, steps=10, batch_size=4096)
    message = budget_message(config, HostLimits(max_gflop=1))
    assert message is not None and "width or the batch size" in message
    message = budget_message(ExperimentConfig(depth=20, width=32, batch_size=1024), HostLimits(max_memory_mb=128))
    assert message is not None and "even a batch of 1 is over" in message


def test_every_lesson_and_science_default_fits_the_hosted_budget() -> None:
    flow = pages.GRADIENT_FLOW.defaults
    assert budget_message(flow, HOSTED) is None  # the landing page's Train
    for lesson in LESSONS:
        if lesson.page.endswith("gradient_flow.py"):
            assert budget_message(lesson.config(), HOSTED) is None, lesson.name
    degradation, depths = pages.DEGRADATION.defaults, DEFAULT_DEPTHS
    assert sweep_message([degradation.replace(depth=d) for d in depths], HOSTED) is None
    assert sweep_message([degradation.replace(depth=d) for d in (20, 32, 44, 56)], HOSTED) is None  # the lesson's now-try
    identity = pages.IDENTITY.defaults
    assert sweep_message([identity.replace(l2=float(x)) for x in DEFAULT_L2S], HOSTED) is None
    shortcuts = pages.SHORTCUTS.defaults
    # Its one job trains four nets (plain, A, B, C): two pairs, the second with projections on every block.
    assert sweep_message([shortcuts, shortcuts.replace(shortcut="C")], HOSTED) is None
    for config in (degradation, identity, shortcuts):
        assert budget_message(config, HOSTED) is None


def test_sweep_message_counts_configs_and_sums_cost() -> None:
    configs = [ExperimentConfig(depth=d) for d in (20, 56)]
    assert sweep_message(configs, HostLimits(max_sweep=1)) is not None
    total = sum(estimate_cost(c).gflop for c in configs)
    assert sweep_message(configs, HostLimits(max_gflop=int(total) + 1)) is None
    limits = HostLimits(max_gflop=int(total) - 1)
    message = sweep_message(configs, limits)
    steps = largest_steps(configs, limits)
    assert message is not None and steps is not None and f"the most steps allowed are {steps}" in message
    assert sum(estimate_cost(c.replace(steps=steps)).gflop for c in configs) <= total - 1
    assert sum(estimate_cost(c.replace(steps=steps + 1)).gflop for c in configs) > total - 1
    assert "MB of memory" in (sweep_message([*configs, configs[0].replace(width=128, batch_size=1024)], HOSTED) or "")


@pytest.mark.parametrize("hosted", [True, False])
def test_cifar10_path_comes_only_from_the_host_in_every_mode(hosted: bool) -> None:
    """One rule, laptop or hosted: a visitor's path is dropped, the host's used, none configured means digits."""
    visitor = {"dataset": "cifar10", "data_path": "/etc/passwd", "depth": 8}
    values, message = cifar10_rule(visitor, HostLimits(hosted=hosted, cifar10_path="/srv/cifar"))
    assert message is None and values == {"dataset": "cifar10", "data_path": "/srv/cifar", "depth": 8}
    values, message = cifar10_rule(visitor, HostLimits(hosted=hosted))
    assert values == {"dataset": "digits", "depth": 8} and "not available" in message
    values, message = cifar10_rule({"dataset": "moons", "data_path": "/root/.ssh"}, HostLimits(hosted=hosted))
    assert values == {"dataset": "moons"} and message is None


def test_thread_limit_applies_to_training_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert apply_thread_limit(HostLimits(threads=1)) == 1
        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        worker.start()
        worker.join()
        assert seen == [1]
    finally:
        torch.set_num_threads(before)
