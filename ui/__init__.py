"""Streamlit-only helpers shared by every page (resnet_core never imports this package).

- `ui.controls.experiment_controls(defaults, page)`: URL-bound sidebar widgets from config.FIELDS,
  bad URL values dropped before any widget (`ui.url.check_url`) with a warning each -> a validated ExperimentConfig.
- `ui.echo.echo(value)`: a visitor's text as short inline code, the only way a message shows it.
- `ui.runner.live_runs(runs, new_log, draw)`: Run / Stop, live progress and charts, shared result cache.
- `ui.exports`: share link box, CSV / JSON downloads, named PNG export (`show_figure`), device line.
"""
