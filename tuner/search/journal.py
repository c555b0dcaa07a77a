"""The journal file behind ``--out``'s studies: Optuna's file backend, fsynced
per trial, and safe against a record torn by a crash.

A journal is one JSON record per line, appended under a file lock. A crash
in the middle of a write (a killed process, a power cut) can leave the last
line cut short, or, after a power cut on some file systems, a tail of zero
bytes. Optuna 5's reader already skips a last line without its newline, but
its writer then appends the next record onto that broken line, and from then
on every reader fails on it with a ``JSONDecodeError``. Here:

* reading skips an incomplete last record, as Optuna does; when the record
  has been left alone for a while (so it is not a write still in flight in
  another process) it says so as a :class:`~tuner.errors.TuneWarning`
  naming the file and what was dropped;
* appending first cuts an incomplete last record off, under the journal's
  lock (where no write can be in flight), so a record never lands on a
  broken line;
* a line an earlier version glued onto a torn record (``<torn>{"op_code":...}``)
  is read as the complete record it ends with;
* any other unreadable line is a :class:`~tuner.errors.TuneError` naming the
  file and the line, not a traceback.

Nothing complete is ever dropped: only bytes after the last newline.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import warnings
from typing import Any, Iterator

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from tuner.errors import TuneError, TuneWarning

SYNC_SECONDS = 5.0  # fsync the journal between trials at most this often
# A last line without its newline that nobody has touched for this long is a torn
# write, not one in flight: a write takes microseconds (a stalled one, e.g. on NFS,
# at worst gets a warning it did not need; nothing is changed while reading).
STALE_SECONDS = 2.0
RECORD_START = b'{"op_code":'  # every record is json.dumps({"op_code": ..., ...})
_READ_BACK = 1 << 16

# What a dropped record was about, by Optuna's JournalOperation code.
_OPERATIONS = {0: "create-study", 1: "delete-study", 2: "study attribute", 3: "study attribute",
               4: "create-trial", 5: "trial parameter", 6: "trial result",
               7: "trial epoch report", 8: "trial attribute", 9: "trial attribute",
               10: "discard-trials"}


class TrialSyncedJournal(JournalFileBackend):
    """Optuna's journal file, fsynced once per trial instead of once per write,
    and recovering from a record torn by a crash (see the module docstring).

    Optuna fsyncs every record (each suggestion, report and attribute: ~20 per
    trial, a millisecond or more each), a cost of the order of a short trial's
    training. Here each record is still written and flushed to the OS under
    the journal's lock, so other processes see it at once and a crashed
    process loses nothing; :meth:`sync` fsyncs between trials at most every
    few seconds, so a power cut loses at most the last seconds of trials (and
    may leave a torn or zero-filled tail, which the next reader skips and the
    next writer cuts off).
    """

    last_sync = 0.0

    def __init__(self, file_path: str, lock_obj: Any = None) -> None:
        super().__init__(file_path, lock_obj=lock_obj)
        self._offsets: dict[int, int] = {0: 0}  # byte offset of each record read so far

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        """Optuna's reader (same offsets cache, same stop at the size seen on
        opening, so a write in progress is read next time), with the recovery above."""
        offsets = self._offsets
        with open(self._file_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            number, offset = 0, 0
            if log_number_from in offsets:
                number, offset = log_number_from, offsets[log_number_from]
                f.seek(offset)
            for line in f:
                if offset + len(line) > size:
                    break  # appended after we looked: the next read takes it
                if not line.endswith(b"\n"):  # the last line, cut short
                    if time.time() - os.fstat(f.fileno()).st_mtime > STALE_SECONDS:
                        _warn_torn(self._file_path, line)
                    break
                wanted = number >= log_number_from
                record = self._decode(line, number, offset) if wanted else None
                offset += len(line)
                number += 1
                offsets.setdefault(number, offset)
                if wanted:
                    yield record

    def _decode(self, line: bytes, number: int, offset: int) -> dict[str, Any]:
        try:
            return json.loads(line)
        except ValueError as e:
            glued = line.rfind(RECORD_START)
            if glued > 0:  # a record appended onto a torn one (tune before this fix)
                try:
                    record = json.loads(line[glued:])
                except ValueError:
                    pass
                else:
                    _warn_torn(self._file_path, line[:glued], line=number + 1)
                    return record
            raise TuneError(f"{self._file_path}: line {number + 1} is not a journal record ({e})",
                            "the file was changed by another program; restore it from a backup, "
                            "or move it aside to start afresh") from None

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        with _locked(self._lock):
            # "a+b": appends go to the end whatever the position; reads and truncate work.
            with open(self._file_path, "a+b") as f:
                _cut_torn_tail(f, self._file_path)
                f.write(text.encode("utf-8"))

    def sync(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_sync >= SYNC_SECONDS:
            with open(self._file_path, "ab") as f:
                os.fsync(f.fileno())
            self.last_sync = now


def journal_backend(path: str | os.PathLike[str]) -> TrialSyncedJournal:
    """The backend for the journal file at ``path`` (created if missing)."""
    # The symlink lock is the fast default on POSIX; Windows needs the open() lock.
    lock = JournalFileOpenLock(str(path)) if os.name == "nt" else None
    return TrialSyncedJournal(str(path), lock_obj=lock)


@contextlib.contextmanager
def _locked(lock: Any) -> Iterator[None]:
    """Hold the journal's file lock (the one Optuna's own writers take)."""
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _cut_torn_tail(f: Any, path: str) -> None:
    """Truncate ``f`` after its last newline. Call under the journal's lock only:
    there no write is in flight, so bytes after the last newline are a torn record."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    end = size
    while end > 0:  # find the last newline, reading backwards
        start = max(0, end - _READ_BACK)
        f.seek(start)
        chunk = f.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            end = start + cut + 1
            break
        end = start
    f.seek(end)
    torn = f.read(min(size - end, _READ_BACK))
    f.truncate(end)
    _warn_torn(path, torn, size - end)


def _warn_torn(path: str, torn: bytes, nbytes: int | None = None, *, line: int | None = None) -> None:
    """Say which torn record of ``path`` was dropped (the last one, or the one on
    ``line`` that a later record was glued onto).

    Every read meets the torn record again; the warning is the same text from
    the same place each time, so Python's default filter (and the CLI's) shows
    it once.
    """
    which = "its incomplete last record" if line is None else f"an incomplete record on line {line}"
    warnings.warn(TuneWarning(
        f"{path}: dropped {which} ({describe_torn(torn, nbytes)}), cut short by a crash "
        f"during a write; every complete record is kept"), stacklevel=1)


def describe_torn(torn: bytes, nbytes: int | None = None) -> str:
    """``"170 bytes of a trial result record, trial_id 2"``, or ``"512 zero bytes"``."""
    n = len(torn) if nbytes is None else nbytes
    if not torn.strip(b"\0"):
        return f"{n} zero bytes"
    op = re.search(rb'"op_code":(\d+)', torn)
    trial = re.search(rb'"trial_id":(\d+)', torn)
    what = _OPERATIONS.get(int(op[1]), "journal") if op else "journal"
    return f"{n} bytes of a {what} record" + (f", trial_id {int(trial[1])}" if trial else "")
