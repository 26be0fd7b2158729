"""What the mixins of :class:`hwstatus.incidents.StatusService` use of the service: declared once,
for the type checker only (nothing here exists at run time)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from hwstatus.config import StatuspageConfig
    from hwstatus.store import StatusStore


class ServiceMembers:
    if TYPE_CHECKING:  # provided by StatusService (hwstatus.incidents) and its mixins
        cfg: StatuspageConfig
        store: StatusStore
        clock: Callable[[], float]
        tz: dt.tzinfo
        _changed: Callable[[], None]
        _context: Callable[..., dict[str, Any]]
        _texts: Callable[..., dict[str, str]]
        _incident_row: Callable[..., dict[str, Any]]
        _incident_services: Callable[..., dict[str, str]]
        _add_update: Callable[..., Any]
        _change_impact: Callable[..., None]
        _set_state: Callable[..., None]
        _worst_impact: Callable[..., str]
        _create: Callable[..., Any]
        _resolve: Callable[..., Any]
