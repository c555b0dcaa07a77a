"""The output folder (``--out``, default ``.tune/``): safe writes.

Files are written to a temporary name and renamed into place, so an
interrupted or failed command never leaves a half-written result where a good
one used to be.
"""

from __future__ import annotations

import json
import os
import secrets
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


def check_writable(path: str | Path) -> None:
    """Refuse an ``--out`` that could not be written, before any work is done and
    without creating anything: it must be a folder (or not exist yet, under a
    folder) that this user can write to.

    Raises:
        TuneError: ``path`` or one of its parents is a file, or the folder that
            would hold the results is not writable.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise TuneError(f"--out {out}: exists and is not a folder", "choose another --out")
    there = out
    while not there.exists() and there != there.parent:
        there = there.parent  # the folder that would be created under
    if not there.is_dir():
        raise TuneError(f"--out {out}: {there} is a file, not a folder", "choose another --out")
    if not os.access(there, os.W_OK | os.X_OK):
        raise TuneError(f"--out {out}: {'the folder' if there == out else there} is not writable",
                        "choose a writable --out, or change the folder's permissions")


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, then move the result to ``path``.

    The file gets the usual mode for new files (0644 under umask 022), as
    ``open()`` would give it; ``tempfile.mkstemp`` would make it 0600, readable
    by its owner only.
    """
    tmp = _new_temp(path)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _new_temp(path: Path) -> str:
    """Create an empty, not yet existing file beside ``path`` with mode 0666 less the umask."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return str(tmp)
        except FileExistsError:
            continue
        except OSError as e:
            raise TuneError(f"--out {path.parent}: cannot write {path.name} ({e.strerror})",
                            "choose a writable --out") from None
    raise FileExistsError(f"no free temporary name beside {path}")


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
