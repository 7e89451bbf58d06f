"""The host's settings, read in one place: RESNET_LAB_* from the environment, then from secrets.toml.

Streamlit hosts (Community Cloud, a classroom server) set secrets in `.streamlit/secrets.toml`;
containers set environment variables. Both are read here and nowhere else, with the environment
winning, so every setting behaves the same wherever it is written (docs/DEPLOY.md lists them).
The secrets files are Streamlit's own: `~/.streamlit/secrets.toml`, then the one in the working
directory, the later overriding the earlier, as st.secrets does.

`host_settings()` reads them once per process: every page rerun, cache lookup and job asks, and a
TOML parse on each of those is work the server does for every session. A host who changes a setting
restarts the server (docs/DEPLOY.md); tests that change one call `host_settings.cache_clear()`.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

PREFIX = "RESNET_LAB_"


def secrets_files() -> tuple[Path, ...]:
    return (Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml")


def read_settings(environ: Mapping[str, str] | None = None, files: Sequence[Path] | None = None) -> dict[str, str]:
    """Every RESNET_LAB_* setting as a string; ValueError names a secrets file that is not valid TOML."""
    merged: dict[str, str] = {}
    for path in secrets_files() if files is None else files:
        try:
            table = tomllib.loads(path.read_text())
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not valid TOML ({error})") from None
        merged |= {key: str(value) for key, value in table.items() if key.startswith(PREFIX)}
    environ = os.environ if environ is None else environ
    return merged | {key: value for key, value in environ.items() if key.startswith(PREFIX)}


@functools.cache
def host_settings() -> Mapping[str, str]:
    """This process's RESNET_LAB_* settings, read on first use and kept (read-only, so no caller edits another's)."""
    return MappingProxyType(read_settings())
