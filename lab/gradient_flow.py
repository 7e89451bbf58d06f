"""The Gradient Flow page's readings: every sentence under its charts, computed from the run's records.

A first / last gradient ratio can be a number, an exact zero (a zero-initialised layer passes
nothing back), an underflow (the gradient fell below float32's range: it vanished) or an
overflow (it grew past 3.4e38); each is said as what it is. The residual net's sentence says
whether its shortcut actually kept the gradient flatter than the plain net's, because with a
saturating activation on the shortcut path (post-activation blocks) it may not.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from resnet_core.config import IMAGE_SIZE_STEPS, SYNTHETIC_DATASETS, ExperimentConfig
from resnet_core.data import image_shape
from resnet_core.results import RunLog, end_ratio, gradient_ratio
from resnet_core.specs import VARIANTS

SATURATING = ("sigmoid", "tanh")  # activations whose slope is below 1 almost everywhere
FLAT_DECADES = 1.0  # a first / last ratio within 10x of 1 counts as carried across the stack
FLOAT32_TINY = 1e-30  # a nonzero layer norm this small on the way to an exact 0 means float32 underflow
PADDING_WORDS = {"zeros": "zero padding", "circular": "circular padding"}  # the config's values as a sentence says them
LARGE_SIDE = IMAGE_SIZE_STEPS[
    -1
]  # the padding comparison's large input side (CIFAR's), or the grid's smallest when already this large
# How a residual unit joins its branch and shortcut, as the story writes it: post-activation keeps g after the sum.
UNIT_FORMULAS = {"post": "a[l+2] = g(z[l+2] + a[l])", "pre": "a[l+2] = a[l] + F(a[l])"}


def ratio_phrase(norms: list[float], init: str = "he") -> str:
    """The first / last hidden-layer gradient ratio as people say it, from the main-path norms (classifier last)."""
    hidden = norms[:-1]
    if len(hidden) < 2:
        return "not measured"
    if not all(math.isfinite(v) for v in hidden):
        finite = [v for v in hidden if math.isfinite(v)]
        top = f"; the largest finite layer norm is {max(finite):.3g}" if finite else ""
        return f"not measurable: the gradient overflowed float32 (past 3.4e38) on its way to the input{top}"
    first, last = hidden[0], hidden[-1]
    if (first == 0 or last == 0) and init == "zero_residual":
        return "0 exactly: the zero-initialised layers pass no gradient (a structural zero, not a vanishing)"
    if last == 0:
        return "not defined: the last hidden layer's gradient is exactly 0"
    if first == 0:
        smallest = min((v for v in hidden if v > 0), default=math.nan)
        if smallest < FLOAT32_TINY:
            return f"0: the gradient underflowed float32 on its way to the input (its smallest nonzero layer norm was {smallest:.1e}): it vanished"
        return "0 exactly: no gradient reaches the first layer"
    return direction_text(gradient_ratio(norms))  # the one definition of the ratio; both ends are nonzero here


def block_ratio(blocks: pd.DataFrame, variant: str, metric: str, step: int = 0) -> float:
    """First block / last block of a per-block metric: above 1 it is larger at the input side."""
    part = blocks[(blocks["variant"] == variant) & (blocks["metric"] == metric) & (blocks["step"] == step)].sort_values("block")
    return end_ratio(part["value"].tolist())


def block_phrase(ratio: float) -> str:
    """A first / last block ratio (a forward or backward signal): a number and its direction."""
    if not math.isfinite(ratio):
        return "not measurable (the last block's value is 0, or a value overflowed)"
    if ratio == 0:
        return "0 (nothing reaches the input side: it underflowed float32 or is exactly 0)"
    return direction_text(ratio)


def direction_text(ratio: float) -> str:
    """A finite, positive first / last ratio as people read it: "674 (grows toward the input)", "1/1.2 (about flat)"."""
    if ratio >= 1:
        return f"{ratio:.3g} ({'grows toward the input' if ratio >= 2 else 'about flat'})"
    return f"1/{1 / ratio:.3g} ({'shrinks toward the input' if ratio <= 0.5 else 'about flat'})"


def gradient_reading(log: RunLog, step: int = 0, when: str | None = None) -> str:
    """The one-line reading under the charts, every number measured: "... plain 674 (grows ...), residual 4.83 (...)".

    `when` replaces "at initialisation" / "at step t" ("" drops it, as the replay's frame title says the step)."""
    when = ("at initialisation" if step == 0 else f"at step {step}") if when is None else when
    init = log.config.init if log.config else "he"
    parts = [f"{v} {ratio_phrase(log.main_grad_norms(v, step), init)}" for v in VARIANTS if v in log.meta]
    return f"First / last layer gradient ratio{' ' + when if when else ''}: " + ", ".join(parts) + "."


def training_reading(log: RunLog) -> str:
    """The trained pair in one line, from each net's last full evaluation (a diverged net's ends early)."""
    evals = log.eval_frame()
    if evals.empty:
        return ""
    end = int(evals["step"].max())
    parts = []
    for variant in VARIANTS:
        rows = evals[evals["variant"] == variant]
        if rows.empty:
            continue
        last = rows.iloc[-1]
        when = "" if int(last["step"]) == end else f" at step {int(last['step'])}"
        parts.append(f"{variant} {last['train_error']:.1%} (test {last['test_error']:.1%}){when}")
    return f"Error after {end} steps, training set: " + ", ".join(parts) + "."


def distance_from_flat(ratio: float) -> float:
    """How far a ratio is from 1 in decades (0 = flat); infinite for 0, inf or NaN."""
    return abs(math.log10(ratio)) if math.isfinite(ratio) and ratio > 0 else math.inf


def flow_story(log: RunLog) -> list[str]:
    """The "what am I looking at" paragraphs for step 0, each claim checked against this run's numbers."""
    config, blocks = log.config, log.block_frame()
    plain, residual = log.ratio("plain"), log.ratio("residual")
    phrase = {v: ratio_phrase(log.main_grad_norms(v), config.init) for v in VARIANTS}
    lines = [
        "Both nets have the same layers and start from the same weights; the residual net adds a shortcut around "
        f"every two layers, {UNIT_FORMULAS[config.block]}. Each point is one layer's gradient on the first minibatch, "
        "before any training. The gradient starts at the loss (right) and travels back toward the input (left)."
    ]
    if config.norm == "batch":
        if plain >= 2 and math.isfinite(plain):
            lines.append(
                f"**With BatchNorm, as here, the plain net's gradients grow toward the input instead of vanishing**: "
                f"first / last ratio {phrase['plain']}. The popular story says they vanish; the measurement says "
                "otherwise (Yang et al. 2019 predict about x1.2 per layer). He et al. (2015) found deep plain nets "
                "still train worse: an optimisation difficulty, not vanishing gradients. Press Train to see it."
            )
        else:
            lines.append(f"With BatchNorm at this setting the plain net's first / last ratio is {phrase['plain']}.")
    else:
        backward = block_ratio(blocks, "plain", "act_grad_norm")
        lines.append(
            f"**Without normalisation** the backward signal through the plain stack, ‖∂L/∂a‖ (right chart), goes "
            f"from the last block to the first by a factor {block_phrase(backward)}, while the weight gradients' "
            f"first / last ratio is {phrase['plain']}. ‖∂L/∂W‖ is the backward signal times the layer's input, so the "
            "two charts can disagree: read both."
        )
        if config.arch == "cnn":
            lines.append(padding_geometry(config))
    saturating = config.activation in SATURATING and residual < 1
    if not saturating:
        on_the_path = ""
    elif config.block == "post":
        on_the_path = (
            f"In this block the last activation g sits on the shortcut path too ({UNIT_FORMULAS['post']}), so the gradient "
            f"still passes through g' at every block, and {config.activation}'s slope shrinks it there as in the plain net."
        )
    else:
        on_the_path = (
            f"In this pre-activation unit ({UNIT_FORMULAS['pre']}) g sits only inside the branch F, so {config.activation}'s "
            "slope is not applied along the identity shortcuts; what the branches add back at every block moves this ratio."
        )
    if distance_from_flat(residual) < min(FLAT_DECADES, distance_from_flat(plain)):
        residual_text = "closer to flat than the plain net's: the identity path carries gradient past the blocks."
    elif distance_from_flat(residual) < distance_from_flat(plain):
        residual_text = f"less extreme than the plain net's, but more than {10**FLAT_DECADES:g}x from flat. {on_the_path}"
    else:
        residual_text = f"no flatter than the plain net's here. {on_the_path}"
    residual_text = residual_text.rstrip()
    lines.append(f"The residual net: first / last ratio {phrase['residual']}, {residual_text}")
    return lines


def signal_reading(log: RunLog, step: int) -> list[str]:
    """The forward signal in numbers: last block / first block mean square of the output, per net, and what that means."""
    blocks = log.block_frame()
    growth = {v: 1 / r for v in VARIANTS if math.isfinite(r := block_ratio(blocks, v, "out_ms", step)) and r > 0}
    if set(growth) != set(VARIANTS):
        return []
    when = "at initialisation" if step == 0 else f"at step {step}"
    line = (
        f"Mean square of the block output, last block / first block {when}: plain x{growth['plain']:.3g}, "
        f"residual x{growth['residual']:.3g}."
    )
    if growth["residual"] > 2 * growth["plain"]:
        line += " The residual stream grows with depth: every block adds its branch's output to its input."
    elif growth["plain"] < 0.5:
        line += " The plain net's signal shrinks toward the output."
    return [line]


def input_phrase(config: ExperimentConfig) -> str:
    """ " (16x16 inputs, zero padding)" for an image set, "" for the 2-D sets: what the convs see, in the page's words."""
    if config.dataset in SYNTHETIC_DATASETS:
        return ""
    side = image_shape(config)[-1]
    padding = f", {PADDING_WORDS[config.padding]}" if config.arch == "cnn" else ""
    return f" ({side}x{side} inputs{padding})"


def stage_sides(config: ExperimentConfig) -> list[int]:
    """The map side of each of the CNN's three stages: the input side, then halved (rounded up) by each stride-2 stage."""
    sides = [image_shape(config)[-1]]
    for _ in range(2):
        sides.append((sides[-1] + 1) // 2)
    return sides


def padded_share(side: int) -> float:
    """Share of a 3x3 kernel's taps (padding 1) that fall outside a side x side map, over all its positions."""
    return 1 - ((3 * side - 2) / (3 * side)) ** 2


def padding_geometry(config: ExperimentConfig) -> str:
    """What the chosen padding and input size do to the last stage's maps, computed from the config."""
    sides = stage_sides(config)
    maps = f"{sides[0]}x{sides[0]} inputs give stage maps of " + ", ".join(f"{s}x{s}" for s in sides)
    if config.padding == "circular":
        return f"Here {maps}; with circular padding every kernel tap reads the map itself (it wraps around), none reads zeros."
    return (
        f"Here {maps}; with zero padding {padded_share(sides[-1]):.0%} of the 3x3 kernel taps on the last stage's maps "
        f"read zeros ({padded_share(sides[0]):.0%} on the first stage's). Whether that padding or the depth sets the "
        "ratio above is measured in the comparison below."
    )


class Counterpart(NamedTuple):
    """One run the no-BN comparison measures: `kind` is what it changes ("padding" or "size"), `label` how it is said."""

    kind: str
    label: str
    config: ExperimentConfig


def padding_counterparts(config: ExperimentConfig) -> list[Counterpart]:
    """The same net with the other padding, and at the other input size: what the no-BN comparison measures.

    The other size is the grid's largest, or its smallest when already that large; the config reads a side equal to
    the dataset's own as its native size, so the digits' 8x8 counterpart is the default net, not a second cache key."""
    other = "circular" if config.padding == "zeros" else "zeros"
    side = LARGE_SIDE if image_shape(config)[-1] < LARGE_SIDE else IMAGE_SIZE_STEPS[0]
    return [
        Counterpart("padding", PADDING_WORDS[other], config.replace(padding=other)),
        Counterpart("size", f"{side}x{side} inputs", config.replace(image_size=side)),
    ]


def padding_story(log: RunLog, others: list[tuple[Counterpart, RunLog]]) -> list[str]:
    """The plain net's ||dL/da|| first / last here against each counterpart on the same seed, and what the difference says.

    A counterpart "explains most" of the fall (or growth) only when it removes more than half of this run's decades from flat."""
    here = block_ratio(log.block_frame(), "plain", "act_grad_norm")
    lines = [
        f"Plain net, ‖∂L/∂a‖ first / last block, seed {log.config.seed}: here{input_phrase(log.config)} {block_phrase(here)}."
    ]
    side = image_shape(log.config)[-1]
    for counterpart, other_log in others:
        other = block_ratio(other_log.block_frame(), "plain", "act_grad_norm")
        if counterpart.kind == "padding":  # what the counterpart changes, as it is here
            setting = PADDING_WORDS[log.config.padding]
        else:
            small_maps = " (the zero padding of their small maps)" if log.config.padding == "zeros" and side < LARGE_SIDE else ""
            setting = f"{side}x{side} inputs{small_maps}"
        closer = distance_from_flat(here) - distance_from_flat(other)
        if not (math.isfinite(here) and math.isfinite(other) and here > 0 and other > 0):
            verdict = "one of the two is not measurable, so no comparison"
        elif closer > FLAT_DECADES:
            change, total = ("fall" if here < 1 else "growth"), distance_from_flat(here)
            share = "most of it comes from" if closer > total / 2 else "part of it, not most, comes from"
            verdict = (
                f"{10**closer:.3g}x closer to flat than here: it removes {closer:.1f} of the {total:.1f} decades of the "
                f"{change} here, so on this seed {share} the {setting}"
            )
        elif closer < -FLAT_DECADES:
            change = "fall" if other < 1 else "growth"
            verdict = f"{10**-closer:.3g}x further from flat than here: {counterpart.label} adds a {change} of its own"
        else:
            verdict = f"within {10**FLAT_DECADES:g}x of here: on this seed, what sets this ratio is not the {setting}"
        lines.append(f"With {counterpart.label}: {block_phrase(other)}, {verdict}.")
    return lines
