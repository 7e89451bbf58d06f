"""A science page's "Stored sweep" section: the cells of its settings over seeds, read from the shared result cache.

A sweep (`python -m resnet_core sweep`, locally or on a Ray cluster) stores each cell under the key
the page itself uses, so the page shows whatever has been computed so far, with its spread over
seeds, names the cells still missing, and gives the command that computes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from lab.sweep_charts import sweep_error_figure
from resnet_core.config import ExperimentConfig
from serving import cache
from serving.sweep import KIND, SEEDS, cell_label, stored_sweep, sweep_command
from ui import shared
from ui.exports import show_figure


def show_command(command: str) -> None:
    """A command line as plain text, to select and copy. Not st.code: that (even inside a closed expander) made every
    visitor download and run Streamlit's 1.56 MB code highlighter before the page's charts showed
    (benchmarks/RESULTS.md); not inline code either, the form URL values are echoed in (the fuzz suite's rule)."""
    st.text(command)


def stored_sweep_section(config: ExperimentConfig, field: str, values: Iterable[Any], name: str) -> None:
    """The page's config at each of `values` of `field` and each of SEEDS: what is stored, its spread, what is missing."""
    cells = [config.replace(**{field: value, "seed": seed}) for value in values for seed in SEEDS]
    # Read and drawn once per server for each set of stored cells (ui.shared), not decoded again by every session.
    present = tuple(cache.holds(KIND, cell) for cell in cells)
    stored = shared.finished(("stored_sweep", tuple(cells), present), lambda: stored_sweep(cells))
    have = len(cells) - len(stored.missing)
    with st.expander(f"Stored sweep: {have} of {len(cells)} cells ({len(SEEDS)} seeds per {field})"):
        if have:
            show_figure(
                lambda: sweep_error_figure(stored.summary, field), f"{name}_sweep", f"{name}_sweep", source=stored, what=field
            )
        if stored.missing:
            st.markdown(
                f"Missing {len(stored.missing)} cells: " + ", ".join(cell_label(c, stored.fields) for c in stored.missing) + "."
            )
            st.caption("Compute them (cells already stored are skipped; add --ray to run on a Ray cluster):")
            show_command(sweep_command(cells))
        else:
            st.caption("Every cell is stored.")
