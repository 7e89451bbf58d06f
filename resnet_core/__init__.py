"""resnet_core: the lab's engine. Pure PyTorch, numpy, pandas and plotly; never streamlit."""

from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.models import build_model, build_pair
from resnet_core.probes import gradient_norms
from resnet_core.train import measure_init, train

__all__ = ["ExperimentConfig", "build_model", "build_pair", "gradient_norms", "load_dataset", "measure_init", "train"]
