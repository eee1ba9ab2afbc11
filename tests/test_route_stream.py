"""`POST /route` streams NDJSON and Arrow IPC batches in and out, with route-file's columns."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cli.common import repository
from store.routers import RouterCache

DAY = date(2026, 6, 1)
N = 9_000
NDJSON, ARROW = "application/x-ndjson", "application/vnd.apache.arrow.stream"
Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def points() -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(91)
    lon, lat = rng.uniform(114.95, 115.45, N), rng.uniform(35.98, 36.22, N)
    lon[:20] = 115.2  # on the T1/T2 edge
    return lon, lat, ["M-STREET" if i % 2 else "M-LAND" for i in range(N)]


def chunks(data: bytes, size: int = 50_000) -> Iterator[bytes]:
    """The body in pieces, as a client streaming it would send it (chunked transfer)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def core(database_url: str, lon: np.ndarray, lat: np.ndarray, matters: list[str]) -> dict[str, list[object]]:
    with repository(database_url) as repo:
        router = RouterCache().router_at(repo, DAY)
    out: dict[str, list[object]] = {k: [None] * N for k in ("team", "status", "rule", "distance_m", "near_boundary")}
    for m in set(matters):
        idx = np.flatnonzero(np.array(matters) == m)
        for k, values in router.route_table(lon[idx], lat[idx], m, DAY).items():
            for i, v in zip(idx.tolist(), values, strict=True):
                out[k][i] = v
    return out


@SQLITE
def test_ndjson_in_ndjson_and_arrow_out(api: Api, database_url: str) -> None:
    client, h, _ = api
    lon, lat, matters = points()
    body = "".join(json.dumps({"id": f"r{i}", "lat": float(lat[i]), "lon": float(lon[i]), "matter": matters[i],
                               "note": f"第{i}条"}, ensure_ascii=False) + "\n" for i in range(N)).encode()
    want = core(database_url, lon, lat, matters)
    r = client.post("/route", params={"at": DAY.isoformat()}, content=chunks(body),
                    headers={**h["audit"], "Content-Type": NDJSON})
    assert r.status_code == 200 and r.headers["content-type"].startswith(NDJSON), r.text[:500]
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == N and [row["id"] for row in rows] == [f"r{i}" for i in range(N)]
    assert [row["note"] for row in rows[:3]] == ["第0条", "第1条", "第2条"]
    for k in ("team", "status", "rule", "near_boundary"):
        assert [row[k] for row in rows] == want[k], k
    assert np.abs(np.array([row["distance_m"] for row in rows]) - np.array(want["distance_m"])).max() < 1e-9
    assert {row["version"] for row in rows} == {2} and any(want["near_boundary"])
    # The same body, answered as Arrow IPC.
    r = client.post("/route", params={"at": DAY.isoformat()}, content=chunks(body),
                    headers={**h["audit"], "Content-Type": NDJSON, "Accept": ARROW})
    table = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    assert table.column("team").to_pylist() == want["team"] and table.column("id").to_pylist()[:2] == ["r0", "r1"]


@SQLITE
def test_arrow_in_arrow_out_and_refusals(api: Api, database_url: str) -> None:
    client, h, _ = api
    lon, lat, _ = points()
    sink = io.BytesIO()
    table = pa.table({"case": [f"C{i:05d}" for i in range(N)], "lat": lat, "lon": lon,
                      "accuracy_m": np.where(np.arange(N) % 3 == 0, 500.0, np.nan)})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2_000):
            writer.write_batch(batch)
    want = core(database_url, lon, lat, ["M-STREET"] * N)
    r = client.post("/route", params={"matter": "M-STREET", "at": DAY.isoformat()}, content=chunks(sink.getvalue()),
                    headers={**h["audit"], "Content-Type": ARROW})
    assert r.status_code == 200 and r.headers["content-type"] == ARROW
    got = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    assert got.column_names == ["case", "lat", "lon", "accuracy_m", "matter", "team", "status", "rule", "version",
                                "distance_m", "near_boundary"]
    assert got.column("case").to_pylist() == table.column("case").to_pylist()
    assert got.column("team").to_pylist() == want["team"]
    dist = np.array(want["distance_m"])
    assert got.column("near_boundary").to_pylist() == ((dist < 500) & (np.arange(N) % 3 == 0) | (dist < 1e-3)).tolist()
    # Refusals before any row is answered: a clear 4xx with a stable code.
    r = client.post("/route", params={"matter": "M-NOPE"}, content=sink.getvalue(),
                    headers={**h["audit"], "Content-Type": ARROW})
    assert r.status_code == 422 and "M-NOPE" in r.json()["detail"]
    r = client.post("/route", params={"matter": "M-STREET"}, content=b"not arrow at all",
                    headers={**h["audit"], "Content-Type": ARROW})
    assert r.status_code == 422 and r.json()["where"] == "body" and r.json()["code"]
    r = client.post("/route", params={"matter": "M-STREET"}, content=b'{"lat": 95, "lon": 115.1}\n',
                    headers={**h["audit"], "Content-Type": NDJSON})
    assert r.status_code == 422 and r.json()["where"] == "line:1" and "out of range" in r.json()["detail"]
    # A bad row after the first chunk: the NDJSON answer ends with an error line.
    lines = [json.dumps({"lat": 36.1, "lon": 115.1}) for _ in range(70_000)] + ['{"lat": "x", "lon": 1}']
    r = client.post("/route", params={"matter": "M-STREET"}, content="\n".join(lines).encode(),
                    headers={**h["audit"], "Content-Type": NDJSON})
    last = json.loads(r.text.splitlines()[-1])
    assert r.status_code == 200 and last["error"]["where"].startswith("lines 65537")
    assert len(r.text.splitlines()) == 65_537  # the first chunk's rows, then the error
