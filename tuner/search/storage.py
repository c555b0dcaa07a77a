"""Where studies live: the default journal file in ``--out``, or any Optuna URL.

The default is one Optuna journal file, ``<out>/studies.journal``, holding
every study. A journal is an append-only log guarded by a file lock, so
several processes (``--jobs N``, or several ``tune search`` runs) can write to
it at once; SQLite, by contrast, is discouraged by Optuna for parallel
writers. It needs no server, and ``optuna-dashboard`` and the ``optuna`` CLI
open it as it is.

``--storage URL`` takes any Optuna storage: ``postgresql://…`` (with the
``tune[postgres]`` extra, psycopg 3) or ``mysql://…`` (an RDB that workers on
many machines share),
``sqlite:///file.db``, ``redis://…`` (a journal in Redis), or the path of a
journal file.
"""

from __future__ import annotations

import re
import time
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
    from optuna.storages import JournalStorage

    _quiet_optuna()
    if url is None:
        return JournalStorage(_journal_backend(out_dir(out) / JOURNAL_NAME))
    try:
        if url.startswith("redis://") or url.startswith("rediss://") or url.startswith("unix://"):
            from optuna.storages.journal import JournalRedisBackend

            return JournalStorage(JournalRedisBackend(url))
        if "://" in url:
            return _open_rdb(url)
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
                        "install it, e.g. pip install 'tune[postgres]' for PostgreSQL") from None
    except Exception as e:  # sqlalchemy/redis errors: a bad URL or an unreachable server
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TuneError(f"--storage {mask_url(url)}: cannot open it ({mask_secrets(first, url)[:200]})",
                        "check the URL, the server and the credentials") from None


def _open_rdb(url: str) -> Any:
    """Optuna's RDB storage. Workers on several machines starting at once on an
    empty database all create Optuna's tables; the losers of that race see a
    duplicate-key error and simply open the tables the winner made."""
    import optuna

    for attempt in range(SCHEMA_RACE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(rdb_url(url), engine_kwargs=_engine_kwargs(url))
        except Exception as e:
            if attempt + 1 == SCHEMA_RACE_ATTEMPTS or not _is_duplicate(e):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


SCHEMA_RACE_ATTEMPTS = 5


def _is_duplicate(error: BaseException) -> bool:
    while error is not None:
        if type(error).__name__ in ("IntegrityError", "UniqueViolation", "DuplicateTable",
                                    "DuplicateObject"):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


POSTGRES_SCHEMES = ("postgresql", "postgres")
# libpq settings for workers that must notice a dead server or network: give up
# connecting after 10 s, and probe an idle connection after 10 s (3 probes, 5 s apart).
POSTGRES_CONNECT = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10,
                    "keepalives_interval": 5, "keepalives_count": 3}


def is_server_url(url: str | None) -> bool:
    """Whether ``--storage`` names a server that workers on several machines
    share (PostgreSQL, MySQL, Redis), rather than a file on this one."""
    return url is not None and "://" in url and not url.startswith("sqlite")


def rdb_url(url: str) -> str:
    """The SQLAlchemy URL for an RDB ``--storage``.

    SQLAlchemy reads a plain ``postgresql://`` as the psycopg2 driver;
    ``tune[postgres]`` installs psycopg 3, so the URL names it when psycopg 3
    is what is installed. A missing driver is said before connecting.

    Raises:
        TuneError: no PostgreSQL driver is installed.
    """
    from importlib.util import find_spec

    scheme, rest = url.split("://", 1)
    base, _, driver = scheme.partition("+")
    if base not in POSTGRES_SCHEMES:
        return url
    has = {"psycopg": find_spec("psycopg") is not None, "psycopg2": find_spec("psycopg2") is not None}
    wanted = driver or ("psycopg" if has["psycopg"] or not has["psycopg2"] else "psycopg2")
    if wanted in has and not has[wanted]:
        package = "'tune[postgres]' (psycopg 3)" if wanted == "psycopg" else "psycopg2-binary"
        raise TuneError(f"--storage {mask_url(url)}: the PostgreSQL driver {wanted} is not installed",
                        f"pip install {package}")
    return f"postgresql+{wanted}://{rest}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    """Test pooled connections before use, so a restarted server costs no error."""
    if url.split("://", 1)[0].partition("+")[0] not in POSTGRES_SCHEMES:
        return {}  # Optuna already pre-pings MySQL
    from sqlalchemy.engine import make_url

    given = set(make_url(rdb_url(url)).query)
    return {"pool_pre_ping": True,
            "connect_args": {k: v for k, v in POSTGRES_CONNECT.items() if k not in given}}


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
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)(?P<pw>[^&\s]*)", re.IGNORECASE)


def mask_url(url: str | None) -> str | None:
    """``scheme://user:secret@host/db`` -> ``scheme://user:***@host/db`` (and a
    ``password=`` query parameter); paths unchanged."""
    if url is None:
        return None
    url = _PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}", url)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", url)


def mask_secrets(text: str, url: str | None) -> str:
    """``text`` (say, a driver's error message) with the URL's password masked
    wherever it appears, as a URL or on its own."""
    from urllib.parse import unquote

    text = mask_url(text) or ""
    secrets = {m["pw"] for m in (*_PASSWORD.finditer(url or ""), *_QUERY_PASSWORD.finditer(url or ""))}
    for secret in sorted(secrets | {unquote(s) for s in secrets}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def describe_storage(out: str | Path, url: str | None = None) -> str:
    """What to print for the storage: the journal path, or the URL with its password masked."""
    return str(journal_path(out)) if url is None else mask_url(url) or ""


def open_existing_storage(out: str | Path, url: str | None = None) -> Any:
    """The storage that holds the studies to read (``tune best``, ``status``,
    ``diagnose --study``): reading never creates the default journal.

    Raises:
        TuneError: there is no journal in ``out`` and no ``url``.
    """
    if url is None and not journal_path(out).is_file():
        raise TuneError(f"no studies in {journal_path(out)}",
                        "run tune search first, or point --out/--storage at the studies")
    return open_storage(out, url)


def latest_study(out: str | Path, url: str | None = None) -> str | None:
    """The name of the study most recently created or updated, or ``None``
    (see :func:`latest_study_time`)."""
    latest = latest_study_time(out, url)
    return latest[1] if latest else None


def latest_study_time(out: str | Path, url: str | None = None, *,
                      storage: Any = None) -> tuple[datetime, str] | None:
    """When the study most recently created or updated was last touched (created,
    or the start or end of its newest trial), and its name; None when there is
    none. ``storage``: already open (else ``out``/``url`` are, if they exist)."""
    if storage is None:
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

    store = open_existing_storage(out, url)
    latest = None if study else latest_study_time(out, url, storage=store)
    name = study or (latest[1] if latest else None)
    if name is None:
        raise TuneError(f"no studies in {describe_storage(out, url)}", "run tune search first")
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
