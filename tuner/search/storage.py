"""Where studies live: the default journal file in ``--out``, or any Optuna URL.

The default is one Optuna journal file, ``<out>/studies.journal``, holding
every study. A journal is an append-only log guarded by a file lock, so
several processes (``--jobs N``, or several ``tune search`` runs) can write to
it at once; SQLite, by contrast, is discouraged by Optuna for parallel
writers. It needs no server, and ``optuna-dashboard`` and the ``optuna`` CLI
open it as it is.

``--storage URL`` takes any Optuna storage: ``postgresql://…`` or
``mysql://…`` (an RDB that workers on many machines share),
``sqlite:///file.db``, ``redis://…`` (a journal in Redis), or the path of a
journal file.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from tuner.errors import TuneError
from tuner.outdir import out_dir

JOURNAL_NAME = "studies.journal"
CREATED_AT = "created_at"  # study user attr: ISO time the study was created


def journal_path(out: str | Path) -> Path:
    """The default journal file of ``out``."""
    return Path(out) / JOURNAL_NAME


def open_storage(out: str | Path, url: str | None = None) -> Any:
    """The Optuna storage for ``--out``/``--storage``.

    Args:
        out: The ``--out`` folder; holds the default journal (created on demand).
        url: ``--storage``: an Optuna storage URL or a journal file path;
            ``None`` for the default journal.

    Raises:
        TuneError: the URL cannot be opened (bad scheme, missing driver,
            unreachable server), said in one line.
    """
    import optuna
    from optuna.storages import JournalStorage

    _quiet_optuna()
    if url is None:
        return JournalStorage(_journal_backend(out_dir(out) / JOURNAL_NAME))
    try:
        if url.startswith("redis://") or url.startswith("rediss://") or url.startswith("unix://"):
            from optuna.storages.journal import JournalRedisBackend

            return JournalStorage(JournalRedisBackend(url))
        if "://" in url:
            return optuna.storages.RDBStorage(url)
        path = Path(url)
        if path.is_dir():
            raise TuneError(f"--storage {url}: is a folder",
                            "give a journal file path or a URL such as postgresql://user@host/db")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(_journal_backend(path))
    except TuneError:
        raise
    except ImportError as e:
        raise TuneError(f"--storage {mask_url(url)}: a driver is missing ({e.name or e})",
                        "install it, e.g. pip install psycopg2-binary for PostgreSQL") from None
    except Exception as e:  # sqlalchemy/redis errors: a bad URL or an unreachable server
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TuneError(f"--storage {mask_url(url)}: cannot open it ({mask_url(first)[:200]})",
                        "check the URL, the server and the credentials") from None


def _journal_backend(path: Path) -> Any:
    """Optuna's journal file, fsynced per trial and safe against a torn last record."""
    from tuner.search.journal import journal_backend

    return journal_backend(path)


def sync_storage(storage: Any, *, force: bool = False) -> None:
    """Make what a journal file holds durable, unless it was done in the last few
    seconds (``force``: now). A no-op for other storages."""
    sync = getattr(getattr(storage, "_backend", None), "sync", None)
    if sync is not None:
        sync(force=force)


def _quiet_optuna() -> None:
    """Optuna logs every trial to stderr at INFO; tune reports through its own output."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<at>@)")


def mask_url(url: str | None) -> str | None:
    """``scheme://user:secret@host/db`` -> ``scheme://user:***@host/db``; paths unchanged."""
    if url is None:
        return None
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}", url)


def describe_storage(out: str | Path, url: str | None = None) -> str:
    """What to print for the storage: the journal path, or the URL with its password masked."""
    return str(journal_path(out)) if url is None else mask_url(url) or ""


def latest_study(out: str | Path, url: str | None = None) -> str | None:
    """The name of the study most recently created or updated, or ``None``.

    "Updated" is the start or end of its newest trial. Reading never creates
    the default journal: without one there is no study.
    """
    latest = latest_study_time(out, url)
    return latest[1] if latest else None


def latest_study_time(out: str | Path, url: str | None = None) -> tuple[datetime, str] | None:
    """When the most recently created or updated study was last touched, and its
    name (see :func:`latest_study`); None when there is none."""
    if url is None and not journal_path(out).is_file():
        return None
    storage = open_storage(out, url)
    best: tuple[datetime, int, str] | None = None
    for frozen in storage.get_all_studies():
        stamps = [_parse_time(frozen.user_attrs.get(CREATED_AT))]
        for t in storage.get_all_trials(frozen._study_id, deepcopy=False):
            stamps += [t.datetime_start, t.datetime_complete]
        when = max((s for s in stamps if s is not None), default=datetime.min)
        key = (when, frozen._study_id, frozen.study_name)
        if best is None or key > best:
            best = key
    return (best[0], best[2]) if best else None


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def load_named_study(out: str | Path, study: str | None = None,
                     url: str | None = None) -> tuple[Any, str]:
    """The stored study called ``study`` (default: the most recent one) and its name,
    as ``tune best`` and ``tune diagnose --study`` open it.

    Raises:
        TuneError: no studies at all, or none of that name (the message lists them).
    """
    import optuna

    if url is None and not journal_path(out).is_file():
        raise TuneError(f"no studies in {journal_path(out)}",
                        "run tune search first, or point --out/--storage at the studies")
    name = study or latest_study(out, url)
    if name is None:
        raise TuneError(f"no studies in {describe_storage(out, url)}", "run tune search first")
    store = open_storage(out, url)
    try:
        return optuna.load_study(study_name=name, storage=store), name
    except KeyError:
        names = ", ".join(optuna.get_all_study_names(store)) or "none"
        raise TuneError(f"--study {name}: no such study in {describe_storage(out, url)}",
                        f"studies there: {names}") from None


def trial_hp(trial: Any) -> dict[str, Any]:
    """All of a trial's hyperparameters as ``--hp`` takes them (its sampled ones if
    the trial predates that record)."""
    return dict(trial.user_attrs.get("hp") or trial.params)
