"""rasdaemon's event database as a source of hardware events (read-only).

When rasdaemon runs it consumes the kernel's RAS trace events (mc_event, aer_event, mce_record,
extlog, devlink, block error, memory_failure) into ``/var/lib/rasdaemon/ras-mc_event.db``; with
mcelog or rasdaemon consuming machine checks the kernel log holds no decoded MCE block at all. This
module reads that foreign database (opened read-only, never written) and turns its rows into
:class:`~agent.model.events.KernelEvent` with the classes the kernel-log classifier uses, so the same
rules judge them.

Rows are read after a per-table cursor (the highest ``id`` seen, kept by the caller in the state
store), so restarts do not count a row twice; a table whose ids went backwards (database recreated)
is read from the start again. The schema is rasdaemon's ``ras-record.c`` (``db_fields`` arrays);
columns are looked up by name, so the 0.6.x and 0.8.x layouts both work and a table rasdaemon was
built without is simply absent.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from agent.model import Severity
from agent.model.events import KernelEvent

__all__ = ["RasdaemonReader", "TABLES", "DEFAULT_DB", "MAX_ROWS_PER_READ"]

DEFAULT_DB = "/var/lib/rasdaemon/ras-mc_event.db"
MAX_ROWS_PER_READ = 5000  # per table and call: a backlog is worked off over several runs
BOOT = "rasdaemon"  # rows carry wall-clock times, not boots: one stable identity across restarts

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO


class RasdaemonError(Exception):
    """The database exists but cannot be read (names the file)."""


def _ts(text: Any) -> float | None:
    """rasdaemon's "%Y-%m-%d %H:%M:%S %z" timestamps."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z").timestamp()
    except (ValueError, OverflowError):
        return None


def _u64(v: Any) -> int | None:
    """MCE registers are stored as signed 64-bit integers (sqlite3_bind_int64 of a u64)."""
    if isinstance(v, int):
        return v & 0xFFFF_FFFF_FFFF_FFFF
    return None


def _mc_event(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    kind = str(r.get("err_type") or "")
    if kind.startswith("Corrected"):
        cls, sev = "edac.ce", I
    elif kind.startswith(("Uncorrected", "Fatal")):
        cls, sev = "edac.ue", C
    else:
        return None  # "Info": status, not an error
    mc = r.get("mc")
    label = str(r.get("label") or "")
    device = label if label and label != "unknown memory" else f"mc{mc}"
    n = r.get("err_count")
    count = n if isinstance(n, int) and n > 0 else 1
    d: dict[str, Any] = {"mc": mc, "count": count, "message": r.get("err_msg") or "", "label": label,
         "layers": f"{r.get('top_layer')}:{r.get('middle_layer')}:{r.get('lower_layer')}"}
    if isinstance(r.get("address"), int):
        d["address"] = f"0x{_u64(r['address']):x}"
    if r.get("driver_detail"):
        d["info"] = str(r["driver_detail"]).strip()
    return cls, sev, "memory", device, d, count


def _aer_event(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    kind = str(r.get("err_type") or "")
    if kind.startswith("Corrected"):
        cls, sev = "aer.corrected", I
    elif "Fatal" in kind and "Non-Fatal" not in kind:
        cls, sev = "aer.fatal", C
    elif kind.startswith("Uncorrected"):
        cls, sev = "aer.nonfatal", W
    else:
        return None
    msg = str(r.get("err_msg") or "")
    bits, _, tlp = msg.partition(" TLP Header: ")
    d: dict[str, Any] = {"bits": tuple(b.strip() for b in bits.split(",") if b.strip()), "severity_text": kind}
    if tlp:
        d["tlp_header"] = tlp.strip()
    dev = str(r.get("dev_name") or "pcie")
    return cls, sev, "pcie", dev, d, 1


def _mce_record(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    status = _u64(r.get("status"))
    if status is None:
        return None
    from agent.collectors.patterns.mce import _mce_class, decode_mci_status  # noqa: PLC0415 - only with a machine check to decode

    st = decode_mci_status(status)
    cls, sev = _mce_class(st)
    d: dict[str, Any] = {"status": f"0x{status:016x}", "bank": r.get("bank"), "cpu": r.get("cpu"),
                         "mca_code": st["mca_code"]}
    if st.get("error_kind"):
        d["error_kind"] = st["error_kind"]
    for k in ("bank_name", "error_msg", "mcistatus_msg", "user_action", "mc_location"):
        if r.get(k):
            d[k] = str(r[k]).strip()
    if r.get("addr"):
        d["address"] = f"0x{_u64(r['addr']):x}"
    comp = "memory" if st.get("error_kind") == "memory controller" else "cpu"
    sock = r.get("socketid")
    return cls, sev, comp, f"socket{sock}" if isinstance(sock, int) else "cpu", d, 1


_EXTLOG_SEV = {0: ("edac.ue", C), 1: ("edac.ue", C), 2: ("edac.ce", I)}  # CPER: recoverable, fatal, corrected


def _extlog_event(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    cls_sev = _EXTLOG_SEV.get(r.get("severity"))  # type: ignore[arg-type]
    if cls_sev is None:
        return None
    n = r.get("error_count")
    count = n if isinstance(n, int) and n > 0 else 1
    fru = str(r.get("fru_text") or "").strip()
    d: dict[str, Any] = {"count": count, "etype": r.get("etype"), "label": fru, "source_table": "extlog"}
    if isinstance(r.get("address"), int):
        d["address"] = f"0x{_u64(r['address']):x}"
    return cls_sev[0], cls_sev[1], "memory", fru or "memory", d, count


def _memory_failure(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    result = str(r.get("action_result") or "").strip()
    d = {"pfn": r.get("pfn"), "page_type": r.get("page_type"), "result": result}
    return "memory.failure", W if result == "Recovered" else C, "memory", "memory", d, 1


def _disk_error(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    d = {"sector": r.get("sector"), "sectors": r.get("nr_sector"), "status": r.get("error"), "op": r.get("rwbs")}
    dev = str(r.get("dev") or "disk")  # "major:minor"; the caller maps it to a name
    return "block.io_error", W, f"disk:{dev}", dev, d, 1


def _devlink(r: dict[str, Any]) -> tuple[str, Severity, str, str, dict, int] | None:
    d = {"bus": r.get("bus_name"), "driver": r.get("driver_name"), "reporter": r.get("reporter_name"),
         "message": r.get("msg")}
    return "devlink.health", W, "pcie", str(r.get("dev_name") or "devlink"), d, 1


# table -> row converter; order is the order of reading
TABLES: dict[str, Callable[[dict[str, Any]], tuple[str, Severity, str, str, dict, int] | None]] = {
    "mc_event": _mc_event, "aer_event": _aer_event, "mce_record": _mce_record, "extlog_event": _extlog_event,
    "memory_failure_event": _memory_failure, "disk_errors": _disk_error, "devlink_event": _devlink,
}


class RasdaemonReader:
    """Reads new rows of a rasdaemon database after a cursor (``{table: last id}``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self, cursor: dict[str, int], now: float) -> tuple[list[KernelEvent], dict[str, int]]:
        """(events of rows after the cursor, the new cursor). Raises :class:`RasdaemonError`."""
        new_cursor = dict(cursor)
        events: list[KernelEvent] = []
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=2.0)
        except sqlite3.Error as exc:
            raise RasdaemonError(f"{self.path}: {exc}") from exc
        try:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, conv in TABLES.items():
                if table not in tables:
                    continue
                last = int(cursor.get(table, 0))
                top = conn.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0  # noqa: S608 - fixed names
                if top < last:  # ids went backwards: the database was recreated
                    last = 0
                new_cursor[table] = last
                for row in self._rows(conn, table, last):
                    new_cursor[table] = row["id"]
                    ev = self._event(table, conv, row, now)
                    if ev is not None:
                        events.append(ev)
        except sqlite3.Error as exc:
            raise RasdaemonError(f"{self.path}: {exc}") from exc
        finally:
            conn.close()
        return events, new_cursor

    @staticmethod
    def _rows(conn: sqlite3.Connection, table: str, after: int) -> Iterator[dict[str, Any]]:
        cur = conn.execute(f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608 - fixed names
                           (after, MAX_ROWS_PER_READ))
        names = [c[0] for c in cur.description]
        for values in cur:
            yield dict(zip(names, values, strict=True))

    @staticmethod
    def _event(table: str, conv, row: dict[str, Any], now: float) -> KernelEvent | None:
        try:
            got = conv(row)
        except (TypeError, ValueError):
            return None
        if got is None:
            return None
        cls, sev, comp, dev, detail, count = got
        t = _ts(row.get("timestamp"))
        detail = {k: v for k, v in detail.items() if v not in (None, "", ())}
        detail.update(rasdaemon_table=table, rasdaemon_id=row["id"])
        raw = f"rasdaemon {table} #{row['id']} {row.get('timestamp') or ''}: " + \
            ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("id", "timestamp") and not isinstance(v, bytes)
                      and v not in (None, ""))
        return KernelEvent(cls=cls, severity=sev, component=comp, device=dev, detail=detail, raw=(raw[:1024],),
                           source="rasdaemon", boot_id=BOOT, time=t if t is not None else now, count=count)
