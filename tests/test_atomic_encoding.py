"""Files JobForge writes are UTF-8 whatever the machine's locale: French labels in a JSON
written under an ASCII locale (a minimal container, `LANG` unset with Python's UTF-8 mode
and locale coercion off) must not fail, nor be read back differently (found by the mutation
pass: `write_json` used the locale's encoding, `read_state` reads UTF-8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CODE = """
import sys
from pathlib import Path
assert sys.getfilesystemencoding() and __import__("locale").getpreferredencoding(False).lower() in (
    "ascii", "ansi_x3.4-1968"), __import__("locale").getpreferredencoding(False)
from jobforge_core.common.atomic import write_json
write_json(Path(sys.argv[1]), {"label": "Gestionnaires en t\\u00e9l\\u00e9communications"})
"""


def test_json_is_written_as_utf8_under_an_ascii_locale(tmp_path: Path):
    target = tmp_path / "state.json"
    env = {**os.environ, "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "LC_ALL": "C"}
    env.pop("LANG", None)
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(target)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = target.read_bytes().decode("utf-8")
    assert json.loads(text) == {"label": "Gestionnaires en télécommunications"}
