"""Output-path checks shared by every layer that writes files (export, inference outputs), so a bad ``--json`` /
``--save`` / ``--out`` fails before any work starts, naming the path. Lives at the bottom of the import graph
because export and inference must not import each other's way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def check_writable(path: str | os.PathLike, folder: bool = False) -> Path:
    """Make sure ``path`` (a file, or a folder when ``folder``) can be written: creates the missing parent folders
    (or the folder) and writes and removes a probe file there. OSError naming the path and the fix otherwise.

    A probe write, not ``os.access``: access() ignores read-only mounts and says yes to root.
    """
    path = Path(path)
    where = path if folder else path.parent
    if folder and path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder; pass a folder path (it is created if missing).")
    if not folder and path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass a file path such as {path / 'results.json'}.")
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=where, prefix=".ferkit-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise OSError(
            err.errno,
            f"Cannot write to {where} for {path} ({err.strerror or err}); choose a writable "
            "location or fix its permissions.",
        ) from err
    return path
