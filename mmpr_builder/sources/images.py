"""Turn one image value from a source row into a verified :class:`~mmpr_builder.items.ImageData`.

Accepted values (as ``datasets`` and plain files give them):

- ``str``: a path relative to the source root (an absolute path must lie inside
  the root), or an ``http(s)://`` URL when ``SourceConfig.allow_remote_images``;
- ``bytes`` / ``bytearray``: the encoded file;
- ``dict`` ``{"bytes": ..., "path": ...}`` (the Arrow storage of ``datasets.Image``):
  the bytes when present, else the path;
- ``PIL.Image.Image`` (a decoded ``datasets.Image``): re-encoded once, in its own
  format when PIL knows it, else PNG.

Every image is kept as its original bytes and fully decoded once to verify it
(``PIL.Image.open(...).load()``). Limits: ``max_image_bytes`` on the encoded
size, checked before reading a file; ``max_image_pixels`` on width*height, read
from the header before decoding. PIL's own bomb guard
(``Image.MAX_IMAGE_PIXELS``, errors above twice that value) is reported as
``image_too_large`` too.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from mmpr_builder.config import SourceConfig
from mmpr_builder.errors import ItemError
from mmpr_builder.items import ImageData

REMOTE_PREFIXES = ("http://", "https://")
_REMOTE_TIMEOUT_S = 30


def load_image(value: Any, *, item_id: str, source: SourceConfig, root: Path | None) -> ImageData:
    """Read and verify one image value (see the module docstring for accepted values).

    Args:
        value: the cell from the row.
        item_id: id of the row, for errors.
        source: limits and ``allow_remote_images``.
        root: resolved source root that relative paths resolve against; ``None``
            when the source has no local root (Hub datasets): then paths are refused.

    Returns:
        ``ImageData(bytes, path)`` with ``path`` relative to the root (POSIX form),
        the URL, the name stored beside the bytes, or ``None``.

    Raises:
        ItemError: causes ``missing_image``, ``unreadable_image``, ``corrupt_image``,
            ``image_too_large``, ``remote_image_refused``, ``path_escapes_root``, ``bad_type``.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return verify_image(bytes(value), None, item_id=item_id, source=source)
    if isinstance(value, dict):
        data, name = value.get("bytes"), value.get("path")
        if data is not None:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ItemError(item_id, "bad_type", f"image 'bytes' is {type(data).__name__}, expected bytes")
            if isinstance(name, str) and name:
                name = PurePosixPath(name.replace("\\", "/")).name if _is_absolute(name) else name
            else:
                name = None
            return verify_image(bytes(data), name, item_id=item_id, source=source)
        if isinstance(name, str) and name:
            return load_image(name, item_id=item_id, source=source, root=root)
        raise ItemError(item_id, "missing_image", "image dict has neither bytes nor path")
    if isinstance(value, str):
        if not value.strip():
            raise ItemError(item_id, "missing_image", "empty image path")
        if value.lower().startswith(REMOTE_PREFIXES):
            return _load_remote(value, item_id=item_id, source=source)
        return _load_path(value, item_id=item_id, source=source, root=root)
    if _is_pil_image(value):
        return verify_image(_encode_pil(value, item_id), None, item_id=item_id, source=source)
    raise ItemError(item_id, "bad_type", f"image is {type(value).__name__}; expected a path, bytes, {{bytes, path}} or a PIL image")


def verify_image(data: bytes, path: str | None, *, item_id: str, source: SourceConfig) -> ImageData:
    """Check size limits and decode ``data`` fully once; return it unchanged as ImageData.

    Raises:
        ItemError: ``image_too_large`` (bytes, pixels, or PIL ``DecompressionBombError``),
            ``corrupt_image`` (not an image, truncated, undecodable).
    """
    from PIL import Image

    if len(data) > source.max_image_bytes:
        raise ItemError(item_id, "image_too_large", f"{len(data)} bytes > max_image_bytes={source.max_image_bytes}")
    if not data:
        raise ItemError(item_id, "corrupt_image", "empty image data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > source.max_image_pixels:
                    raise ItemError(item_id, "image_too_large",
                                    f"{width}x{height} = {width * height} pixels > max_image_pixels={source.max_image_pixels}")
                img.load()
    except ItemError:
        raise
    except Image.UnidentifiedImageError as e:
        raise ItemError(item_id, "corrupt_image", f"image{f' {path!r}' if path else ''} is not in a format PIL can read") from e
    except Image.DecompressionBombError as e:
        raise ItemError(item_id, "image_too_large", f"PIL refused a decompression bomb: {e}") from e
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, MemoryError) as e:  # PIL's decoder failures
        raise ItemError(item_id, "corrupt_image", f"cannot decode image{f' {path!r}' if path else ''}: {e}") from e
    return ImageData(bytes=data, path=path)


def _load_path(value: str, *, item_id: str, source: SourceConfig, root: Path | None) -> ImageData:
    if root is None:
        raise ItemError(item_id, "missing_image", f"image path {value!r} but this source has no local root to read it from")
    candidate = Path(value)
    full = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not full.is_relative_to(root):
        raise ItemError(item_id, "path_escapes_root", f"image path {value!r} resolves outside the source root {str(root)!r}")
    try:
        size = full.stat().st_size
    except FileNotFoundError as e:
        raise ItemError(item_id, "missing_image", f"image file not found: {value!r}") from e
    except OSError as e:
        raise ItemError(item_id, "unreadable_image", f"cannot stat {value!r}: {e}") from e
    if size > source.max_image_bytes:
        raise ItemError(item_id, "image_too_large", f"{value!r} is {size} bytes > max_image_bytes={source.max_image_bytes}")
    try:
        data = full.read_bytes()
    except OSError as e:
        raise ItemError(item_id, "unreadable_image", f"cannot read {value!r}: {e}") from e
    return verify_image(data, full.relative_to(root).as_posix(), item_id=item_id, source=source)


def _load_remote(url: str, *, item_id: str, source: SourceConfig) -> ImageData:
    if not source.allow_remote_images:
        raise ItemError(item_id, "remote_image_refused", f"remote image {url!r} refused (set source.allow_remote_images: true)")
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=_REMOTE_TIMEOUT_S) as resp:  # noqa: S310 (http/https only, checked above)
            data = resp.read(source.max_image_bytes + 1)
    except Exception as e:  # network errors of every kind: the row is bad, the run goes on
        raise ItemError(item_id, "unreadable_image", f"cannot fetch {url!r}: {e}") from e
    return verify_image(data, url, item_id=item_id, source=source)


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def _is_pil_image(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def _encode_pil(img, item_id: str) -> bytes:
    fmt = img.format if img.format in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF") else "PNG"
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError) as e:
        raise ItemError(item_id, "corrupt_image", f"cannot encode the PIL image: {e}") from e
    return buf.getvalue()
