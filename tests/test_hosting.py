"""Host limits: reading the settings, the budget message's numbers, the data-path rule, the slot line, threads."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from lab.lessons import LESSONS
from resnet_core.config import ExperimentConfig
from serving.limits import (
    HOSTED_MAX_COMPUTE,
    HostLimits,
    SlotLimiter,
    apply_thread_limit,
    budget_message,
    cifar10_rule,
    compute_cost,
    largest_depth,
    sweep_message,
    training_slots,
)


def test_laptop_default_is_unlimited_with_one_thread_per_training() -> None:
    limits = HostLimits.from_settings({}, cpu_count=8)
    assert limits == HostLimits(threads=1)
    assert budget_message(ExperimentConfig(depth=1202, width=512, steps=100_000, batch_size=4096), limits) is None


def test_hosted_defaults_follow_the_cores() -> None:
    limits = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1"}, cpu_count=8)
    assert limits.hosted and limits.max_compute == HOSTED_MAX_COMPUTE
    assert limits.max_concurrent == 8 and limits.threads == 1  # 8 trainings x 1 thread = 8 cores
    explicit = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1", "RESNET_LAB_MAX_CONCURRENT": "2"}, cpu_count=8)
    assert explicit.threads == 4  # fewer trainings at once: each gets more of the cores


def test_explicit_settings_override_and_accept_scientific_notation() -> None:
    limits = HostLimits.from_settings(
        {
            "RESNET_LAB_MAX_COMPUTE": "5e6",
            "RESNET_LAB_MAX_CONCURRENT": "3",
            "RESNET_LAB_THREADS": "1",
            "RESNET_LAB_CIFAR10_PATH": " /data/cifar ",
        },
        cpu_count=2,
    )
    assert (limits.max_compute, limits.max_concurrent, limits.threads, limits.cifar10_path) == (5_000_000, 3, 1, "/data/cifar")
    assert not limits.hosted


@pytest.mark.parametrize("raw", ["-1", "0", "lots", "2.5"])
def test_malformed_setting_names_itself(raw: str) -> None:
    with pytest.raises(ValueError, match="RESNET_LAB_MAX_SWEEP"):
        HostLimits.from_settings({"RESNET_LAB_MAX_SWEEP": raw})


def test_budget_message_names_cost_and_largest_values_that_really_fit() -> None:
    config = ExperimentConfig(arch="cnn", depth=110, width=16, steps=1000, batch_size=128)
    limits = HostLimits(max_compute=20_000_000)
    message = budget_message(config, limits)
    assert message is not None
    assert f"{compute_cost(config):,}" in message and "20,000,000" in message
    depth = largest_depth(config, limits.max_compute)
    assert depth == 8 + 6 * ((20_000_000 // (16 * 1000 * 128) - 8) // 6)  # the deepest 6n+2 that fits
    assert f"largest depth allowed is {depth}" in message
    assert compute_cost(config.replace(depth=depth)) <= limits.max_compute < compute_cost(config.replace(depth=depth + 6))
    steps = limits.max_compute // (110 * 16 * 128)
    assert f"at most {steps} steps" in message
    assert compute_cost(config.replace(steps=steps)) <= limits.max_compute < compute_cost(config.replace(steps=steps + 1))


def test_budget_message_when_nothing_fits_says_what_to_lower() -> None:
    config = ExperimentConfig(arch="mlp", dataset="moons", depth=2, width=512, steps=10, batch_size=4096)
    message = budget_message(config, HostLimits(max_compute=1000))
    assert message is not None and "width or the batch size" in message


def test_every_lesson_fits_the_hosted_default_budget() -> None:
    limits = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1"}, cpu_count=2)
    for lesson in LESSONS:
        if lesson.page.endswith("gradient_flow.py"):
            assert budget_message(lesson.config(), limits) is None, lesson.name


def test_sweep_message_counts_configs_and_sums_cost() -> None:
    configs = [ExperimentConfig(depth=d) for d in (20, 56)]
    assert sweep_message(configs, HostLimits(max_sweep=1)) is not None
    total = sum(compute_cost(c) for c in configs)
    assert sweep_message(configs, HostLimits(max_compute=total)) is None
    message = sweep_message(configs, HostLimits(max_compute=total - 1))
    steps = (total - 1) // ((20 + 56) * 8 * 64)
    assert message is not None and f"the most steps allowed are {steps}" in message


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


def test_slot_limiter_bounds_concurrency_and_reports_the_line() -> None:
    limiter = SlotLimiter(1)
    holding, done = threading.Event(), threading.Event()
    waits: list[int] = []

    def first() -> None:
        with limiter.slot(on_wait=lambda k: None):
            holding.set()
            done.wait(5)

    owner = threading.Thread(target=first)
    owner.start()
    holding.wait(5)
    assert not limiter.try_acquire()  # full: a newcomer does not get in

    def second() -> None:
        with limiter.slot(on_wait=waits.append, poll_seconds=0.01):
            assert limiter.in_use == 1

    waiter = threading.Thread(target=second)
    waiter.start()
    while not waits:
        time.sleep(0.01)
    assert waits[0] == 0  # nobody ahead of it, just no free slot
    done.set()
    owner.join(5)
    waiter.join(5)
    assert limiter.in_use == 0


def test_a_waiter_that_gives_up_leaves_the_line() -> None:
    limiter = SlotLimiter(1)
    assert limiter.try_acquire()

    def give_up(ahead: int) -> None:
        raise RuntimeError("rerun")

    with pytest.raises(RuntimeError), limiter.slot(on_wait=give_up):
        pass
    limiter.release()
    assert limiter.try_acquire()  # the abandoned ticket is not blocking the line
    limiter.release()
    with pytest.raises(ValueError):
        limiter.release()


def test_one_limiter_per_process_and_capacity() -> None:
    limits = HostLimits(max_concurrent=2)
    assert training_slots(limits) is training_slots(HostLimits(max_concurrent=2))
    assert training_slots(HostLimits()) is None
