"""Kernel log classification: /dev/kmsg records and dmesg/syslog/pstore text -> typed hardware events.

* :mod:`.record`: the kmsg record format (header, ``\\xNN`` escapes, dictionary lines) and shared helpers;
* :mod:`.classifier`: the two-stage classifier and the grouping of multi-record incidents;
* one module per message family (``mce``, ``ghes``, ``edac``, ``memfail``, ``pci``, ``ata``, ``scsi``,
  ``block``, ``nvme``, ``md``, ``fs``, ``thermal``, ``lockup``, ``journal``), each with its ``HEAD``
  (message starts for the prefilter), its ``Parser`` and its ``EXAMPLES`` (run as tests).
"""

from typing import Any

from agent.collectors.patterns.classifier import HEAD, Classifier, classify_lines, load_families
from agent.collectors.patterns.record import MAX_RECORD, disk_of, iter_kmsg_records, parse_kmsg_header, unescape_kmsg


def __getattr__(name: str) -> Any:
    """FAMILIES and decode_mci_status import the family modules, so only when asked for
    (the classifier loads a family when its first message arrives)."""
    if name == "FAMILIES":
        return load_families()
    if name == "decode_mci_status":
        from agent.collectors.patterns.mce import decode_mci_status  # noqa: PLC0415

        return decode_mci_status
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Classifier", "HEAD", "FAMILIES", "classify_lines", "decode_mci_status", "MAX_RECORD", "disk_of",
           "iter_kmsg_records", "parse_kmsg_header", "unescape_kmsg"]
