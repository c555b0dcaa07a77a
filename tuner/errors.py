"""The one exception type for bad input, and the one warning type.

Anything the user can fix (a wrong flag, a broken task file, data that does
not fit the model) is raised as :class:`TuneError`. The CLI turns it into a
single ``error: ...`` line on stderr and exit code 2. Any other exception is a
bug in tune and may show a traceback. What the user should know but that does
not stop the command is a :class:`TuneWarning`, shown as one ``warning: ...`` line.
"""

from __future__ import annotations


class SaidError(Exception):
    """An error said in words for the user: what happened, and how to go on.

    Args:
        message: What is wrong, naming the offending value.
        hint: How to fix it, or ``None``.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return " ".join(text.split())


class TuneError(SaidError):
    """Bad input, described so that the user can act on it (exit code 2)."""


class RunError(SaidError):
    """The run could not go on for a reason outside the user's input: the
    storage stayed unreachable, a worker process was killed. Nothing already
    stored is lost; running the same command again resumes.

    The CLI prints one ``error: ...`` line and exits 1 (bad input is 2).
    """


class TuneWarning(UserWarning):
    """Something the user should know that did not stop the command (a torn
    journal record that was dropped, data that was converted).

    The library never prints: it issues these through :mod:`warnings`, and the
    CLI shows each as one ``warning: ...`` line on stderr.
    """


def describe_exception(e: BaseException) -> str:
    """``AttributeError: module 'torch.nn' has no attribute 'TanH' (task.py:12)``: the
    exception's type, its first line, and the user's own frame (the deepest one
    outside tune, the standard library and installed packages) when there is one."""
    import traceback
    from pathlib import Path

    if isinstance(e, TuneError):  # already said in words (e.g. "build_model(hp) raised ...")
        return e.message
    frames = traceback.extract_tb(e.__traceback__)
    outside = [f for f in frames if "/tuner/" not in f.filename and "importlib" not in f.filename]
    user = [f for f in outside if "site-packages" not in f.filename
            and "/lib/python" not in f.filename] or outside
    where = f" ({Path(user[-1].filename).name}:{user[-1].lineno})" if user else ""
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}{where}" if first else f"{type(e).__name__}{where}"
