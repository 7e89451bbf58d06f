"""The Gradient Flow page's readings: every sentence under its charts, computed from the run's records.

A first / last gradient ratio can be a number, an exact zero (a zero-initialised layer passes
nothing back), an underflow (the gradient fell below float32's range: it vanished) or an
overflow (it grew past 3.4e38); each is said as what it is. The residual net's sentence says
whether its shortcut actually kept the gradient flatter than the plain net's, because with a
saturating activation on the shortcut path (post-activation blocks) it may not.
"""

from __future__ import annotations

import math

import pandas as pd

from resnet_core.results import RunLog
from resnet_core.specs import VARIANTS

SATURATING = ("sigmoid", "tanh")  # activations whose slope is below 1 almost everywhere
FLAT_DECADES = 1.0  # a first / last ratio within 10x of 1 counts as carried across the stack
FLOAT32_TINY = 1e-30  # a nonzero layer norm this small on the way to an exact 0 means float32 underflow


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
    ratio = first / last
    if ratio >= 1:
        return f"{ratio:.3g} ({'grows toward the input' if ratio >= 2 else 'about flat'})"
    return f"1/{1 / ratio:.3g} ({'shrinks toward the input' if ratio <= 0.5 else 'about flat'})"


def block_ratio(blocks: pd.DataFrame, variant: str, metric: str, step: int = 0) -> float:
    """First block / last block of a per-block metric: above 1 it is larger at the input side."""
    part = blocks[(blocks["variant"] == variant) & (blocks["metric"] == metric) & (blocks["step"] == step)].sort_values("block")
    if len(part) < 2 or not part["value"].iloc[-1]:
        return math.nan
    return float(part["value"].iloc[0] / part["value"].iloc[-1])


def block_phrase(ratio: float) -> str:
    """A first / last block ratio (a forward or backward signal): a number and its direction."""
    if not math.isfinite(ratio):
        return "not measurable (the last block's value is 0, or a value overflowed)"
    if ratio == 0:
        return "0 (nothing reaches the input side: it underflowed float32 or is exactly 0)"
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
        "every two layers, a[l+2] = g(z[l+2] + a[l]). Each point is one layer's gradient on the first minibatch, "
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
        if config.arch == "cnn" and math.isfinite(backward) and backward < 0.1:
            lines.append(
                "On these small maps part of that fall is the 3x3 convolutions' zero padding (on a 2x2 map most of "
                "each kernel sees padding): compare the signal-propagation chart with padding = circular."
            )
    saturating = config.activation in SATURATING and residual < 1
    on_the_path = (
        "In this block the last activation g sits on the shortcut path too (a[l+2] = g(z[l+2] + a[l])), so the gradient "
        f"still passes through g' at every block, and {config.activation}'s slope shrinks it there as in the plain net."
        if saturating
        else ""
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
