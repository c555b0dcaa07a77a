"""The output folder (``--out``, default ``.tune/``): safe writes.

Files are written to a temporary name and renamed into place, so an
interrupted or failed command never leaves a half-written result where a good
one used to be.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from tuner.errors import TuneError
from tuner.jsonable import to_jsonable


def out_dir(path: str | Path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise TuneError(f"--out {out}: exists and is not a folder", "choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TuneError(f"--out {out}: cannot create the folder ({e.strerror})",
                        "choose a writable --out") from None
    return out


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, then move the result to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_json(path: Path, obj: Any) -> Path:
    text = json.dumps(to_jsonable(obj), indent=2)
    return write_atomic(path, lambda p: p.write_text(text))


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TuneError(f"{path}: not found") from None
    except json.JSONDecodeError as e:
        raise TuneError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
