"""How the lab measures error, in words: every page that explains its error numbers says it the same way.

The measurement itself is `resnet_core.evaluation.evaluate`; docs/SCIENCE_NOTES.md section 3 says why.
"""

from __future__ import annotations


def error_method(norm: str) -> str:
    """The one sentence fragment for how a net's training and test error are measured, given its normalisation."""
    if norm == "batch":
        return (
            "on the whole set in eval mode, after BatchNorm's statistics are re-estimated on the training set with the "
            "current weights (the running averages kept during training lag behind a deep net's weights)"
        )
    return "on the whole set with the current weights"
