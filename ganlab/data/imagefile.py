"""Opening one raw image file for a dataset's ``decode``, within one pixel limit.

Every dataset that decodes image files (CelebA, ``image_folder``, plugins)
opens them with :func:`open_image`, so that they all answer a bad file the
same way: a :class:`~ganlab.data.SkipExample` naming what is wrong (missing,
empty, not an image, over the pixel limit, truncated or corrupt), which the
writer records in the manifest and the prepare report.

The pixel limit (:data:`MAX_IMAGE_PIXELS`) is the decompression-bomb guard:
a small file may declare a huge image (a 100-byte PNG can ask for 20,000 ×
20,000 pixels, 1.2 GB decoded). The size is read from the file's header and
checked before any pixel is decoded. It counts pixels as Pillow's
``Image.MAX_IMAGE_PIXELS`` does (width × height, any mode) and has the same
default; Pillow's own ``DecompressionBombWarning`` is never printed.

This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from ganlab.data.base import SkipExample

#: Most pixels (width × height) an image file may have; larger ones are skipped.
#: Pillow's own default (``Image.MAX_IMAGE_PIXELS``: about 0.25 GiB of 24-bit pixels).
MAX_IMAGE_PIXELS = 89_478_485


def over_limit(size: tuple[int, int]) -> bool:
    """Whether an image of ``size`` (width, height) has more than :data:`MAX_IMAGE_PIXELS`."""
    return size[0] * size[1] > MAX_IMAGE_PIXELS


def _limit_reason(size: tuple[int, int] | None, error: Exception | None = None) -> str:
    if size is not None:
        found = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
    else:  # Pillow refused it first (over twice its own limit); its message has the count
        counted = re.search(r"\((\d+) pixels\)", str(error))
        found = f"{int(counted.group(1)):,} pixels" if counted else "its size"
    return (f"image too large: {found}, more than the limit of {MAX_IMAGE_PIXELS:,} "
            "(ganlab.data.imagefile.MAX_IMAGE_PIXELS, a guard against decompression bombs)")


@contextlib.contextmanager
def open_image(path: str | os.PathLike[str] | bytes, *,
               formats: Sequence[str] | None = None,
               draft: tuple[int, int] | None = None) -> Iterator[Image.Image]:
    """Open ``path`` and decode its (first) image fully, for use inside the ``with`` block.

    ``load()`` decodes every byte at once: Pillow opens lazily and would
    otherwise only notice a truncated file later (or never, with
    ``LOAD_TRUNCATED_IMAGES``, which ganlab never enables). The file is
    closed when the block ends.

    Args:
        path: The image file, or the bytes of one (an encoded image read
            from an archive or a record).
        formats: Pillow format names to accept (e.g. ``("PNG", "JPEG")``);
            any other file is "not an image". ``None``: every format Pillow reads.
        draft: Let a JPEG decode at a reduced scale that still covers
            ``(width, height)`` pixels (Pillow's ``draft``): much faster for
            photos far larger than the training size.

    Raises:
        SkipExample: The file is missing, empty, not a (supported) image,
            over the pixel limit, truncated or corrupt; the message says which.

    """
    image = _load(path if isinstance(path, bytes) else Path(path), formats, draft)
    try:
        yield image
    finally:
        image.close()


def _load(path: Path | bytes, formats: Sequence[str] | None,
          draft: tuple[int, int] | None) -> Image.Image:
    try:
        if (len(path) if isinstance(path, bytes) else path.stat().st_size) == 0:
            raise SkipExample("empty file (0 bytes)")
    except FileNotFoundError:
        raise SkipExample("missing image file (deleted, or a broken link)") from None
    except OSError as exc:
        raise SkipExample(f"cannot read the file: {exc.strerror or exc}") from None
    # Our own limit is checked below; Pillow's warning would only repeat it on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if formats:
            Image.init()  # registers every format plugin once (open(formats=) needs them)
        try:
            image = Image.open(io.BytesIO(path) if isinstance(path, bytes) else path,
                               formats=list(formats) if formats else None)
        except Image.DecompressionBombError as exc:
            raise SkipExample(_limit_reason(None, exc)) from None
        except Image.UnidentifiedImageError:
            kinds = f" ({', '.join(formats)})" if formats else ""
            raise SkipExample(f"not an image file, or not of a supported format{kinds}") from None
        except OSError as exc:
            if exc.errno is not None:  # the system's error (permissions, I/O), not Pillow's
                raise SkipExample(f"cannot read the file: {exc.strerror or exc}") from None
            raise SkipExample(_corrupt(exc)) from None
        except Exception as exc:  # a format plugin's parse error: a damaged header
            raise SkipExample(_corrupt(exc)) from None
        try:
            if over_limit(image.size):
                raise SkipExample(_limit_reason(image.size))
            if draft is not None and image.format in ("JPEG", "MPO"):
                image.draft(None, draft)
            image.load()
        except SkipExample:
            image.close()
            raise
        except Exception as exc:  # any decoder failure means "unreadable"
            image.close()
            raise SkipExample(_corrupt(exc)) from None
    return image


def _corrupt(exc: Exception) -> str:
    return f"truncated or corrupt image ({type(exc).__name__}: {exc})"
