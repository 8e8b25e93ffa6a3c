"""The data directory's permissions: nobody but the venue's user (and, if configured, an
operator group) may read what the venue keeps there.

The journal, snapshots, the SQLite file, QuickFIX's store and message logs hold every
order and every counterparty: the directory is made 0700 and every file in it 0600. With
group access (VENUE_GROUP_ACCESS=true) directories are 2750 and files 0640: the operator
group (the group owning the data directory: `chgrp` it once) may read, never write, and the
setgid bit makes new files and directories inherit that group. The control token (it lets
its reader act: halt, kill switch) and QuickFIX's private listener stay 0600.

Files are created by several writers, QuickFIX's C++ among them, with their default modes:
only the process's umask reaches all of them, so prepare() sets it (077, or 027 with group
access) for the whole process, and tightens whatever an older version left more open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from venue.control import TOKEN_NAME


def modes(group_access: bool) -> tuple[int, int, int]:
    """(umask, directory mode, file mode)."""
    if group_access:
        return 0o027, 0o2750, 0o640
    return 0o077, 0o700, 0o600


def prepare(data_dir: Path, group_access: bool = False) -> None:
    """Create data_dir if needed, set the process umask, and make data_dir and everything
    under it no more open than the modes above (symbolic links are left alone)."""
    umask, dir_mode, file_mode = modes(group_access)
    os.umask(umask)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, dir_mode)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            _tighten(Path(root, name), dir_mode)
        for name in files:
            _tighten(Path(root, name), file_mode)


def _tighten(path: Path, mode: int) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    if stat.S_ISSOCK(info.st_mode) or path.name == TOKEN_NAME:
        mode = 0o600  # QuickFIX's private listener, the control token: never the group
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)
