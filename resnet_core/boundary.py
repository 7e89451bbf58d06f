"""Decision boundaries of a trained plain/residual pair on a 2-D dataset, as a JSON-ready grid.

The app gets the trained models from `train(config, keep_models=...)` and turns them into this
grid once; the grid (not the models) is what gets cached and drawn, so a shared link redraws
the boundary without any model in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from resnet_core.config import SYNTHETIC_DATASETS, ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.models import Stack

RESOLUTION = 80  # grid points per axis: smooth enough on a projector, 6,400 forward rows per net
MARGIN = 0.15  # share of the data range added on every side


def has_boundary(config: ExperimentConfig) -> bool:
    """Only the 2-D synthetic sets have a plane to draw."""
    return config.dataset in SYNTHETIC_DATASETS


@torch.no_grad()
def decision_grid(models: dict[str, Stack], config: ExperimentConfig, resolution: int = RESOLUTION) -> dict[str, Any]:
    """Predicted class of each net on a regular grid over the data, plus the data points themselves.

    Returns {"x": [...], "y": [...], "classes": {variant: rows of ints, or None if the net diverged},
    "points": {"x", "y", "label", "split"}}; inputs are in the standardised coordinates the nets see.
    """
    if not has_boundary(config):
        allowed = ", ".join(SYNTHETIC_DATASETS)
        raise ValueError(f"dataset: {config.dataset!r} is not 2-D; decision boundaries need one of {allowed}")
    x_train, y_train, x_test, y_test = load_dataset(config)
    points = torch.cat([x_train, x_test]).numpy()
    low, high = points.min(axis=0), points.max(axis=0)
    pad = (high - low) * MARGIN
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution, dtype=np.float32)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution, dtype=np.float32)
    grid = torch.from_numpy(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2))
    classes: dict[str, list[list[int]] | None] = {}
    for variant, model in models.items():
        was_training = model.training
        model.eval()  # BatchNorm with its running statistics, as the reported errors are measured
        device = next(model.parameters()).device
        logits = model(grid.to(device)).cpu()
        model.train(was_training)
        finite = bool(torch.isfinite(logits).all())
        classes[variant] = logits.argmax(1).reshape(resolution, resolution).tolist() if finite else None
    return {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "classes": classes,
        "points": {
            "x": points[:, 0].tolist(),
            "y": points[:, 1].tolist(),
            "label": torch.cat([y_train, y_test]).tolist(),
            "split": ["train"] * len(y_train) + ["test"] * len(y_test),
        },
    }
