"""Kernel-log samplers: event counters since agent start, records read and lost, last event time."""

from __future__ import annotations

from agent.model import Snapshot
from agent.model.events import KernelLogStatus


def kernel_log(snap: Snapshot, emit) -> None:
    for st in snap.of_type(KernelLogStatus):
        emit("hwagent_kernel_log_records_total", {}, st.records_total)
        emit("hwagent_kernel_log_records_lost_total", {}, st.records_lost_total)
        emit("hwagent_kernel_log_malformed_records_total", {}, st.malformed_total)
        emit("hwagent_kernel_log_backlog_events", {}, st.backlog)
        emit("hwagent_kernel_log_backlog_dropped_total", {}, st.backlog_dropped_total)
        emit("hwagent_kernel_events_coalesced_total", {}, st.coalesced_total)
        for (cls, sev), n in sorted(st.events_total.items()):
            emit("hwagent_kernel_events_total", {"class": cls, "severity": sev}, n)
        for cls, t in sorted(st.last_event_time.items()):
            emit("hwagent_kernel_event_last_timestamp_seconds", {"class": cls}, t)


SAMPLERS = (kernel_log,)
