"""Photos: files on disk named by their SHA-256, with type, size and uploader in the `photo` table.

The type is read from the file's first bytes, not trusted from the client. Writing is atomic (a temporary
file renamed into place) and content-addressed, so a retried upload stores nothing twice and a crash never
leaves half a photo under a real name. Reading checks the checksum again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMedia
from i18n import T
from store.schema import PhotoRow

SIGNATURES = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}
MIN_BYTES = 16


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are (JPEG, PNG or WebP), or None."""
    for content_type, magics in SIGNATURES.items():
        if any(data.startswith(m) for m in magics):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class PhotoStore:
    """Photos under one directory; metadata rows through the caller's session."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def save(self, session: Session, data: bytes, claimed_type: str | None, user: str,
             now: datetime) -> tuple[PhotoRow, bool]:
        """Check and store one photo; a second upload of the same bytes returns the first record (and False)."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(T("photo of {n} bytes is over the limit of {max_bytes} bytes; send a smaller "
                                    "or more compressed image", n=len(data), max_bytes=self.max_bytes), where="body")
        if len(data) < MIN_BYTES:
            raise InvalidInput(T("photo of {n} bytes is empty or truncated", n=len(data)), where="body")
        real = sniff(data)
        if real is None:
            raise UnsupportedMedia(T("not a JPEG, PNG or WebP image (checked from the file's content)"), where="body")
        claimed = (claimed_type or "").split(";")[0].strip().lower()
        if claimed and claimed != "application/octet-stream" and claimed != real:
            raise UnsupportedMedia(T("Content-Type says {claimed} but the file is {real}",
                                     claimed=claimed, real=real), where="content-type")
        sha = hashlib.sha256(data).hexdigest()
        row = session.get(PhotoRow, sha)
        target = self.path(sha)
        if not target.is_file() or target.stat().st_size != len(data):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        if row is not None:
            return row, False
        row = PhotoRow(sha256=sha, content_type=real, size=len(data), uploaded_by=user, uploaded_at=now)
        session.add(row)
        session.flush()
        return row, True

    def read(self, session: Session, sha256: str) -> tuple[PhotoRow, bytes]:
        """A stored photo and its bytes, checked against its checksum."""
        row = session.get(PhotoRow, sha256)
        target = self.path(sha256)
        if row is None or not target.is_file():
            raise NotFound(T("no photo {sha256}", sha256=sha256))
        data = target.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RuntimeError(f"photo {sha256} on disk does not match its checksum: the media store is damaged")
        return row, data
