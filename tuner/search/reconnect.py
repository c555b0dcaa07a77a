"""Riding out a storage that goes away: retry with backoff, then give up in one line.

A worker's every storage call (asking for a trial, reporting an epoch,
telling how a trial ended, reading the study) goes through
:class:`RetryingStorage`. When the call fails because the server cannot be
reached (a restart, a network cut), it is retried with exponential backoff
(0.25 s doubling to 8 s) for up to :data:`PATIENCE_SECONDS`; then
:class:`StorageLost` stops the worker (the CLI: one line, exit 1). Its
running trial stays RUNNING in the storage, its heartbeat stops, and the
next worker to claim a trial (or a rerun) reclaims it; everything already
stored stays.

A retried write may have reached the server before the connection broke:
finishing a trial again is then recognised as done; a trial created twice
leaves a RUNNING trial without a lease, which is reclaimed like a lost one.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator, TypeVar

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat

from tuner.errors import RunError
from tuner.search.storage import mask_secrets

PATIENCE_SECONDS = 60.0
FIRST_DELAY, MAX_DELAY = 0.25, 8.0

T = TypeVar("T")

_DRIVER_ERRORS = {"sqlalchemy", "psycopg", "psycopg2", "pymysql", "MySQLdb", "sqlite3"}


class StorageLost(RunError):
    """The storage stayed unreachable for :data:`PATIENCE_SECONDS`."""


@contextlib.contextmanager
def skipping_connection_errors() -> Iterator[None]:
    """Around a refresh that may simply be skipped (progress, a watch) while the
    server is away: a connection error passes silently, anything else is raised."""
    try:
        yield
    except Exception as e:
        if not is_connection_error(e):
            raise


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the server could not be reached
    or dropped the connection, as opposed to a refused request."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        kind, root = type(e).__name__, type(e).__module__.split(".")[0]
        if root in _DRIVER_ERRORS and kind in ("OperationalError", "InterfaceError"):
            return True
        if root == "sqlalchemy" and getattr(e, "connection_invalidated", False):
            return True
        if root == "redis" and kind in ("ConnectionError", "TimeoutError", "BusyLoadingError"):
            return True
        e = e.__cause__ or e.__context__
    return False


def _first_line(error: BaseException) -> str:
    cause: BaseException = error
    while cause.__cause__ is not None:  # Optuna wraps the driver's error
        cause = cause.__cause__
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _forward(name: str) -> Callable[..., Any]:
    def method(self: RetryingStorage, *args: Any, **kwargs: Any) -> Any:
        return self.call(lambda: getattr(self.inner, name)(*args, **kwargs))
    method.__name__ = name
    return method


class RetryingStorage(BaseStorage, BaseHeartbeat):
    """``inner`` (any Optuna storage) with each call retried while the server is
    unreachable, for up to :data:`PATIENCE_SECONDS` (read when it is made).

    Args:
        inner: The storage to wrap.
        describe: How to name the storage in the error (password masked).
        url: The ``--storage`` URL, so that its password is masked in errors too.
    """

    def __init__(self, inner: Any, *, describe: str, url: str | None = None) -> None:
        self.inner = inner
        self.describe = describe
        self.url = url
        self.patience = PATIENCE_SECONDS

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried on connection errors; raises :class:`StorageLost` after ``patience``."""
        first_failure: float | None = None
        delay = FIRST_DELAY
        while True:
            try:
                return fn()
            except Exception as e:
                if not is_connection_error(e):
                    raise
                now = time.monotonic()
                first_failure = now if first_failure is None else first_failure
                left = self.patience - (now - first_failure)
                if left <= 0:
                    raise StorageLost(
                        f"lost the connection to the storage {self.describe} for "
                        f"{self.patience:.0f} s ({mask_secrets(_first_line(e), self.url)[:200]})",
                        "nothing stored is lost; the running trial will be reclaimed and retried "
                        "by the next worker or rerun: check the server, then run the same command "
                        "again") from None
                time.sleep(min(delay, left))
                delay = min(2 * delay, MAX_DELAY)

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        attempts = 0

        def once() -> bool:
            nonlocal attempts
            attempts += 1
            try:
                return self.inner.set_trial_state_values(trial_id, state, values)
            except UpdateFinishedTrialError:
                # Retried after the connection broke mid-commit: the lost attempt may have landed.
                if attempts > 1 and state.is_finished() and self.inner.get_trial(trial_id).state == state:
                    return True
                raise

        return self.call(once)

    # BaseStorage, every call forwarded with retries.
    create_new_study = _forward("create_new_study")
    delete_study = _forward("delete_study")
    set_study_user_attr = _forward("set_study_user_attr")
    set_study_system_attr = _forward("set_study_system_attr")
    get_study_id_from_name = _forward("get_study_id_from_name")
    get_study_name_from_id = _forward("get_study_name_from_id")
    get_study_directions = _forward("get_study_directions")
    get_study_user_attrs = _forward("get_study_user_attrs")
    get_study_system_attrs = _forward("get_study_system_attrs")
    get_all_studies = _forward("get_all_studies")
    create_new_trial = _forward("create_new_trial")
    set_trial_param = _forward("set_trial_param")
    get_trial_id_from_study_id_trial_number = _forward("get_trial_id_from_study_id_trial_number")
    get_trial_number_from_id = _forward("get_trial_number_from_id")
    get_trial_param = _forward("get_trial_param")
    set_trial_intermediate_value = _forward("set_trial_intermediate_value")
    set_trial_user_attr = _forward("set_trial_user_attr")
    set_trial_system_attr = _forward("set_trial_system_attr")
    get_trial = _forward("get_trial")
    get_all_trials = _forward("get_all_trials")
    get_n_trials = _forward("get_n_trials")
    get_best_trial = _forward("get_best_trial")
    get_trial_params = _forward("get_trial_params")
    get_trial_user_attrs = _forward("get_trial_user_attrs")
    get_trial_system_attrs = _forward("get_trial_system_attrs")

    def remove_session(self) -> None:
        self.inner.remove_session()

    # BaseHeartbeat: the inner storage's, if it keeps heartbeats (RDB). Optuna's
    # heartbeat thread is not used (tune's Heartbeat renews), so the interval
    # reads as unset and Study.ask does not warn that heartbeats need optimize().
    def record_heartbeat(self, trial_id: int) -> None:
        record = getattr(self.inner, "record_heartbeat", None)
        if record is not None:
            self.call(lambda: record(trial_id))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return []

    def get_heartbeat_interval(self) -> int | None:
        return None

    def get_heartbeat_stale_trial_callback(self) -> Any:
        return None


def retrying(inner: Any, *, describe: str, url: str | None = None) -> RetryingStorage:
    """``inner`` with its calls retried; an ``RDBStorage`` keeps Optuna's cache of
    finished trials (what ``optuna.load_study`` gives an RDB)."""
    from optuna.storages import RDBStorage

    if isinstance(inner, RDBStorage):
        try:
            from optuna.storages._cached_storage import _CachedStorage

            inner = _CachedStorage(inner)
        except ImportError:  # another Optuna layout: uncached reads are slower, not wrong
            pass
    return RetryingStorage(inner, describe=describe, url=url)
