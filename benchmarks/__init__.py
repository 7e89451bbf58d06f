"""The lab's benchmarks (`python benchmarks/run.py`); ROOT is the repository they measure, for them all."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
