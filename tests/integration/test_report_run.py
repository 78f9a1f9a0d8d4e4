"""A real suite run leaves a report a person can read: the directory, plots with fault bands, the lost
ids in summary.md and index.html, JUnit verdicts — and the page renders in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest

from chaos.host import apt_install
from chaos.report.plots import FAULT_RGB

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "suites/profiles/redis-s1-no-aof.toml"  # catalogue S1: a killed primary restarts empty
SEED = 7
FAIL_RGB = (247, 198, 198)  # the FAIL cell's background in index.html


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if not found and apt_install(["chromium"], "headless browser for the report test"):
        found = shutil.which("chromium")
    if not found:
        pytest.fail("Debian's chromium is not installed and could not be installed (needs root and apt)")
    return found


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    junit = tmp_path_factory.mktemp("junit") / "junit.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/redis",
            "--profile",
            str(PROFILE),
            "--chaos-seed",
            str(SEED),
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = re.search(r"report: (\S+)/index\.html", done.stdout)
    assert found, done.stdout[-3000:]
    return done, Path(found.group(1)), junit


def _pixels(path: Path, rgb: tuple[int, int, int]) -> int:
    image = (matplotlib.image.imread(path)[:, :, :3] * 255).round().astype(int)
    return int(((image[:, :, 0] == rgb[0]) & (image[:, :, 1] == rgb[1]) & (image[:, :, 2] == rgb[2])).sum())


def test_the_run_directory_holds_every_piece_of_evidence(catalogue_run: tuple) -> None:  # type: ignore[type-arg]
    done, run_dir, _ = catalogue_run
    assert done.returncode == 1, "a violated guarantee must fail the session"
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-seed{SEED}(-[0-9a-f]+)?", run_dir.name)
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["seed"] == SEED and info["budget"]["name"] == "smoke"
    cluster = info["clusters"]["redis-s1-no-aof"]
    assert cluster["image_id"].startswith("sha256:") and cluster["version"]
    assert info["versions"]["redis"] and info["schedules"][0]["schedule"][0]["family"] == "kill-leader"
    example = run_dir / "suites" / "redis-s1-no-aof-kill-leader" / "example-1"
    faults = [json.loads(line) for line in (example / "faults.jsonl").read_text().splitlines()]
    assert faults and faults[0]["fault"] == "kill" and faults[0]["end_s"] > faults[0]["start_s"]
    assert (example / "observations.jsonl").read_text().count("xlen") >= 3
    for plot in ("throughput.png", "latency.png", "observations.png"):
        assert _pixels(example / plot, FAULT_RGB) > 1000, f"{plot} has no fault band"


def test_the_lost_ids_are_in_summary_and_html(catalogue_run: tuple) -> None:  # type: ignore[type-arg]
    _, run_dir, _ = catalogue_run
    results = json.loads((run_dir / "suites/redis-s1-no-aof-kill-leader/example-1/results.json").read_text())
    delivery = next(v for v in results["verdicts"] if v["checker"] == "delivery")
    lost = delivery["anomalies"]["lost"]["ids"]
    assert lost, "catalogue S1 lost nothing: the run did not reproduce the row"
    summary = (run_dir / "summary.md").read_text()
    page = (run_dir / "index.html").read_text()
    assert summary.splitlines()[2].startswith("**FAIL")
    for mid in lost[:3]:
        assert mid in summary and f">{mid}</a>" in page, mid


def test_junit_has_one_testcase_per_invariant_with_its_verdict(catalogue_run: tuple) -> None:  # type: ignore[type-arg]
    _, _, junit = catalogue_run
    cases = ET.parse(junit).getroot().iter("testcase")
    verdicts = {}
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "invariant" in props:
            verdicts[props["invariant"]] = props["verdict"]
    assert verdicts["redis-s1-no-aof/kill-leader/no_loss"] == "false"
    assert set(verdicts.values()) <= {"true", "false", "unknown"}


def test_index_html_renders_in_headless_chromium(catalogue_run: tuple, chromium: str, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _, run_dir, _ = catalogue_run
    url = (run_dir / "index.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r"<p id=\"verdict\"><b>FAIL: \d+ of \d+ guarantee checks violated", dom.stdout)
    assert re.search(r"<table id=\"matrix\">.*redis-s1-no-aof / kill-leader.*class=\"fail\"", dom.stdout, re.S)
    assert dom.stdout.count('<img class="plot"') >= 3
    shot = tmp_path / "page.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1200,900", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert _pixels(shot, FAIL_RGB) > 500, "the FAIL cell is not painted"


def test_a_failure_names_its_evidence_its_replay_and_keeps_the_nodes_logs(catalogue_run: tuple) -> None:  # type: ignore[type-arg]
    done, run_dir, _ = catalogue_run
    # The replay line replays the failing cell (not one guarantee test) with the same seed and budget.
    replay = re.search(r"replay: (.+)", done.stdout)
    assert replay, done.stdout[-3000:]
    line = replay.group(1)
    assert "suites/redis/test_redis_streams.py " in line and "::" not in line
    assert "'redis-s1-no-aof/kill-leader]'" in line and f"--chaos-seed {SEED}" in line
    assert "--chaos-budget smoke --chaos-shrink" in line
    # The exploration ran once for all of the cell's guarantee tests (live log lines; a failed test's
    # captured log repeats them in another format).
    live = r"^\d\d:\d\d:\d\d INFO  brokerchaos.suites: == redis-s1-no-aof / kill-leader: budget"
    began = re.findall(live, done.stdout, re.M)
    assert len(began) == 1, done.stdout[-3000:]
    example = run_dir / "suites" / "redis-s1-no-aof-kill-leader" / "example-1"
    logs = sorted(p.name for p in (example / "logs").glob("*.log"))
    assert "redis-1.log" in logs and "toxiproxy.log" in logs
    summary = (run_dir / "summary.md").read_text()
    assert "](suites/redis-s1-no-aof-kill-leader/example-1/history.jsonl)" in summary  # relative: works in an artifact
    assert "[node logs](suites/redis-s1-no-aof-kill-leader/example-1/logs/)" in summary
    results = json.loads((example / "results.json").read_text())
    assert results["cells"]["no_loss"] == {"valid": False, "checker": "delivery", "failed_by": ["lost"], "reason": ""}
    assert results["faults_played"][0]["fault"] == "kill" and results["faults_played"][0]["span_s"] > 0
