"""Papercuts a new user met (issue 16.6), each through the real CLI or API: serve, export, validate's revision,
the README's quick start, a report's input coordinates, route-file's version column."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from cases import clock
from tests.live import ROOT, free_port
from tests.test_import import gridgov, load_qiu, summary
from tests.test_redraw import Api


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "GRIDGOV_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite'}",
            "GRIDGOV_DATA_DIR": str(tmp_path), "GRIDGOV_TICK_SECONDS": "0", "GRIDGOV_LANGUAGE": "en"}


def test_serve_on_a_port_in_use_says_so_and_exits_2_without_announcing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT,
                              env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc
    assert "serving on" not in proc.stdout
    assert f"port {port}" in proc.stderr and "already in use" in proc.stderr and "--port" in proc.stderr


def test_serve_announces_only_a_bound_port(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT,
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"serving on http://127.0.0.1:{port}/" in line, line
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # listening when announced, not later
            pass
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _validate_and_publish(database_url: str, version: str = "1") -> None:
    gridgov(database_url, "version", "validate", version)
    gridgov(database_url, "version", "publish", version, "--effective-from", clock.today().isoformat())


def test_export_says_which_version_it_exports(engine: Engine, database_url: str, tmp_path: Path) -> None:
    load_qiu(database_url)
    gridgov(database_url, "derive")
    from cli.main import app
    from tests.test_import import runner

    def export(*args: str) -> tuple[dict[str, str], str]:
        result = runner.invoke(app, ["export", str(tmp_path / "out.geojson"), *args, "--database-url", database_url])
        assert result.exit_code == 0, result.output
        return summary(result.stdout, "exported"), result.stderr

    out, note = export()
    assert (out["version"], out["status"]) == ("1", "draft") and note == ""
    _validate_and_publish(database_url)
    # No draft any more: the version in force is exported, and the command says so instead of claiming a draft.
    out, note = export()
    assert (out["version"], out["status"]) == ("1", "published")
    assert "no draft" in note and "in force" in note
    gridgov(database_url, "version", "create", "next", "--based-on", "1")
    out, note = export()
    assert (out["version"], out["status"]) == ("2", "draft") and note == ""
    out, _ = export("--version", "1")
    assert (out["version"], out["status"]) == ("1", "published")


def test_readme_quick_start_reaches_a_routed_point(engine: Engine, database_url: str) -> None:
    """The commands of the README's "real county" section, in order (their Qiu County paths, this database)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The real county", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].split() for ln in section.strip().splitlines()
                if ln.strip()]
    assert [c[:2] for c in commands][-3:] == [["gridgov", "version"], ["gridgov", "version"], ["gridgov", "route"]]
    outputs = []
    for argv in commands:
        assert argv[0] == "gridgov"
        args = [str(ROOT / a) if a.startswith("tests/data/") else a for a in argv[1:]]
        outputs.append(gridgov(database_url, *args))
    assert summary(outputs[3], "validated")["errors"] == "0"
    # `--effective-from today` is the county's date (cases.clock), whatever the machine's zone says.
    published = next(o for o in outputs if "published version=" in o)
    assert f"effective_from={clock.today().isoformat()}" in published, published
    routed = outputs[-1]
    assert "county 邱县 (130430000000) › township 新马头镇 (130430100000); version 1" in routed, routed


@pytest.mark.usefixtures("loaded")
def test_route_file_writes_the_version_of_each_row(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("lat,lon\n36.05,115.05\n36.15,115.3\n", encoding="utf-8")
    target = tmp_path / "out.csv"
    gridgov(database_url, "route-file", source, target, "--matter", "M-STREET", "--at", "2025-06-01")
    gridgov(database_url, "route-file", source, tmp_path / "later.csv", "--matter", "M-STREET", "--at", "2026-06-01")
    with target.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["version"] for r in rows] == ["1", "1"] and rows[1]["team"] == "TT2"
    with (tmp_path / "later.csv").open(encoding="utf-8") as fh:
        assert [r["version"] for r in csv.DictReader(fh)] == ["2", "2"]


def test_validate_without_revision_says_where_to_read_it(api: Api) -> None:
    client, h, _ = api
    draft = client.post("/versions", json={"name": "d", "based_on": 2}, headers=h["plan"]).json()
    r = client.post(f"/versions/{draft['id']}/validate", headers=h["plan"])
    assert r.status_code == 422 and r.json()["where"] == "revision"
    assert f"GET /versions/{draft['id']}" in r.json()["detail"] and "?revision=" in r.json()["detail"]
    version = client.get(f"/versions/{draft['id']}", headers=h["plan"]).json()
    r = client.post(f"/versions/{draft['id']}/validate", params={"revision": version["revision"]}, headers=h["plan"])
    assert r.status_code == 200 and r.json()["version"]["status"] == "validated"
    r = client.put(f"/versions/{draft['id']}/rules/R-X", json={}, headers=h["plan"])  # every edit says the same
    assert r.status_code == 422 and "GET /versions/" in r.json()["detail"]


def test_a_report_input_names_lon_and_lat_like_a_decision(api: Api) -> None:
    client, h, _ = api
    r = client.post("/reports", headers=h["worker1"], json={
        "idempotency_key": "input-coords-1", "matter": "M-STREET", "lon": 115.05, "lat": 36.05, "crs": "gcj02"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["input"] == {"lon": 115.05, "lat": 36.05, "crs": "gcj02", "x": 115.05, "y": 36.05}
    decision = client.post("/route", headers=h["worker1"], json={
        "lon": 115.05, "lat": 36.05, "crs": "gcj02", "matter": "M-STREET"}).json()["decisions"][0]
    assert decision["input"] == {k: case["input"][k] for k in ("lon", "lat", "crs")}  # the same words for one thing
    assert (decision["lon"], decision["lat"]) == pytest.approx((case["lon"], case["lat"]), abs=1e-9)
    assert abs(case["lon"] - 115.05) > 1e-3  # converted from GCJ-02; the input keeps what was sent
