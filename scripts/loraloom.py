"""A1111 entry point: makes the ``loraloom`` package importable for good and hands over.

A1111 executes every ``.py`` here at startup and again on "Reload UI", with the extension root
on ``sys.path`` only during that import; later lazy imports need ``extension/`` on the path for
good, so it is added once (idempotently). Everything else lives in ``loraloom.hosts.a1111``.
"""

import os
import sys

_SOURCE_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "extension")
if _SOURCE_ROOT not in sys.path:
    sys.path.insert(0, _SOURCE_ROOT)

from loraloom.hosts import a1111  # noqa: E402  (needs the path above)
from loraloom.hosts.a1111.script import LoraloomScript  # noqa: E402, F401  (A1111 finds Script subclasses here)

a1111.setup()
