"""Ingest benchmark: our parsers on real public feeds (``/work/shared/data``, read in place), on one core.

- ``stix``: the feeds2stix bundles through our path (``payload_parser("stix_bundle").parse``: JSON, object
  checks, pattern parsing, normalisation into ``Indicator`` models) against ``stix2.parse`` of the same bundle
  text (the reference library builds and validates every object). Rates are per CPU-second of this process,
  best of three passes. Beside the rate, a correctness check: a bundle of invalid copies of the real
  indicators (broken pattern, missing pattern, bad id, bad timestamp, wrong type of a property, unknown
  pattern object) must be rejected object by object by ours, and each of them must make ``stix2.parse`` raise.
- ``csv``: abuse.ch IOC lists (Feodo Tracker, MalwareBazaar, SSLBL) with the column mappings the shared-data
  tests use: rows/s.
- ``csaf``: every CISA ICSMA CSAF 2.0 advisory of the corpus: documents/s and indicators/s.
- ``edge``: the push API, ``POST /api/v1/ingest/stix`` through the real app in this process (parse, store,
  publish, audit): indicators per CPU-second, SQLite and the in-process bus (``--pg``: also PostgreSQL
  started here). See ``ingest_edge.py``.

``--compare-with REV`` measures STIX and the edge for the source tree of git revision REV (``git archive``)
and for this tree in the same run, alternating child processes round by round (best of each side), and
writes both with their ratios under ``comparison``: before/after figures from one run of a shared machine.

Writes ``bench/results/ingest.json``. ``--quick``: one short pass each (the smoke test's run).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# EWARN_BENCH_SRC: another tree's ``src`` (``--compare-with`` runs this script on the revision it names)
SRC = Path(os.environ.get("EWARN_BENCH_SRC") or ROOT / "src")
sys.path[:0] = [str(SRC), str(ROOT), str(ROOT / "bench")]

import stix2  # noqa: E402

from ewarn.ingest.records import FeedContext  # noqa: E402
from ewarn.ingest.sources import payload_parser  # noqa: E402
from ewarn.ingest.sources.base import FeedSpec  # noqa: E402
from ewarn.ingest.sources.ioc_list import parse_ioc_list  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest.json"
DATA = ROOT / ".." / "shared" / "data"
STIX_DIR = DATA / "stix" / "feeds2stix-dogesec"
CSV_FEEDS = {
    "iocfeeds/abusech-feodo/feodotracker_ipblocklist_2024-04-04.csv": {
        "columns": {"dst_ip": "ipv4"},
        "seen_column": "first_seen_utc",
        "label_columns": ["malware"],
    },
    "iocfeeds/abusech-via-feeds2stix/abuse_ch_malwarebazaar_dump_20260226.csv": {
        "header": "comment",
        "columns": {"sha256_hash": "sha256", "md5_hash": "md5", "sha1_hash": "sha1"},
        "seen_column": "first_seen_utc",
    },
    "iocfeeds/abusech-via-feeds2stix/abuse_ch_sslblacklist_sslblacklist_1.csv": {
        "header": "comment",
        "columns": {"SHA1": "sha1"},
        "label_columns": ["Listingreason"],
    },
}
CSAF_DIR = DATA / "csaf" / "cisa-icsma-corpus"


def cpu_rate(work: Callable[[], int], *, min_seconds: float, passes: int) -> tuple[float, int]:
    """Units per CPU-second of ``work`` (which returns its unit count), best of ``passes`` timed passes."""
    work()  # warm-up: imports, caches
    best = 0.0
    units = 0
    for _ in range(passes):
        done = 0
        began = time.process_time()
        while True:
            done += work()
            spent = time.process_time() - began
            if spent >= min_seconds:
                break
        units = done
        best = max(best, done / spent)
    return best, units


def _ctx(kind: str) -> FeedContext:
    return FeedContext(feed_id="bench", feed_kind=kind)


# --- STIX ----------------------------------------------------------------------------------------------------


def _invalid_copies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invalid variants of real indicator objects, one defect each."""
    source = [o for o in objects if o.get("type") == "indicator"][:6]
    defects: list[Callable[[dict[str, Any]], None]] = [
        lambda o: o.update(pattern="[ipv4-addr:value = '1.2.3.4'"),  # unbalanced bracket
        lambda o: o.pop("pattern"),
        lambda o: o.update(id="indicator--not-a-uuid"),
        lambda o: o.update(valid_from="yesterday at noon"),
        lambda o: o.update(confidence="very"),
        lambda o: o.update(pattern="[no-such-object:value = 'x']"),
    ]
    out = []
    for n, defect in enumerate(defects):
        obj = copy.deepcopy(source[n % len(source)])
        obj["id"] = f"indicator--{uuid.uuid4()}"  # distinct records: one rejection each
        defect(obj)
        out.append(obj)
    return out


def stix(quick: bool) -> dict[str, Any]:
    files = sorted(p for p in STIX_DIR.glob("*.json"))
    bundles = [p.read_bytes() for p in files]
    texts = [b.decode() for b in bundles]
    objects = sum(len(json.loads(t)["objects"]) for t in texts)
    indicator_objects = sum(
        sum(o.get("type") == "indicator" for o in json.loads(t)["objects"]) for t in texts
    )
    parser = payload_parser("stix_bundle")

    def ours() -> int:
        return sum(len(parser.parse(b, _ctx("stix_bundle")).indicators) for b in bundles)

    def reference() -> int:
        for t in texts:
            stix2.parse(t, allow_custom=True)
        return indicator_objects

    min_seconds, passes = (0.2, 1) if quick else (1.5, 3)
    ours_rate, _ = cpu_rate(ours, min_seconds=min_seconds, passes=passes)
    ref_rate, _ = cpu_rate(reference, min_seconds=min_seconds, passes=passes)
    produced = ours()
    ours_objects_rate = ours_rate * indicator_objects / produced

    invalid = _invalid_copies(json.loads(texts[0])["objects"])
    hostile = json.dumps({"type": "bundle", "id": json.loads(texts[0])["id"], "objects": invalid}).encode()
    result = parser.parse(hostile, _ctx("stix_bundle"))
    stix2_raised = 0
    for obj in invalid:
        try:
            stix2.parse(obj, allow_custom=True)
        except Exception:
            stix2_raised += 1
    return {
        "bundles": [p.name for p in files],
        "objects": objects,
        "indicator_objects": indicator_objects,
        "indicators_produced_by_ours": produced,
        "ours_indicators_per_cpu_second": round(ours_rate),
        # Ours may make several indicators of one object (a pattern with several observables): compare objects.
        "ours_indicator_objects_per_cpu_second": round(ours_objects_rate),
        "stix2_parse_indicator_objects_per_cpu_second": round(ref_rate),
        "ratio_ours_to_stix2_parse": round(ours_objects_rate / ref_rate, 2),
        "invalid_objects": len(invalid),
        "invalid_rejected_by_ours": len(result.rejections),
        "invalid_accepted_by_ours": len(result.indicators),
        "invalid_refused_by_stix2_parse": stix2_raised,  # stix2 checks pattern syntax, not object types
        "every_invalid_object_rejected": len(result.rejections) == len(invalid) and not result.indicators,
    }


# --- CSV and CSAF --------------------------------------------------------------------------------------------


def csv(quick: bool) -> dict[str, Any]:
    feeds = [(DATA / rel, config) for rel, config in CSV_FEEDS.items()]
    payloads = [
        (p.read_bytes(), FeedSpec(id="bench", kind="ioc_list", location=str(p), config=c)) for p, c in feeds
    ]
    rows = 0
    indicators = 0
    for payload, spec in payloads:
        parsed = parse_ioc_list(payload, spec, _ctx("ioc_list"))
        rows += parsed.read
        indicators += len(parsed.indicators)

    def work() -> int:
        for payload, spec in payloads:
            parse_ioc_list(payload, spec, _ctx("ioc_list"))
        return rows

    rate, _ = cpu_rate(work, min_seconds=0.2 if quick else 1.5, passes=1 if quick else 3)
    return {
        "files": [p.name for p, _ in feeds],
        "rows": rows,
        "indicators": indicators,
        "rows_per_cpu_second": round(rate),
    }


def csaf(quick: bool) -> dict[str, Any]:
    files = sorted(CSAF_DIR.glob("*.json"))[: 20 if quick else None]
    documents = [p.read_bytes() for p in files]
    parser = payload_parser("csaf")
    indicators = sum(len(parser.parse(d, _ctx("csaf")).indicators) for d in documents)

    def work() -> int:
        for d in documents:
            parser.parse(d, _ctx("csaf"))
        return len(documents)

    rate, _ = cpu_rate(work, min_seconds=0.2 if quick else 2.0, passes=1 if quick else 3)
    return {
        "documents": len(documents),
        "megabytes": round(sum(map(len, documents)) / 1e6, 2),
        "indicators": indicators,
        "documents_per_cpu_second": round(rate, 1),
        "indicators_per_cpu_second": round(rate * indicators / len(documents)),
    }


# --- before/after in one run --------------------------------------------------------------------------------

COMPARED = {
    "stix_ratio_to_stix2_parse": ("stix", "ratio_ours_to_stix2_parse"),
    "stix_indicator_objects_per_cpu_second": ("stix", "ours_indicator_objects_per_cpu_second"),
    "stix2_parse_indicator_objects_per_cpu_second": ("stix", "stix2_parse_indicator_objects_per_cpu_second"),
    "edge_new_indicators_per_cpu_second": ("edge", "sqlite", "new", "indicators_per_cpu_second"),
    "edge_seen_again_indicators_per_cpu_second": (
        "edge",
        "sqlite",
        "seen_again",
        "indicators_per_cpu_second",
    ),
    "edge_new_post_ms_p50": ("edge", "sqlite", "new", "post_ms_p50"),
}


def _dig(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _child(src: Path, quick: bool, folder: Path) -> dict[str, Any]:
    out = folder / f"child-{uuid.uuid4().hex[:6]}.json"
    command = [sys.executable, __file__, "--only", "stix,edge", "--out", str(out), *(["--quick"] * quick)]
    subprocess.run(
        command, check=True, env={**os.environ, "EWARN_BENCH_SRC": str(src)}, stdout=subprocess.DEVNULL
    )
    return dict(json.loads(out.read_text()))


def compare(rev: str, *, quick: bool, rounds: int) -> dict[str, Any]:
    """STIX and edge figures of revision ``rev`` and of this tree, alternating rounds; best of each side."""
    with tempfile.TemporaryDirectory(prefix="ewarn-ingest-compare-") as tmp:
        folder = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
        )
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder / "before", filter="data")
        sides = {"before": folder / "before" / "src", "after": SRC}
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(rounds):
            for side, src in sides.items():
                runs[side].append(_child(src, quick, folder))
    best: dict[str, dict[str, Any]] = {}
    for side, results in runs.items():
        best[side] = {}
        for name, path in COMPARED.items():
            values = [v for v in (_dig(r, path) for r in results) if v is not None]
            lower_is_better = name.endswith("_ms_p50")
            best[side][name] = (min if lower_is_better else max)(values) if values else None
    ratios = {
        name: round(best["after"][name] / best["before"][name], 2)
        for name in COMPARED
        if best["after"][name] and best["before"][name]
    }
    return {"baseline_revision": rev, "rounds": rounds, **best, "after_over_before": ratios}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", default="stix,csv,csaf,edge", help="comma-separated parts to run")
    parser.add_argument("--pg", action="store_true", help="edge on PostgreSQL too (started here)")
    parser.add_argument("--compare-with", metavar="REV", help="also measure git revision REV in this run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare-with (each side once)")
    args = parser.parse_args()
    if not STIX_DIR.is_dir():
        print(f"no shared data at {DATA.resolve()}: ingest benchmark skipped", file=sys.stderr)
        return 0
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "quick": args.quick,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "targets": {"stix_ratio_to_stix2_parse": 10},
    }
    parts_run: dict[str, Callable[[], dict[str, Any]]] = {
        "stix": lambda: stix(args.quick),
        "csv": lambda: csv(args.quick),
        "csaf": lambda: csaf(args.quick),
        "edge": lambda: _edge(args.quick, args.pg),
    }
    for name, run in parts_run.items():
        if name in parts:
            result[name] = run()
    if "stix" in result:
        result["meets_targets"] = {"stix_ratio": result["stix"]["ratio_ours_to_stix2_parse"] >= 10}
    if args.compare_with:
        result["comparison"] = compare(args.compare_with, quick=args.quick, rounds=max(1, args.rounds))
    result["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("stix", "csv", "csaf", "edge", "comparison") if k in result}, indent=2
        )
    )
    print(f"wrote {args.out}")
    return 0


def _edge(quick: bool, pg: bool) -> dict[str, Any]:
    from ingest_edge import edge

    if not pg:
        return edge(quick=quick)
    from tests.support.postgres_server import PostgresServer

    from ewarn.crypto.secretbox import generate_key

    os.environ.setdefault("EWARN_SECRETS__KEYS", generate_key())  # PostgreSQL keeps secrets with a key
    with tempfile.TemporaryDirectory(prefix="ewarn-edge-pg-") as folder:
        server = PostgresServer(Path(folder))
        server.start()
        try:
            return edge(quick=quick, pg_url=server.url)
        finally:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
