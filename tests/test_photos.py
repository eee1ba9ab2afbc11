"""Photos: checked by content, stored on disk under their SHA-256, referenced by reports, read within scope."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from tests.conftest import table_counts
from tests.test_intake import report

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]


def png(width: int = 4, height: int = 3, seed: int = 0) -> bytes:
    """A real, decodable PNG written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes((seed + x + y) % 256 for x in range(width * 3)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_reference_and_read_back(api: Api, tmp_path: Path) -> None:
    client, h, _ = api
    image = png()
    sha = hashlib.sha256(image).hexdigest()
    up = client.post("/photos", content=image, headers={**h["worker1"], "content-type": "image/png"})
    assert up.status_code == 201, up.text
    assert up.json() == {"sha256": sha, "content_type": "image/png", "size": len(image), "url": f"/photos/{sha}"}
    again = client.post("/photos", content=image, headers={**h["worker1"], "content-type": "image/png"})
    assert again.status_code == 200 and again.json()["sha256"] == sha  # a retried upload stores nothing twice
    stored = media_files(tmp_path / "media")
    assert [p.name for p in stored] == [sha] and hashlib.sha256(stored[0].read_bytes()).hexdigest() == sha
    case = client.post("/reports", json=report(115.17, 36.09, photos=[sha]), headers=h["worker1"]).json()
    assert case["photos"] == [sha]
    for who in ("worker1", "tt1", "boss", "audit"):
        got = client.get(f"/photos/{sha}", headers=h[who])
        assert got.status_code == 200 and got.content == image and got.headers["content-type"] == "image/png"
    assert client.get(f"/photos/{sha}", headers=h["tt2"]).status_code == 404  # another township's case
    assert client.get(f"/photos/{sha}").status_code == 401


def test_bad_photos_are_refused_and_leave_nothing(api: Api, tmp_path: Path, database_url: str) -> None:
    client, h, engine = api
    before = table_counts(engine)
    jpeg_body = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    for body, ctype, status, text in [
        (b"GIF89a" + b"\x00" * 64, "image/gif", 415, "not a JPEG, PNG or WebP image"),
        (b"%PDF-1.7" + b"\x00" * 64, "image/jpeg", 415, "not a JPEG, PNG or WebP image"),
        (jpeg_body, "image/png", 415, "Content-Type says image/png but the file is image/jpeg"),
        (b"\xff\xd8", "image/jpeg", 422, "empty or truncated"),
    ]:
        r = client.post("/photos", content=body, headers={**h["worker1"], "content-type": ctype})
        assert r.status_code == status and text in r.json()["detail"], r.text
    small = TestClient(create_app(get_settings(database_url=database_url, media_dir=tmp_path / "media",
                                               max_photo_mib=0.001)))
    r = small.post("/photos", content=jpeg_body * 80, headers={**h["worker1"], "content-type": "image/jpeg"})
    assert r.status_code == 413 and "over the limit of 1048 bytes" in r.json()["detail"]
    assert client.post("/photos", content=png(), headers={**h["audit"], "content-type": "image/png"}).status_code == 403
    r = client.post("/reports", json=report(115.17, 36.09, photos=["0" * 64]), headers=h["worker1"])
    assert r.status_code == 422 and "upload it first with POST /photos" in r.json()["detail"]
    r = client.post("/reports", json=report(115.17, 36.09, photos=["not-a-checksum"]), headers=h["worker1"])
    assert r.status_code == 422
    assert table_counts(engine) == before and media_files(tmp_path / "media") == []


def test_a_damaged_file_is_not_served_as_if_it_were_fine(api: Api, tmp_path: Path) -> None:
    client, h, _ = api
    sha = client.post("/photos", content=png(seed=9), headers={**h["worker1"], "content-type": "image/png"}).json()[
        "sha256"]
    (path,) = media_files(tmp_path / "media")
    path.write_bytes(io.BytesIO(png(seed=10)).getvalue())  # someone overwrote it on disk
    client_raising = TestClient(client.app, raise_server_exceptions=False)
    r = client_raising.get(f"/photos/{sha}", headers=h["worker1"])
    assert r.status_code == 500 and r.content != path.read_bytes()
