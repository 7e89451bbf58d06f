"""resnet_core: the lab's engine. PyTorch, numpy and pandas; never Streamlit or Plotly (lab/ draws, serving/ serves).

The web server imports the engine's torch-free modules (config, names, results, data's metadata) to
label, price and read what its worker processes compute; it must never load torch itself. So the
package's shortcuts to the torch-using functions below are resolved on first use, not on import.
"""

import importlib
import os
from typing import Any

# Before torch loads OpenMP: idle worker threads sleep instead of spinning. On a busy machine (a class
# on one host, a laptop also running the browser) spinning threads made a training step many times slower
# (benchmarks/RESULTS.md, "Changes": OMP_WAIT_POLICY). Only effective if torch was not imported first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from resnet_core.config import ExperimentConfig

_LAZY = {
    "load_dataset": "resnet_core.data",
    "build_model": "resnet_core.models",
    "build_pair": "resnet_core.models",
    "gradient_norms": "resnet_core.probes",
    "measure_init": "resnet_core.training",
    "train": "resnet_core.training",
}

__all__ = ["ExperimentConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    """`from resnet_core import train` loads torch then, and only the code that asks for it pays."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'resnet_core' has no attribute {name!r}")
