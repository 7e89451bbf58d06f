"""Streamlit-only helpers shared by every page (resnet_core never imports this package).

- `ui.controls.experiment_controls(defaults, page)`: URL-bound sidebar widgets from config.FIELDS,
  with warnings for bad URL values -> a validated ExperimentConfig.
- `ui.runner.live_training(config, draw)`: Train / Stop, live progress and charts, shared result cache.
- `ui.exports`: share link box, CSV / JSON downloads, named PNG export (`show_figure`), device line.
"""
