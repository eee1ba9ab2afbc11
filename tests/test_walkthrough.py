"""The README's "Bring your own county" section, run as written (issue 16.5).

The section is read in document order: a code block under a line naming a file (**`qiu/…`**) is written
to that file, and every line of a `bash` block is run as its own subprocess (`bash -c`, in a fresh
directory holding `tests/data/qiu_county`), with the test's database in `GRIDGOV_DATABASE_URL` and a free
port in `GRIDGOV_PORT` — the only substitutions. Shell forms the section uses are run as a shell would:
`X=$(…)` keeps the value for the next lines, `… &` runs in the background until `kill %1`, and `curl`
lines are expanded by bash and sent with httpx (their `localhost:8000` is the server's port). A comment
`# → words` is checked: the command's output contains every word. Then the answers are checked against
the data: the route and the stored case name the team that serves the township whose derived polygon
holds the point.

Each CLI command is a fresh Python process that spends ~2.5 s of CPU importing before it works: the whole
walkthrough costs ~32 s of CPU per backend (written to the log), ~35-40 s on two idle cores — within the
minute, so it runs on both backends. With the cores shared by other test runs (load 6-8) it took 99 s on
SQLite and 126 s on PostGIS.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import shapely
import sqlalchemy as sa
from shapely.geometry import Point, shape
from sqlalchemy.engine import Engine

from gis.crs import to_wgs84
from store.db import session_factory, transaction
from store.repo import Repository
from tests.conftest import QIU
from tests.live import ROOT, free_port

SECTION = "## Bring your own county"
FILE_BLOCK = re.compile(r"^\*\*`([^`]+)`\*\*\n\n```[\w-]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=\$\(.*\)$")
README_PORT = "localhost:8000"
TIMEOUT = 300


def section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in readme, f"README has no section {SECTION!r}"
    return readme.split(SECTION, 1)[1].split("\n## ", 1)[0]


def steps(text: str) -> Iterator[tuple[str, str, str]]:
    """("file", path, content) and ("bash", line, "") in the order a reader meets them."""
    found = [(m.start(), "file", m.group(1), m.group(2)) for m in FILE_BLOCK.finditer(text)]
    found += [(m.start(), "bash", m.group(1), "") for m in BASH_BLOCK.finditer(text)]
    for _, kind, a, b in sorted(found):
        if kind == "file":
            yield "file", a, b
            continue
        for line in a.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                yield "bash", line.strip(), ""


def answered_team(out: str) -> str:
    """The team code `gridgov route` answers with: its first line is the team's name, then its code in brackets."""
    found = re.match(r"\S[^\n]*?\(([^)\s]+)\)", out)
    assert found, out
    return found.group(1)


def expected_words(line: str) -> list[str]:
    """The words after `# →` in a line's comment."""
    return line.split("# →", 1)[1].split() if "# →" in line else []


@dataclass
class Ran:
    line: str
    out: str
    response: httpx.Response | None = None


@dataclass
class Shell:
    """Runs the section's lines as a reader's shell would, one subprocess per line."""

    cwd: Path
    env: dict[str, str]
    port: int
    log: Path
    ran: list[Ran] = field(default_factory=list)
    background: subprocess.Popen[bytes] | None = None
    background_log: IO[bytes] | None = None

    def run(self, line: str) -> Ran:
        if line.startswith("export GRIDGOV_DATABASE_URL="):
            out = ""  # the test's database instead
        elif line == "kill %1":
            self.stop()
            out = ""
        elif line.endswith("&"):
            assert self.background is None, "one background job at a time"
            self.background_log = self.log.with_suffix(".server.log").open("ab")
            self.background = subprocess.Popen(["bash", "-c", "exec " + line[:-1]], cwd=self.cwd, env=self.env,
                                               stdout=self.background_log, stderr=subprocess.STDOUT)
            out = ""
        elif line.startswith("curl "):
            ran = self.curl(line)
            self.ran.append(ran)
            return ran
        elif (m := ASSIGN.match(line)) or line.startswith("export "):
            name = m.group(1) if m else line.split()[1].split("=", 1)[0]
            value = self.bash(f'{line.removeprefix("export ")}\nprintf %s "${name}"', line)
            self.env[name] = value
            out = ""
        else:
            out = self.bash(line, line)
        ran = Ran(line, out)
        self.ran.append(ran)
        return ran

    def bash(self, script: str, line: str, *, log: bool = True) -> str:
        started = time.monotonic()
        proc = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT)
        if log:
            with self.log.open("a", encoding="utf-8") as fh:
                fh.write(f"$ {line}  ({time.monotonic() - started:.1f} s, exit {proc.returncode})\n{proc.stdout}"
                         f"{proc.stderr}\n")
        assert proc.returncode == 0, f"{line}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def curl(self, line: str) -> Ran:
        """The curl line's arguments as bash expands them, sent with httpx as curl would send them."""
        args = self.bash("printf '%s\\0' " + line.removeprefix("curl "), line, log=False).split("\0")[:-1]
        headers: dict[str, str] = {}
        data: str | None = None
        method: str | None = None
        retries, connrefused, url = 0, False, None
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-s", "--silent"):
                pass
            elif a in ("-H", "--header"):
                key, value = args[i + 1].split(":", 1)
                headers[key.strip()] = value.strip()
                i += 1
            elif a in ("-d", "--data", "--data-raw"):
                data = args[i + 1]
                i += 1
            elif a in ("-X", "--request"):
                method = args[i + 1]
                i += 1
            elif a == "--retry":
                retries = int(args[i + 1])
                i += 1
            elif a == "--retry-connrefused":
                connrefused = True
            else:
                assert not a.startswith("-"), f"curl option {a} is not translated by this test"
                assert url is None, f"two URLs in {line}"
                url = a
            i += 1
        assert url is not None and url.startswith(README_PORT), url
        url = f"http://127.0.0.1:{self.port}{url.removeprefix(README_PORT)}"
        if data is not None and not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/x-www-form-urlencoded"  # as curl -d sends without one
        method = method or ("POST" if data is not None else "GET")
        delay = 1.0  # curl's: 1 s, doubling
        for attempt in range(retries + 1):
            try:
                r = httpx.request(method, url, headers=headers, content=data.encode() if data is not None else None,
                                  timeout=60)
            except httpx.ConnectError:
                if not connrefused or attempt == retries:
                    raise
                assert self.background is None or self.background.poll() is None, f"the server stopped; {self.log}"
            else:
                if r.status_code not in (408, 429, 500, 502, 503, 504) or attempt == retries:
                    break
            time.sleep(delay)
            delay *= 2
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {line}  (HTTP {r.status_code})\n{r.text[:2000]}\n")
        return Ran(line, r.text, r)

    def stop(self) -> None:
        if self.background is not None:
            self.background.terminate()
            self.background.wait(timeout=30)
            self.background = None
        if self.background_log is not None:
            self.background_log.close()
            self.background_log = None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seat(code: str) -> tuple[float, float]:
    """A unit's seat as the code tree gives it (GCJ-02 lon, lat)."""
    with (QIU / "admin_units_130430_gcj02.csv").open(encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["code"] == code)
    return float(row["longitude"]), float(row["latitude"])


def option(line: str, name: str) -> str:
    argv = shlex.split(line, comments=True)
    return argv[argv.index(name) + 1]


def test_bring_your_own_county_as_the_readme_says(engine: Engine, database_url: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "tests" / "data").mkdir(parents=True)
    (work / "tests" / "data" / "qiu_county").symlink_to(QIU.resolve(), target_is_directory=True)
    port = free_port()
    # `gridgov` is the entry point installed beside this Python; PYTHONPATH makes it run this checkout's code even
    # when the install's package list is older than the tree (a new package needs `pip install -e .` again).
    env = {**os.environ, "GRIDGOV_DATABASE_URL": database_url, "GRIDGOV_PORT": str(port),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    shell = Shell(work, env, port, tmp_path / "walkthrough.log")
    files: dict[str, str] = {}
    started, cpu = time.monotonic(), _children_cpu()
    try:
        for kind, what, content in steps(section()):
            if kind == "file":
                (work / what).write_text(content, encoding="utf-8")  # no mkdir: the section's own commands make it
                files[what] = content
                continue
            ran = shell.run(what)
            for word in expected_words(what):
                assert word in ran.out, f"{what}\nthe output lacks {word!r}:\n{ran.out}"
    finally:
        shell.stop()
        with shell.log.open("a", encoding="utf-8") as fh:
            fh.write(f"walkthrough: {time.monotonic() - started:.1f} s, subprocesses' CPU "
                     f"{_children_cpu() - cpu:.1f} s\n")

    commands = [r.line.split()[:3] for r in shell.ran]
    for step in (["gridgov", "import", "tests/data/qiu_county/admin_units_130430_gcj02.csv"], ["gridgov", "derive"],
                 ["gridgov", "catalogue", "template"], ["gridgov", "catalogue", "import"],
                 ["gridgov", "version", "validate"], ["gridgov", "version", "publish"], ["gridgov", "route"],
                 ["gridgov", "serve", "&"]):
        assert any(c[:len(step)] == step for c in commands), f"the walkthrough lost its step {' '.join(step)}"
    assert {"qiu/urban.geojson", "qiu/catalogue/队伍.csv", "qiu/catalogue/执法事项.csv", "qiu/catalogue/赋权清单.csv",
            "qiu/catalogue/规则.csv"} <= set(files)
    assert (work / "qiu" / "目录.xlsx").stat().st_size > 0  # the template a county office would fill

    # The team that serves each township, as the walkthrough's team sheet says; coal-slurry drying is delegated.
    teams = list(csv.DictReader(io.StringIO(files["qiu/catalogue/队伍.csv"])))
    serving = {t["服务单位"]: t["队伍编码"] for t in teams}
    delegations = csv.DictReader(io.StringIO(files["qiu/catalogue/赋权清单.csv"]))
    delegated = {(d["乡镇编码"], d["事项编码"]) for d in delegations}
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        townships = {u.code: u.shape() for u in repo.units(1, "township")}
        assert repo.versions()[0].status == "published"

    def holder(lon: float, lat: float) -> str:
        x, y = to_wgs84(lon, lat, "gcj02")
        (code,) = [c for c, g in townships.items() if g is not None and shapely.covers(g, Point(x, y))]
        return code

    # The route at 邱城镇's seat (the code tree's GCJ-02 point, routed with --crs gcj02) names its township team.
    routes = [r for r in shell.ran if r.line.startswith("gridgov route ")]
    township_seat = seat("130430101000")
    first = routes[0]
    assert (float(option(first.line, "--lon")), float(option(first.line, "--lat"))) == township_seat
    assert option(first.line, "--crs") == "gcj02" and option(first.line, "--matter") == "M-ENV-COAL"
    town = holder(*township_seat)
    assert town == "130430101000" and (town, "M-ENV-COAL") in delegated
    assert answered_team(first.out) == serving[town] == "T-TWP-130430101000", first.out
    # The county seat lies in the urban core drawn in qiu/urban.geojson: its squadron outranks the township.
    urban = json.loads(files["qiu/urban.geojson"])["features"][0]
    second = routes[1]
    point = (float(option(second.line, "--lon")), float(option(second.line, "--lat")))
    assert shape(urban["geometry"]).contains(Point(point))  # both in GCJ-02
    assert answered_team(second.out) == serving[urban["properties"]["code"]] == "T-URBAN", second.out

    # The report: answered as a case dispatched to the township's team, and stored so.
    (report,) = [r for r in shell.ran if r.response is not None and r.response.request.url.path == "/reports"]
    assert report.response is not None and report.response.status_code == 201, report.out
    body = json.loads(report.response.request.content)
    assert (body["lon"], body["lat"], body["crs"]) == (*township_seat, "gcj02")
    case = report.response.json()
    assert (case["status"], case["team"], case["township"]) == ("dispatched", serving[town], town), case
    assert case["input"] == {"lon": body["lon"], "lat": body["lat"], "crs": "gcj02", "x": body["lon"],
                             "y": body["lat"]}
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, status, team_code, matter_code, reporter, raw_x, raw_y, raw_crs "
                                    "FROM case_record")).all()
    assert [tuple(r) for r in rows] == [(case["id"], "dispatched", "T-TWP-130430101000", "M-ENV-COAL", "wang",
                                         *township_seat, "gcj02")]
