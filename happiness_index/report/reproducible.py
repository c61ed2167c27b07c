"""Byte-for-byte reproducible Office files: fixed time stamps inside their zip packages.

``.xlsx`` and ``.docx`` files are zip archives whose entries carry the time they were written;
:func:`normalise_zip` rewrites an archive in place with every entry dated 1980-01-01 00:00
(the zip format's epoch), in the original order and compression, so that the same content
always gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import zipfile
from pathlib import Path

__all__ = ["FIXED_ZIP_TIME", "normalise_zip"]

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def normalise_zip(path, when: _dt.datetime | None = None) -> Path:
    """Rewrite the zip archive ``path`` with fixed entry time stamps and permissions.

    Parameters
    ----------
    path : path
        An existing zip file (``.xlsx``, ``.docx``); replaced atomically.
    when : datetime, optional
        When given, the document's own "created" and "modified" properties
        (``docProps/core.xml``) are set to it (openpyxl stamps "modified" with the time of
        saving).

    Returns
    -------
    Path
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".zip-tmp")
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
            for info in src.infolist():
                data = src.read(info.filename)
                if when is not None and info.filename == "docProps/core.xml":
                    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                    data = _CORE_TIMES.sub(lambda m, s=stamp: m.group(1) + s + m.group(3), data)
                fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
                fixed.compress_type = zipfile.ZIP_DEFLATED
                fixed.external_attr = 0o644 << 16
                fixed.create_system = 3
                dst.writestr(fixed, data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
