"""ExperimentConfig: one frozen, hashable description of a plain-vs-residual experiment.

A single declarative table (`FIELDS`) drives validation, the URL round-trip
(`to_params` / `from_params`), the CLI options and the UI's labels, help text and slider
grids, so they can never disagree (the TensorFlow Playground pattern). Every refusal is a
`ConfigError` naming its field, so callers never parse a message to find out which.

Depth means what the paper means by it:
- ``cnn``: weight layers of the He et al. CIFAR layout, ``6n + 2`` (8, 20, 32, 44, 56, 110, 1202).
- ``mlp``: hidden ``width x width`` layers between the input and output layers; even,
  because hidden layers pair up into blocks of two.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

ARCHS = ("mlp", "cnn")
SYNTHETIC_DATASETS = ("spirals", "moons", "circles", "xor", "gaussians")
IMAGE_DATASETS = ("digits", "cifar10")
DATASETS = SYNTHETIC_DATASETS + IMAGE_DATASETS
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"digits": (1, 8, 8), "cifar10": (3, 32, 32)}  # (C, H, W) as shipped
SHORTCUTS = ("A", "B", "C")
# He et al. 2015, Sec. 3.3: what each shortcut option puts on a block's shortcut. The one wording of the
# options: pages, captions and the field's help text read it (`models._shortcut` is the code that implements it).
SHORTCUT_OPTIONS = {
    "A": "identity; zero-padded where the shape changes (no parameters)",
    "B": "learned 1x1 projection W_s where the shape changes, identity elsewhere",
    "C": "learned 1x1 projection W_s on every shortcut",
}
NORMS = ("batch", "none")
PADDINGS = ("zeros", "circular")  # how a 3x3 conv sees beyond the map's border
NATIVE_SIZE = 0  # image_size meaning "the dataset's own size" (digits 8, CIFAR-10 32)
IMAGE_SIZE_STEPS = (8, 16, 32)  # the app's choices: digits as shipped, twice, four times (the CIFAR size)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
INITS = ("he", "xavier", "zero_residual")
BLOCKS = ("post", "pre")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda", "mps")
AUGMENTS = ("none", "pad-crop-flip")
AUGMENT_PAD = 4  # pixels of zero padding before the random crop (He et al. 2015, Sec. 4.2)
LR_DROP_FACTOR = 0.1  # the learning rate is divided by 10 at each drop (He et al. 2015, Sec. 4.2)

# The smallest side on which a 3x3 kernel is still smaller than the image, so the first conv sees local
# structure rather than the whole picture at once; the stride-2 stages would take any side >= 1 (ceil halving).
MIN_IMAGE_SIZE = 4
MAX_CNN_DEPTH = 1202
MAX_MLP_DEPTH = 1000
MIN_CNN_DEPTH = 8  # one block per stage


def nearest_cnn_depth(depth: int) -> int:
    """The CNN depth (6n + 2: a stem, 3 stages of n two-layer blocks, a classifier) closest to `depth`."""
    return min(max(MIN_CNN_DEPTH, 6 * round((depth - 2) / 6) + 2), MAX_CNN_DEPTH)


# The log-scale grids the app's sliders offer; a page's own default is added to its grid.
L2_STEPS = (0.0, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
LR_STEPS = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class Field:
    """One row of the parameter table: type, allowed values, the control's label, a one-line help.

    `steps` is the grid a slider offers (None: free entry); `in_url` False marks a field a link
    may never set (the CIFAR-10 path belongs to the host, not to whoever wrote the link).
    """

    kind: type
    label: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    help: str = ""
    steps: tuple[float, ...] | None = None
    in_url: bool = True


class ConfigError(ValueError):
    """A value, or a combination, the config refuses; `field` names the culprit, `value` is what was given.

    str() reads "field: 'value' problem" as before, so plain `except ValueError` callers still work.
    """

    def __init__(self, field: str, problem: str, value: Any = None, *, has_value: bool = True) -> None:
        self.field, self.problem, self.value, self.has_value = field, problem, value, has_value
        super().__init__(f"{field}: {value!r} {problem}" if has_value else f"{field}: {problem}")


FIELDS: dict[str, Field] = {
    "arch": Field(str, "Architecture", ARCHS, help="mlp: fully connected stack; cnn: He et al. CIFAR layout"),
    "dataset": Field(
        str, "Dataset", DATASETS, help="2-D sets (mlp only), digits (8x8, ships with scikit-learn) or a local cifar10"
    ),
    "depth": Field(
        int,
        "Depth (weight layers)",
        low=2,
        high=MAX_CNN_DEPTH,
        help="cnn: weight layers, 6n+2 (20, 56, 110, 1202); mlp: hidden layers, even, up to 1000",
    ),
    "width": Field(int, "Width", low=1, high=512, help="mlp: hidden units; cnn: filters of the first stage (paper: 16)"),
    "shortcut": Field(
        str,
        "Shortcut of the residual net",
        SHORTCUTS,
        help="; ".join(f"{option}: {text}" for option, text in SHORTCUT_OPTIONS.items()),
    ),
    "block": Field(
        str,
        "Residual unit",
        BLOCKS,
        help="post: g after the addition (He et al. 2015); pre: full pre-activation, BN and g before each weight layer "
        "and nothing after the addition (He et al. 2016, arXiv 1603.05027)",
    ),
    "l2": Field(
        float,
        "L2 strength",
        low=0.0,
        high=1.0,
        steps=L2_STEPS,
        help="L2 strength, applied as coupled weight decay (added to the gradient)",
    ),
    "norm": Field(str, "Normalisation", NORMS, help="batch: BatchNorm after every weight layer; none: no normalisation"),
    "padding": Field(
        str,
        "Conv padding",
        PADDINGS,
        help="CNN only. zeros: the paper's zero padding; circular: the map wraps around, so no kernel sees zeros "
        "(on the 4x4 and 2x2 maps of 8x8 digits, zero padding alone shrinks the signal)",
    ),
    "image_size": Field(
        int,
        "Image size (pixels; 0: the dataset's own)",
        low=NATIVE_SIZE,
        high=64,
        steps=IMAGE_SIZE_STEPS,
        help="image sets only: the side the images are resized to (bilinear, antialiased); 0: the dataset's own "
        "(digits 8, CIFAR-10 32). Larger maps leave the 3x3 convs' zero padding a smaller share of every map",
    ),
    "activation": Field(str, "Activation", ACTIVATIONS, help="the nonlinearity g"),
    "init": Field(
        str, "Initialisation", INITS, help="he / xavier weights; zero_residual also zeroes the last layer of every block"
    ),
    "optimizer": Field(str, "Optimiser", OPTIMIZERS, help="sgd (momentum) or adam"),
    "lr": Field(float, "Learning rate", low=1e-6, high=10.0, steps=LR_STEPS, help="learning rate"),
    "momentum": Field(float, "Momentum", low=0.0, high=0.999, help="SGD momentum"),
    "steps": Field(int, "Training steps", low=0, high=100_000, help="training steps (minibatches)"),
    "batch_size": Field(int, "Batch size", low=1, high=4096, help="minibatch size"),
    "seed": Field(int, "Seed", low=0, high=2**31 - 1, help="seeds weights, data and minibatch order"),
    "measure_every": Field(
        int, "Measure every k steps", low=1, high=100_000, help="record per-layer gradient measurements every k steps"
    ),
    "eval_every": Field(
        int, "Evaluate every k steps", low=1, high=100_000, help="evaluate full train and test error every k steps"
    ),
    "n_samples": Field(int, "Points (2-D sets)", low=20, high=100_000, help="points in a 2-D synthetic set"),
    "noise": Field(float, "Noise (2-D sets)", low=0.0, high=5.0, help="noise of a 2-D synthetic set"),
    "test_fraction": Field(float, "Test fraction", low=0.05, high=0.9, help="share of the data held out for testing"),
    "lr_drops": Field(
        str,
        "Learning-rate drops",
        help="steps after which the learning rate is divided by 10, a comma list (paper: 32000,48000); empty: constant",
    ),
    "augment": Field(
        str,
        "Augmentation",
        AUGMENTS,
        help="cnn only; pad-crop-flip: pad 4 pixels, crop at random to the input size, flip half the images (paper: on)",
    ),
    "device": Field(str, "Device", DEVICES, help="auto picks CUDA, then Apple MPS, then CPU"),
    "data_path": Field(
        str,
        "CIFAR-10 path",
        help="cifar10 only: cifar-10-python.tar.gz or its extracted folder (CLI / host only)",
        in_url=False,
    ),
}

LR_DROPS_ALLOWED = f"allowed: empty, or increasing steps from 1 to {int(FIELDS['steps'].high)} such as 32000,48000"

# Named settings for the CLI (`--preset`); options given beside a preset override it.
PRESETS: dict[str, dict[str, Any]] = {
    # He et al. 2015, Sec. 4.2, CIFAR-10: 16 filters, option A, SGD momentum 0.9, weight decay 1e-4, batch 128,
    # lr 0.1 divided by 10 at 32k and 48k iterations, 64k in all, 4-pixel pad + random crop + flip.
    # Measurements are sparse so a cell's records stay a few MB. The data path is the user's.
    "paper-cifar10": {
        "arch": "cnn",
        "dataset": "cifar10",
        "width": 16,
        "shortcut": "A",
        "norm": "batch",
        "activation": "relu",
        "init": "he",
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "l2": 1e-4,
        "batch_size": 128,
        "steps": 64_000,
        "lr_drops": "32000,48000",
        "augment": "pad-crop-flip",
        "measure_every": 1000,
        "eval_every": 2000,
    },
}


@dataclass(frozen=True)
class ExperimentConfig:
    """Every knob of one paired experiment. Defaults show degradation in seconds on 2 cores (docs/SCIENCE_NOTES.md 2)."""

    arch: str = "cnn"
    dataset: str = "digits"
    depth: int = 20
    width: int = 8
    shortcut: str = "A"
    block: str = "post"  # the paper's original unit; "pre" takes g off the shortcut path (He et al. 2016)
    l2: float = 1e-4
    norm: str = "batch"
    padding: str = "zeros"
    image_size: int = NATIVE_SIZE  # the dataset's own: the lab's digits are 8x8
    activation: str = "relu"
    init: str = "he"
    optimizer: str = "sgd"
    # 0.05, not the paper's 0.1: at 150 steps on digits, lr 0.1 left residual-56 at 41-64% training error on 3 of 10
    # untuned seeds; at 0.05 it ends within 2 points of residual-20 on 10 of 10 (docs/SCIENCE_NOTES.md 4).
    lr: float = 0.05
    momentum: float = 0.9
    steps: int = 150
    batch_size: int = 64
    seed: int = 0
    measure_every: int = 5
    eval_every: int = 25
    n_samples: int = 1000
    noise: float = 0.1
    test_fraction: float = 0.2
    lr_drops: str = ""  # off: the lab's short runs keep one learning rate
    augment: str = "none"  # off: the lab's runs measure the nets on the data as it is
    device: str = "auto"
    data_path: str = ""

    def __post_init__(self) -> None:
        for name, spec in FIELDS.items():
            value = getattr(self, name)
            if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
                value = float(value)
            _check_field(name, value, spec)
        if self.dataset in IMAGE_SHAPES and self.image_size == IMAGE_SHAPES[self.dataset][-1]:
            object.__setattr__(self, "image_size", NATIVE_SIZE)  # the dataset's own side: one net, one cache key, one URL
        lr_drop_steps(self.lr_drops)
        self._check_combination()

    def _check_combination(self) -> None:
        if self.arch == "cnn":
            if self.dataset in SYNTHETIC_DATASETS:
                raise ConfigError("dataset", f"is 2-D; arch 'cnn' needs an image set ({', '.join(IMAGE_DATASETS)})", self.dataset)
            if nearest_cnn_depth(self.depth) != self.depth:
                allowed = f"{MIN_CNN_DEPTH}, {MIN_CNN_DEPTH + 6}, {MIN_CNN_DEPTH + 12}, ... {MAX_CNN_DEPTH}"
                raise ConfigError("depth", f"is not 6n+2 for arch 'cnn'; allowed {allowed}", self.depth)
        elif self.depth % 2 != 0 or self.depth > MAX_MLP_DEPTH:
            raise ConfigError("depth", f"for arch 'mlp' must be even, from 2 to {MAX_MLP_DEPTH}", self.depth)
        if self.image_size != NATIVE_SIZE and self.dataset in SYNTHETIC_DATASETS:
            raise ConfigError("image_size", f"resizes images; dataset {self.dataset!r} is 2-D, allowed: 0", self.image_size)
        if 0 < self.image_size < MIN_IMAGE_SIZE:
            raise ConfigError(
                "image_size",
                f"leaves a 3x3 kernel no smaller than the image; allowed: 0 or {MIN_IMAGE_SIZE} to 64",
                self.image_size,
            )
        if self.augment != "none" and self.arch != "cnn":
            raise ConfigError("augment", "crops and flips images; allowed with arch 'cnn' only, else: none", self.augment)
        if self.dataset == "cifar10" and not self.data_path:
            raise ConfigError(
                "data_path", "empty; dataset 'cifar10' needs the path of cifar-10-python.tar.gz or its folder", has_value=False
            )

    @property
    def blocks(self) -> int:
        """Residual (or plain) blocks in the stack: n per stage for the CNN, depth/2 for the MLP."""
        return 3 * ((self.depth - 2) // 6) if self.arch == "cnn" else self.depth // 2

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_params(self, *, include_defaults: bool = False) -> dict[str, str]:
        """Flat dict of strings (the URL query); defaults omitted unless asked for."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if include_defaults or value != f.default:
                out[f.name] = format_value(value)
        return out

    @classmethod
    def from_params(cls, params: dict[str, str]) -> ExperimentConfig:
        """Parse a flat dict of strings; unknown keys are ignored, bad values raise ConfigError."""
        return cls(**parse_params(params))


def lr_drop_steps(text: str) -> tuple[int, ...]:
    """`lr_drops` as increasing step counts; ConfigError unless it is empty or such a comma list (no spaces: one spelling, one cache key)."""
    if not text:
        return ()
    parts = text.split(",")
    if not all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):  # 6 digits: int() never sees 5,000
        raise ConfigError("lr_drops", f"is not a comma list of step counts; {LR_DROPS_ALLOWED}", text)
    steps = tuple(int(p) for p in parts)
    if steps[0] < 1 or steps[-1] > FIELDS["steps"].high or any(a >= b for a, b in itertools.pairwise(steps)):
        raise ConfigError("lr_drops", f"is not increasing, or out of range; {LR_DROPS_ALLOWED}", text)
    return steps


def format_value(value: Any) -> str:
    """A string that parses back to exactly the same value (repr round-trips floats)."""
    return repr(value) if isinstance(value, float) else str(value)


def parse_value(name: str, raw: str) -> Any:
    """One URL/CLI string as the field's checked value, or ConfigError carrying the field and the raw text.

    Numbers go through float() first ("1e3" is a fine step count); whatever float() makes of the
    text (inf, nan, 400 digits) is judged here, so no caller ever meets an OverflowError.
    """
    spec = FIELDS[name]
    text = str(raw).strip()
    if spec.kind is str:
        _check_field(name, text, spec, shown=raw)
        return text
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(name, f"is not a number; {describe_range(name)}", raw) from None
    if not math.isfinite(number):
        raise ConfigError(name, f"is not finite; {describe_range(name)}", raw)
    if spec.kind is int and not number.is_integer():
        raise ConfigError(name, f"is not a whole number; {describe_range(name)}", raw)
    value = int(number) if spec.kind is int else number
    _check_field(name, value, spec, shown=raw)
    return value


def parse_params(params: dict[str, str]) -> dict[str, Any]:
    """Typed values of the known keys of a flat string dict."""
    return {k: parse_value(k, v) for k, v in params.items() if k in FIELDS}


def describe_range(name: str) -> str:
    """The allowed values of a field, in words: its choices, or its low and high end."""
    spec = FIELDS[name]
    if spec.choices is not None:
        return "allowed: " + ", ".join(spec.choices)
    if spec.low is not None and spec.high is not None:
        if spec.kind is int:
            return f"allowed: {int(spec.low)} to {int(spec.high)}"
        return f"allowed: {spec.low:g} to {spec.high:g}"
    return "any text"


def _check_field(name: str, value: Any, spec: Field, shown: Any = None) -> None:
    """Type, choices and range of one value; the error carries `shown` (the raw text) when there was one."""
    shown = value if shown is None else shown
    if spec.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(name, f"is not an integer; {describe_range(name)}", shown)
    if spec.kind is float and (isinstance(value, bool) or not isinstance(value, float)):
        raise ConfigError(name, f"is not a number; {describe_range(name)}", shown)
    if spec.kind is str and not isinstance(value, str):
        raise ConfigError(name, f"is not text; {describe_range(name)}", shown)
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(name, f"is not recognised; {describe_range(name)}", shown)
    if spec.low is not None and spec.high is not None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(name, f"is not finite; {describe_range(name)}", shown)
        if not spec.low <= value <= spec.high:
            raise ConfigError(name, f"is out of range; {describe_range(name)}", shown)
