"""Jobs: scheduled actions the daemon runs that are not reading (collectors only read).

Each job names the collector after whose run it is scheduled (``after``) and says from that
collector's options whether it is wanted; the daemon runs it on that run's enriched readings.
"""

from agent.jobs.selftests import SelfTestJob

JOBS = (SelfTestJob,)

__all__ = ["JOBS", "SelfTestJob"]
