"""The one exception type for bad input.

Anything the user can fix (a wrong flag, a broken task file, data that does
not fit the model) is raised as :class:`TuneError`. The CLI turns it into a
single ``error: ...`` line on stderr and exit code 2. Any other exception is a
bug in tune and may show a traceback.
"""

from __future__ import annotations


class TuneError(Exception):
    """Bad input, described so that the user can act on it.

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


class RunError(Exception):
    """The run could not go on for a reason outside the user's input: the
    storage stayed unreachable, a worker process was killed. Nothing already
    stored is lost; running the same command again resumes.

    The CLI prints one ``error: ...`` line and exits 1 (bad input is 2).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return " ".join(text.split())
