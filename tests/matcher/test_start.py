"""The matcher has no database: its process imports no SQLAlchemy (nor Alembic), about a
second of a restarted replica's start on a busy machine (issue #21). Checked in a fresh
interpreter, where nothing else has imported them."""

import subprocess
import sys

CHECK = """
import sys
import services.matcher.app
from shared.busy import is_busy
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"sqlalchemy", "alembic"})
print(",".join(loaded) or "none", is_busy(TimeoutError()))
"""


def test_the_matcher_imports_no_database_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["none", "False"]
