"""Collector registry: one explicit, ordered tuple. Its order is the output order."""

from __future__ import annotations

from agent.collectors.aer import AerCollector
from agent.collectors.base import BaseCollector, NoData, run_collector
from agent.collectors.baseline import BaselineCollector
from agent.collectors.edac import EdacCollector
from agent.collectors.hwmon import HwmonCollector
from agent.collectors.ipmi import IpmiCollector
from agent.collectors.kernel_log import KernelLogCollector
from agent.collectors.mdraid import MdraidCollector
from agent.collectors.restore_drill import RestoreDrillCollector
from agent.collectors.smart import SmartCollector
from agent.collectors.system import SystemCollector
from agent.collectors.thermal import ThermalCollector
from agent.collectors.zfs import ZfsCollector

COLLECTORS: tuple[type[BaseCollector], ...] = (
    HwmonCollector,
    ThermalCollector,
    SystemCollector,
    EdacCollector,
    AerCollector,
    IpmiCollector,
    MdraidCollector,
    SmartCollector,
    ZfsCollector,
    KernelLogCollector,
    BaselineCollector,
    RestoreDrillCollector,
)

COLLECTORS_BY_NAME: dict[str, type[BaseCollector]] = {c.name: c for c in COLLECTORS}

__all__ = ["COLLECTORS", "COLLECTORS_BY_NAME", "BaseCollector", "NoData", "run_collector"]
