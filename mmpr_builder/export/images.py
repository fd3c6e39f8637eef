"""Images of an export as files, each written once: the name is the SHA-256 of the bytes.

The bytes are written as embedded in the shard (no re-encoding), so a trainer decodes
exactly the pixels the build sampled with. The extension comes from the format Pillow
identifies (``PNG`` -> ``.png``, ``JPEG`` -> ``.jpg``).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from ..errors import ItemError, OutputError

IMAGES_DIR = "images"

_EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "TIFF": "tif"}


def image_extension(data: bytes) -> str:
    """The file extension of an encoded image (``png``, ``jpg``, ``webp``, ...), read from its header by Pillow.

    Raises:
        ValueError: Pillow cannot identify the bytes as an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"not an image Pillow can read: {e}") from e
    if not fmt:
        raise ValueError("Pillow found no image format")
    return _EXTENSIONS.get(fmt, fmt.lower())


class ImageStore:
    """Writes images under ``root/images/`` once per distinct content.

    Args:
        root: the export folder.

    Attributes:
        written: files written by this store; reused: references to a file that was
            already there (from this export or an earlier one with the same bytes).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.written = 0
        self.reused = 0
        self._known: dict[str, str] = {}  # sha256 -> relative path, this export

    def names(self, images: tuple[bytes, ...], item_id: str, pair_id: str) -> list[str]:
        """Write the images of one pair (those not written yet) and return their paths relative to ``root``
        (``images/<sha256>.<ext>``), in order.

        All images are identified before any is written, so a pair skipped for a bad image leaves no file.

        Raises:
            ItemError: cause ``bad_image``, an image Pillow cannot identify.
            OutputError: a file cannot be written.
        """
        planned = []
        for k, data in enumerate(images):
            digest = hashlib.sha256(data).hexdigest()
            if digest in self._known:
                planned.append((digest, None, data))
                continue
            try:
                planned.append((digest, f"{IMAGES_DIR}/{digest}.{image_extension(data)}", data))
            except ValueError as e:
                raise ItemError(item_id, "bad_image", f"pair {pair_id}: image {k}: {e}") from None
        out = []
        for digest, name, data in planned:
            if name is None:
                self.reused += 1
                out.append(self._known[digest])
                continue
            self._write(name, data, digest)
            self._known[digest] = name
            out.append(name)
        return out

    def _write(self, name: str, data: bytes, digest: str) -> None:
        path = self.root / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            self.reused += 1  # written by an earlier export
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as e:
            raise OutputError(f"cannot write image {path}: {e}") from e
        self.written += 1
