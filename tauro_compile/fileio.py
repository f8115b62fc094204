"""Small file helpers shared by the layers that write artifacts."""

from __future__ import annotations

import functools
import os


@functools.cache
def default_file_mode() -> int:
    """The mode a new file gets under the process umask (0644 with the usual 022).

    `tempfile.mkstemp` creates files 0600 whatever the umask; artifacts written through a
    temporary file are given this mode, so they read like any other file the user creates.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (restored at once)
    os.umask(mask)
    return 0o666 & ~mask
