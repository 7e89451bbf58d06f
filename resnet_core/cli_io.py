"""What every CLI subcommand does with its result: check the output paths first, then write strict JSON."""

from __future__ import annotations

import json
import os
from typing import Any

from resnet_core.results import json_safe


def check_writable(option: str, path: str) -> None:
    """Raise ValueError naming `option` when `path` cannot be written, so a long run never ends in a traceback.

    Opening for append is the check the OS itself makes (missing folder, a folder, a name too long,
    no permission); it leaves an existing file as it was and removes a file it had to create.
    """
    existed = os.path.lexists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot write there ({error.strerror or error})") from None
    if not existed:
        os.unlink(path)


def write_json(document: Any, out: str | None) -> None:
    """The result as strict JSON (NaN -> null) to `out`, or to stdout."""
    text = json.dumps(json_safe(document), indent=1)
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        print(text)
