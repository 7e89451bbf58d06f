"""resnet_core: the lab's engine. PyTorch, numpy and pandas; never Streamlit or Plotly (lab/ draws, serving/ serves)."""

import os

# Before torch loads OpenMP: idle worker threads sleep instead of spinning. On a busy machine (a class
# on one host, a laptop also running the browser) spinning threads made a training step many times slower
# (benchmarks/RESULTS.md, "Changes": OMP_WAIT_POLICY). Only effective if torch was not imported first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.models import build_model, build_pair
from resnet_core.probes import gradient_norms
from resnet_core.training import measure_init, train

__all__ = ["ExperimentConfig", "build_model", "build_pair", "gradient_norms", "load_dataset", "measure_init", "train"]
