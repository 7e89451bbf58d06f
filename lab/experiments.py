"""The science pages' experiments, as generators of tagged records over the engine (never streamlit).

Each experiment is a set of *runs* trained on identical data, minibatches and budget. Every
record carries ``run`` (a name such as ``plain-56``) and ``tags`` (the fields the run differs
by: depth, variant, l2, option, alpha), so one `ExperimentLog` turns any experiment into
long DataFrames for charts and exports, and a page can draw while records stream in.

- Degradation (He et al. 2015, Figs. 1 and 6): `degradation_records` trains the plain/residual
  pair at several depths with `train()`; `estimate_seconds` times a short probe on this machine.
- Identity and L2: `l2_sweep_records` trains the pair at several L2 strengths;
  `scale_branches` multiplies every block's last layer by alpha, `identity_check` measures
  what the blocks then compute, and `train_models` trains the scaled nets from there.
- Shortcuts A/B/C: `transition_table`, `parameter_counts`, `shortcut_models`, `transition_layers`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.config import SHORTCUTS, ExperimentConfig
from resnet_core.data import dataset_info, load_dataset
from resnet_core.models import VARIANTS, Block, ProjectionShortcut, Stack, ZeroPadShortcut, build_model, last_branch_layer
from resnet_core.probes import weight_layers
from resnet_core.results import gradient_ratio
from resnet_core.training import augmenter, error_rate, layer_meta, lr_schedule, make_optimizer, minibatch_indices, train

DEGRADATION_DEPTHS = (8, 20, 32, 44, 56, 110)
L2_SWEEP = (0.0, 1e-4, 1e-3, 1e-2, 3e-2, 0.1)
SHORTCUT_RUNS = ("plain", *SHORTCUTS)  # the plain net and the residual net with each option
TAG_COLUMNS = ("depth", "variant", "l2", "option", "alpha")


def tagged(records: Iterable[dict[str, Any]], **tags: Any) -> Iterator[dict[str, Any]]:
    """`train()` records with `run` (variant-tag) and `tags`, so runs of several configs share one log."""
    for record in records:
        variant = record["variant"]
        suffix = "-".join(str(v) for v in tags.values())
        yield {**record, "run": f"{variant}-{suffix}" if suffix else variant, "tags": {"variant": variant, **tags}}


class ExperimentLog:
    """The records of several runs, in arrival order -> long DataFrames with one column per tag."""

    def __init__(self) -> None:
        self.meta: dict[str, dict[str, Any]] = {}
        self.steps: list[dict[str, Any]] = []
        self.evals: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "meta":
            self.meta[record["run"]] = record
        elif kind == "step":
            self.steps.append(record)
        elif kind == "eval":
            self.evals.append(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> ExperimentLog:
        for record in records:
            self.add(record)
        return self

    @staticmethod
    def _tags(record: dict[str, Any]) -> dict[str, Any]:
        return {"run": record["run"], **record["tags"]}

    def eval_frame(self) -> pd.DataFrame:
        """run, tags..., step, train_error, test_error at each full evaluation."""
        rows = [
            {**self._tags(r), "step": r["step"], "train_error": r["train_error"], "test_error": r["test_error"]}
            for r in self.evals
        ]
        return pd.DataFrame(rows, columns=["run", *self._tag_names(), "step", "train_error", "test_error"])

    def curve_frame(self) -> pd.DataFrame:
        """run, tags..., step, loss, batch_error at every training step."""
        rows = [{**self._tags(r), "step": r["step"], "loss": r["loss"], "batch_error": r["batch_error"]} for r in self.steps]
        return pd.DataFrame(rows, columns=["run", *self._tag_names(), "step", "loss", "batch_error"])

    def final_frame(self) -> pd.DataFrame:
        """The last evaluation of every run (a stopped run's latest numbers)."""
        frame = self.eval_frame()
        return frame.sort_values("step").groupby("run", sort=False).tail(1).reset_index(drop=True)

    def layer_frame(self) -> pd.DataFrame:
        """run, tags..., step, layer (1 = input side), name, kind, metric, value at every measured step."""
        rows = []
        for r in self.steps:
            layers = self.meta[r["run"]]["layers"]
            for metric in ("grad_norm", "weight_norm"):
                for layer, value in zip(layers, r.get(metric, []), strict=False):
                    rows.append(
                        {
                            **self._tags(r),
                            "step": r["step"],
                            "layer": layer["index"],
                            "name": layer["name"],
                            "kind": layer["kind"],
                            "metric": metric,
                            "value": value,
                        }
                    )
        return pd.DataFrame(rows, columns=["run", *self._tag_names(), "step", "layer", "name", "kind", "metric", "value"])

    def block_frame(self) -> pd.DataFrame:
        """run, tags..., step, block (1 = input side), metric, value for the per-block statistics."""
        rows = []
        for r in self.steps:
            for metric in ("act_grad_norm", "act_std", "branch_ratio"):
                rows.extend(
                    {**self._tags(r), "step": r["step"], "block": i + 1, "metric": metric, "value": value}
                    for i, value in enumerate(r.get(metric, []))
                )
        return pd.DataFrame(rows, columns=["run", *self._tag_names(), "step", "block", "metric", "value"])

    def last_measured(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of each run's last measured step: the state after training."""
        last = frame.groupby("run")["step"].transform("max")
        return frame[frame["step"] == last].reset_index(drop=True)

    def _tag_names(self) -> list[str]:
        names = {k for r in self.meta.values() for k in r["tags"]}
        return [t for t in TAG_COLUMNS if t in names]


# ---- Degradation -------------------------------------------------------------------------------------------


def degradation_records(config: ExperimentConfig, depths: Iterable[int]) -> Iterator[dict[str, Any]]:
    """The plain/residual pair at each depth, one depth after the other, identical data and budget."""
    for depth in depths:
        yield from tagged(train(config.replace(depth=depth)), depth=depth)


def init_ratios(log: ExperimentLog) -> pd.DataFrame:
    """depth, variant, ratio: `results.gradient_ratio` at initialisation (step 0)."""
    layers = log.layer_frame()
    grads = layers[(layers["step"] == 0) & (layers["metric"] == "grad_norm") & (layers["kind"] == "main")]
    rows = []
    for (depth, variant), frame in grads.groupby(["depth", "variant"], sort=True):
        rows.append({"depth": depth, "variant": variant, "ratio": gradient_ratio(frame.sort_values("layer")["value"].tolist())})
    return pd.DataFrame(rows, columns=["depth", "variant", "ratio"])


@dataclass(frozen=True)
class Verdict:
    """What the final training errors say about degradation, in numbers."""

    shallow: int
    deep: int
    plain_gap: float  # deep minus shallow final training error, plain nets
    residual_gap: float

    @property
    def plain_degrades(self) -> bool:
        return self.plain_gap > 0.05

    @property
    def residual_fixes(self) -> bool:
        return self.residual_gap < self.plain_gap / 2


def degradation_verdict(final: pd.DataFrame) -> Verdict | None:
    """Compare the shallowest and deepest depth finished by both variants; None until two depths are done."""
    errors = final.pivot_table(index="depth", columns="variant", values="train_error").dropna()
    if len(errors) < 2 or set(VARIANTS) - set(errors.columns):
        return None
    shallow, deep = int(errors.index.min()), int(errors.index.max())
    gap = {v: float(errors.loc[deep, v] - errors.loc[shallow, v]) for v in VARIANTS}
    return Verdict(shallow, deep, gap["plain"], gap["residual"])


PROBE_STEPS = 5
Runner = Callable[[ExperimentConfig], Iterator[dict[str, Any]]]


def estimate_seconds(config: ExperimentConfig, depths: Iterable[int], runner: Runner = train) -> float:
    """Seconds `runner(config)` (default: train() of the pair) will take here at each depth, from a short timed probe.

    Measured rather than assumed, because the machine and the engine decide. The probe times
    setup, a plain step (the fastest of two, so one scheduling hiccup isn't multiplied by the
    budget), the extra cost of a measured step and one evaluation, then scales each by how
    often the real run does it.
    """
    total = 0.0
    for depth in depths:
        probe = config.replace(depth=depth, steps=PROBE_STEPS, measure_every=PROBE_STEPS, eval_every=PROBE_STEPS)
        began = time.perf_counter()
        setup, step_times, eval_time = 0.0, {}, 0.0
        for record in runner(probe):
            now = time.perf_counter() - began
            if record["kind"] == "eval" and record["step"] == 0 and not setup:
                setup = now
            elif record["kind"] == "step":
                step_times[record["step"]] = now  # every net's record of a step: keep the last
            elif record["kind"] == "eval" and record["step"] == PROBE_STEPS:
                eval_time = now - step_times[PROBE_STEPS - 1]  # likewise, until the last net is evaluated
        durations = [step_times[k] - step_times[k - 1] for k in range(1, PROBE_STEPS)]
        plain_step = min(durations[1:-1])  # steps 2 and 3: warmed up and not measured
        measured_extra = max(durations[-1] - plain_step, 0.0)  # the last step is measured
        measured = math.ceil(config.steps / config.measure_every) + 1  # the cadence plus the last step
        evaluations = math.ceil(config.steps / config.eval_every)  # the one at step 0 is inside `setup`
        total += setup + plain_step * config.steps + measured_extra * measured + eval_time * evaluations
    return total


# ---- Identity and L2 ---------------------------------------------------------------------------------------


def l2_sweep_records(config: ExperimentConfig, strengths: Iterable[float]) -> Iterator[dict[str, Any]]:
    """The plain/residual pair trained at each L2 strength, same data, init and batches."""
    for l2 in strengths:
        yield from tagged(train(config.replace(l2=float(l2))), l2=float(l2))


@torch.no_grad()
def scale_branches(model: Stack, alpha: float) -> None:
    """Multiply every block's last layer by alpha: at alpha = 0 each branch outputs exactly 0 (the L2 limit)."""
    for block in model.block_list():
        for param in last_branch_layer(block):
            param.mul_(alpha)


def is_identity_block(block: Block) -> bool:
    return type(block.shortcut).__name__ == "IdentityShortcut"


def block_io(model: Stack, x: Tensor) -> dict[int, tuple[Tensor, Tensor]]:
    """Each block's (input, output) from one training-mode forward pass; key -1 holds (x, logits)."""
    seen: dict[int, tuple[Tensor, Tensor]] = {}

    def keep(i: int) -> Any:
        return lambda module, args, out: seen.__setitem__(i, (args[0], out))

    hooks = [b.register_forward_hook(keep(i)) for i, b in enumerate(model.block_list())]
    try:
        seen[-1] = (x, model.train()(x))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@torch.no_grad()
def identity_check(models: dict[str, Stack], x: Tensor) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per block: max |a[l+2] - a[l]| and max |a[l+2] - shortcut(a[l])|; per net: the output's std across the batch.

    Read with forward hooks on the real blocks in training mode (batch statistics), so this is
    what the nets compute, not what the algebra promises. Transition blocks change the shape,
    so a[l+2] - a[l] does not exist there (NaN); their shortcut difference is still measured.
    """
    rows: list[dict[str, Any]] = []
    spread: dict[str, float] = {}
    for name, model in models.items():
        blocks = model.block_list()
        seen = block_io(model, x)
        logits = seen.pop(-1)[1]
        spread[name] = float(logits.std(dim=0).max())
        for i, block in enumerate(blocks):
            a_in, a_out = seen[i]
            same = a_in.shape == a_out.shape
            skip = block.shortcut(a_in) if block.shortcut is not None else None
            rows.append(
                {
                    "run": name,
                    "block": i + 1,
                    "stage": block.stage + 1,
                    "identity_block": is_identity_block(block),
                    "in_shape": "x".join(map(str, a_in.shape[1:])),
                    "out_shape": "x".join(map(str, a_out.shape[1:])),
                    "max_diff_input": float((a_out - a_in).abs().max()) if same else math.nan,
                    "max_diff_shortcut": float((a_out - skip).abs().max()) if skip is not None else math.nan,
                    "output_std": float(a_out.std()),
                }
            )
    return pd.DataFrame(rows), spread


def train_models(
    models: dict[str, Stack], config: ExperimentConfig, tags: dict[str, dict[str, Any]], measure_every: int | None = None
) -> Iterator[dict[str, Any]]:
    """Train any named set of nets on the same minibatches (train() only builds a plain/residual pair from a config).

    Records match `train()`'s (meta, step with loss / batch_error and, at the measuring cadence,
    grad_norm / weight_norm per layer, eval, done), with `run` and `tags`.
    """
    x_train, y_train, x_test, y_test = load_dataset(config)
    optimizers = {name: make_optimizer(config, m) for name, m in models.items()}
    schedules = [s for s in (lr_schedule(config, o) for o in optimizers.values()) if s is not None]
    augment = augmenter(config)
    params = {name: [p for _, p in weight_layers(m)] for name, m in models.items()}
    every = measure_every or config.measure_every
    for name, model in models.items():
        yield {
            "kind": "meta",
            "run": name,
            "tags": tags[name],
            "layers": layer_meta(model),
            "n_params": sum(p.numel() for p in model.parameters()),
        }

    def evaluate(step: int) -> Iterator[dict[str, Any]]:
        for name, model in models.items():
            yield {
                "kind": "eval",
                "run": name,
                "tags": tags[name],
                "step": step,
                "train_error": float(error_rate(model, x_train, y_train)),
                "test_error": float(error_rate(model, x_test, y_test)),
            }

    yield from evaluate(0)
    batches = minibatch_indices(config, len(x_train))
    for step in range(config.steps):
        index = next(batches)
        xb, yb = augment(x_train[index]), y_train[index]
        for name, model in models.items():
            model.train()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            record = {
                "kind": "step",
                "run": name,
                "tags": tags[name],
                "step": step,
                "loss": loss.item(),
                "batch_error": float((logits.argmax(1) != yb).float().mean()),
            }
            if step % every == 0 or step == config.steps - 1:  # one host transfer for all norms of this net
                norms = torch.stack(
                    [torch.stack([p.grad.norm() for p in params[name]]), torch.stack([p.detach().norm() for p in params[name]])]
                ).tolist()
                record["grad_norm"], record["weight_norm"] = norms
            optimizers[name].step()
            yield record
        for schedule in schedules:
            schedule.step()
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            yield from evaluate(step + 1)
    for name in models:
        yield {"kind": "done", "run": name, "tags": tags[name]}


def alpha_models(config: ExperimentConfig, alpha: float) -> dict[str, Stack]:
    """The initial plain/residual pair of `config` with every block's last layer scaled by alpha."""
    info = dataset_info(config)
    models = {v: build_model(config, v, info.in_shape, info.n_classes) for v in VARIANTS}
    for model in models.values():
        scale_branches(model, alpha)
    return models


def first_batch(config: ExperimentConfig) -> Tensor:
    """The first training minibatch `train()` would use: the inputs the identity check feeds the nets."""
    x_train = load_dataset(config)[0]
    return x_train[next(minibatch_indices(config, len(x_train)))]


# ---- Shortcuts A / B / C -----------------------------------------------------------------------------------


def shortcut_models(config: ExperimentConfig) -> dict[str, Stack]:
    """The plain net and the residual net with options A, B and C; shared layers start identical (seeded by name)."""
    info = dataset_info(config)
    models = {"plain": build_model(config, "plain", info.in_shape, info.n_classes)}
    for option in SHORTCUTS:
        models[option] = build_model(config.replace(shortcut=option), "residual", info.in_shape, info.n_classes)
    return models


def shortcut_tags() -> dict[str, dict[str, Any]]:
    return {name: {"variant": "plain" if name == "plain" else "residual", "option": name} for name in SHORTCUT_RUNS}


def shortcut_records(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """Plain, A, B and C trained on the same batches from the same shared init."""
    return train_models(shortcut_models(config), config, shortcut_tags())


def alpha_records(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    """The plain/residual pair trained from weights whose every block's last layer was scaled by alpha."""
    tags = {v: {"variant": v, "alpha": alpha} for v in VARIANTS}
    return train_models(alpha_models(config, alpha), config, tags)


def describe_shortcut(module: nn.Module | None) -> str:
    """What a block's shortcut does, in the paper's words, read from the module itself."""
    if module is None:
        return "none (plain)"
    if isinstance(module, ZeroPadShortcut):
        return f"subsample by {module.stride}, zero-pad channels {module.in_channels}->{module.out_channels} (0 params)"
    if isinstance(module, ProjectionShortcut):
        n = sum(p.numel() for p in module.parameters())
        return (
            f"1x1 projection W_s {module.projection.in_channels}->{module.projection.out_channels}, stride "
            f"{module.projection.stride[0]} ({n} params)"
        )
    return "identity (0 params)"


@torch.no_grad()
def transition_table(config: ExperimentConfig) -> pd.DataFrame:
    """Every block: stage, C x H x W in and out (measured by a forward pass) and what options A, B, C put on its shortcut."""
    info = dataset_info(config)
    models = shortcut_models(config)
    blocks = models["A"].block_list()
    seen = block_io(models["A"], torch.zeros(2, *info.in_shape))
    shapes = {i: ("x".join(map(str, a_in.shape[1:])), "x".join(map(str, a_out.shape[1:]))) for i, (a_in, a_out) in seen.items()}
    rows = []
    for i, block in enumerate(blocks):
        row = {
            "block": i + 1,
            "stage": block.stage + 1,
            "in": shapes[i][0],
            "out": shapes[i][1],
            "transition": shapes[i][0] != shapes[i][1],
        }
        row |= {option: describe_shortcut(models[option].block_list()[i].shortcut) for option in SHORTCUTS}
        rows.append(row)
    return pd.DataFrame(rows)


def parameter_counts(
    config: ExperimentConfig, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None
) -> dict[str, int]:
    """Parameters of the plain net and of options A, B, C, counted on the built models."""
    out = {"plain": sum(p.numel() for p in build_model(config, "plain", in_shape, n_classes).parameters())}
    for option in SHORTCUTS:
        model = build_model(config.replace(shortcut=option), "residual", in_shape, n_classes)
        out[option] = sum(p.numel() for p in model.parameters())
    return out


def transition_layers(layers: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`layers` with `in_transition`: the weight belongs to a block that changes shape (incl. its W_s)."""
    transition = {int(b) - 1 for b in table.loc[table["transition"], "block"]}
    block_of = layers["name"].str.extract(r"^blocks\.(\d+)\.")[0].astype(float)
    return layers.assign(in_transition=block_of.isin(transition))


def transition_gradient_summary(layers: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """run, mean ||dL/dW|| over training in transition-block layers vs other block layers, and their ratio."""
    grads = transition_layers(layers[layers["metric"] == "grad_norm"], table)
    grads = grads[grads["name"].str.startswith("blocks.")]
    means = grads.groupby(["run", "in_transition"])["value"].mean().unstack()
    frame = pd.DataFrame({"run": means.index, "transition": means.get(True), "other": means.get(False)}).reset_index(drop=True)
    return frame.assign(ratio=frame["transition"] / frame["other"])
