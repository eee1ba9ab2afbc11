"""A local basemap file served as XYZ tiles: MBTiles (TMS rows) and PMTiles (protomaps' archive), every tile
byte for byte where the file has it and 204 where it has none; vector or broken files refused at start-up
with a message naming the file, by the app and by `gridgov serve`."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pmtiles.convert import mbtiles_to_pmtiles

from api.app import create_app
from config import get_settings
from web.basemap import BasemapError

ROOT = Path(__file__).resolve().parents[1]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff\xe0", "jpeg": b"\xff\xd8\xff\xe0", "webp": b"RIFF",
         "pbf": b"\x1a\x02"}


def make_mbtiles(path: Path, fmt: str, seed: int = 1) -> dict[tuple[int, int, int], bytes]:
    """A random set of tiles at zooms 0–5, stored the MBTiles way (TMS rows); returns them by XYZ address."""
    rng = random.Random(seed)
    tiles: dict[tuple[int, int, int], bytes] = {}
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name text, value text)")
        db.execute("CREATE TABLE tiles (zoom_level int, tile_column int, tile_row int, tile_data blob)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)",
                       [("format", fmt), ("minzoom", "0"), ("maxzoom", "5"), ("name", "test")])
        for z in range(6):
            for _ in range(min(4**z, 12)):
                x, y = rng.randrange(2**z), rng.randrange(2**z)
                data = MAGIC[fmt] + f"{z}/{x}/{y}".encode() + rng.randbytes(rng.randrange(0, 300))
                if (z, x, y) in tiles:
                    continue
                tiles[(z, x, y)] = data
                db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, data))
    return tiles


def client_for(database_url: str, path: Path) -> TestClient:
    return TestClient(create_app(get_settings(database_url=database_url, basemap_file=path)))


@pytest.mark.parametrize("kind", ["mbtiles", "pmtiles"])
@pytest.mark.parametrize("fmt,media", [("png", "image/png"), ("jpg", "image/jpeg"), ("webp", "image/webp")])
def test_every_tile_is_served_as_written(tmp_path: Path, database_url: str, kind: str, fmt: str, media: str) -> None:
    mb = tmp_path / "base.mbtiles"
    tiles = make_mbtiles(mb, "jpeg" if fmt == "jpg" and kind == "pmtiles" else fmt)  # its converter says jpeg
    path = mb
    if kind == "pmtiles":
        path = tmp_path / "base.pmtiles"
        mbtiles_to_pmtiles(str(mb), str(path), None)  # protomaps' own converter writes the archive
    client = client_for(database_url, path)
    for (z, x, y), data in tiles.items():
        r = client.get(f"/basemap/{z}/{x}/{y}")
        assert r.status_code == 200 and r.content == data, (z, x, y)
        assert r.headers["content-type"] == media and "content-encoding" not in r.headers
    missing = [(z, x, y) for z in range(4) for x in range(2**z) for y in range(2**z) if (z, x, y) not in tiles]
    assert missing and all(client.get(f"/basemap/{z}/{x}/{y}").status_code == 204 for z, x, y in missing)
    for bad in ("3/8/0", "3/0/8", "25/0/0", "-1/0/0"):
        r = client.get(f"/basemap/{bad}")
        assert r.status_code == 422 and "does not exist" in r.json()["detail"]
    page = client.get("/wall").text
    assert "/basemap/{z}/{x}/{y}" in page  # the pages draw it


def test_unusable_basemap_files_are_refused_by_name(tmp_path: Path, database_url: str) -> None:
    vector_mb = tmp_path / "vector.mbtiles"
    make_mbtiles(vector_mb, "pbf")
    vector_pm = tmp_path / "vector.pmtiles"
    mbtiles_to_pmtiles(str(vector_mb), str(vector_pm), None)
    junk_pm = tmp_path / "junk.pmtiles"
    junk_pm.write_bytes(b"not an archive" * 20)
    junk_mb = tmp_path / "junk.mbtiles"
    junk_mb.write_bytes(b"not a database" * 200)
    wrong = tmp_path / "tiles.zip"
    wrong.write_bytes(b"PK")
    for path, text in [(vector_mb, "holds pbf tiles; only raster"), (vector_pm, "holds MVT tiles; only raster"),
                       (junk_pm, "is not a PMTiles v3 archive"), (junk_mb, "is not an MBTiles file"),
                       (wrong, "must end in .mbtiles or .pmtiles"), (tmp_path / "none.pmtiles", "does not exist")]:
        with pytest.raises(BasemapError) as caught:
            create_app(get_settings(database_url=database_url, basemap_file=path))
        assert text in str(caught.value) and str(path) in str(caught.value)


def test_serve_names_a_bad_basemap_and_exits(tmp_path: Path, database_url: str) -> None:
    bad = tmp_path / "missing.pmtiles"
    done = subprocess.run([sys.executable, "-m", "cli.main", "serve", "--port", "1", "--database-url", database_url],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"GRIDGOV_BASEMAP_FILE": str(bad), "GRIDGOV_DATA_DIR": str(tmp_path),
                               "GRIDGOV_LANGUAGE": "en", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"basemap file {bad} does not exist" in done.stderr and "serving" not in done.stdout
