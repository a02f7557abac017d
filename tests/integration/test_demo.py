"""`ewarn demo` runs the real pipeline on the embedded default and reports what its receiver verified."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

from rich.console import Console

from ewarn.demo import run_demo
from ewarn.demo.run import demo_bundle


async def test_demo_delivers_every_alert_of_the_shipped_bundle(tmp_path: Path) -> None:
    out = StringIO()
    ok = await run_demo(console=Console(file=out, width=200), bundle=None, workdir=tmp_path)
    text = out.getvalue()
    assert ok, text
    # The shipped bundle has indicators inside the demo hospital's ranges and domain, and one broken pattern.
    assert "203.0.113.7 is inside your range 203.0.113.0/24 'PACS DMZ'" in text
    assert "'Patient portal'" in text
    assert "'Clinical VLAN v6'" in text
    assert "invalid STIX pattern" in text
    assert re.search(r"signature failures\s*│\s*0\s", text)
    assert re.search(r"alerts\s*│\s*3\s", text)


async def test_demo_takes_any_bundle_and_fails_when_nothing_matches(tmp_path: Path) -> None:
    bundle = json.loads(demo_bundle())
    bundle["objects"] = [o for o in bundle["objects"] if o["type"] != "indicator"]
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(bundle))
    out = StringIO()
    ok = await run_demo(console=Console(file=out, width=200), bundle=path, workdir=tmp_path / "w")
    assert not ok
    assert "demo incomplete" in out.getvalue()
