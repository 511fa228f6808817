"""The check implementations. Importing this package registers every check (engine.registry).

Keep this a plain list of `from . import x` lines: one line per check module, nothing else.
"""

from __future__ import annotations
from . import net  # noqa: F401
from . import tls  # noqa: F401
from . import assoc  # noqa: F401
from . import identity  # noqa: F401
from . import dimse  # noqa: F401
from . import qr  # noqa: F401
from . import perf, capacity  # noqa: F401
from . import workflow  # noqa: F401
from . import dicomweb  # noqa: F401
