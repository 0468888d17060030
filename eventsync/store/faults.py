"""Whose fault a store error is: a row's (the store cannot hold these values) or the
store's (it cannot do any work now). Callers answer them differently: a row's fault is
that row's rejection; a store fault is `StoreUnavailable` (the API's 503 with
Retry-After, the CLI's error), never a rejection of the input.
"""

from __future__ import annotations

from sqlalchemy import exc

from eventsync.errors import StoreUnavailable

# What the store refuses of a row's values: a value it cannot hold (DataError: too long,
# invalid encoding), a constraint the row breaks (IntegrityError).
_ROW_FAULTS = (exc.DataError, exc.IntegrityError)
# Our own SQL, not the store's state: a bug to fix, not a reason to retry.
_CODE_FAULTS = (exc.ProgrammingError, exc.NotSupportedError)


def is_row_fault(error: BaseException) -> bool:
    """The store refused the values of the statement's rows. A StatementError that is not
    a DBAPIError is the driver refusing a value before sending it (e.g. a NUL)."""
    if isinstance(error, _ROW_FAULTS):
        return True
    return isinstance(error, exc.StatementError) and not isinstance(error, exc.DBAPIError)


def is_store_fault(error: BaseException) -> bool:
    """The store could not do the work, whatever the input: connection refused or
    dropped (OperationalError, InterfaceError), disk full, lock or statement timeout,
    serialization failure, the server's internal error, no pooled connection in time."""
    if isinstance(error, exc.DBAPIError):
        return not isinstance(error, (*_ROW_FAULTS, *_CODE_FAULTS))
    return isinstance(error, (exc.TimeoutError, exc.DisconnectionError))


def unavailable(error: BaseException) -> StoreUnavailable:
    """The StoreUnavailable of a store fault: the driver's error class and the first
    line of its message (never SQLAlchemy's text, which carries the statement and its
    parameters)."""
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return StoreUnavailable(type(orig).__name__, lines[0][:200] if lines else "")
