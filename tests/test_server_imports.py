"""The web server process never loads torch: only the job workers run the engine (serving/jobs.py).

Torch (and scikit-learn) cost the server ~300 MB and seconds of a first visitor's wait, and nothing
the server does needs them: it labels, prices and draws what workers send back. A fresh Python
process imports every module server.py warms up, then opens every page through AppTest on cheap
settings (the init measurements, tables and structures the pages draw come from workers), and
reports which engine libraries it loaded. The pytest process itself has torch loaded (conftest),
hence the child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

ENGINE_LIBRARIES = ("torch", "sklearn")

CHILD = """
import importlib, json, sys
import server
from benchmarks.fuzz import BASE, PAGES, Case, run_case

for name in server.page_imports():
    importlib.import_module(name)
CNN = {"arch": "cnn", "dataset": "digits", "depth": "8", "width": "4"}  # where the shortcuts page has shapes to show
pages = {}
for name, case in [*((page, Case(page, dict(BASE))) for page in PAGES), ("cnn shortcuts", Case("views/shortcuts.py", BASE | CNN))]:
    at = run_case(case)
    if name == "cnn shortcuts":
        at.toggle(key="code").set_value(True).run()  # the engine's code, drawn when the visitor asks for it
    pages[name] = {
        "exceptions": [str(e.value)[:300] for e in at.exception],
        "charts": len(at.get("plotly_chart")),
        "tables": len(at.dataframe),
        "code": [c.value.splitlines()[0] for c in at.code],
    }
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"torch", "sklearn"})
print(json.dumps({"pages": pages, "loaded": loaded}))
"""


def test_serving_every_page_never_imports_torch(tmp_path: Path) -> None:
    env = os.environ | {"RESNET_LAB_CACHE_DIR": str(tmp_path / "cache")}
    for name in ("HOSTED", "MAX_COMPUTE", "MAX_SWEEP", "MAX_CONCURRENT", "CIFAR10_PATH"):
        env.pop(f"RESNET_LAB_{name}", None)
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    failed = {page: seen["exceptions"] for page, seen in report["pages"].items() if seen["exceptions"]}
    assert not failed, failed
    # The pages really drew what workers computed (the init gradients, the shortcut structure) and the engine's code.
    assert report["pages"]["app.py"]["charts"] >= 2
    shortcuts = report["pages"]["cnn shortcuts"]
    assert shortcuts["tables"] >= 2 and shortcuts["charts"] >= 1
    assert "class Block(nn.Module):" in shortcuts["code"] and "def _shortcut(" in " ".join(shortcuts["code"])
    assert report["loaded"] == [], f"the server process loaded {report['loaded']}"
