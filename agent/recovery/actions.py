"""The closed set of actions a runbook step may use, each declaring whether it is read-only.

========================  =========  ==============================================================
action                    read-only  what it does
========================  =========  ==============================================================
``probe``                 yes        run an argv that only reads (checked against readonly.py's allow-list)
``run``                   no         run an argv that may change the host
``read_file``             yes        read a host file and test its content
``baseline_diff``         yes        diff the stored baseline against a live capture
``baseline_compare``      yes        a named comparison with the baseline (stale MACs, ...)
``wait``                  yes        sleep (a settle time; skipped in a dry run)
``answer``                yes        test a typed answer given earlier in the run
``notified``              yes        the status service accepted this step's update (or notify is off)
``manual``                no         show instructions, require a typed answer matching a pattern
``notify``                no         post an incident update to the customer status service
========================  =========  ==============================================================

Commands are argv lists handed to :meth:`Host.run`; there is no shell anywhere. ``probe`` argvs
are classified by pattern, not by program (``mdadm --detail`` reads, ``mdadm --manage`` does
not; ``zpool import`` lists, ``zpool import tank`` imports), at load time and again after
templating, and the executor's dry-run guard refuses to run anything else.

This module is the registry (:data:`ACTIONS`, looked up by the ``action`` name a runbook step
gives) and the one import for the pieces an action is made of. Those live in:
:mod:`~agent.recovery.action_base` (Action, ActionContext, Outcome, evidence),
:mod:`~agent.recovery.expect` (the expectation language), :mod:`~agent.recovery.readonly` (the
read-only allow-list), :mod:`~agent.recovery.actions_command`, :mod:`~agent.recovery.actions_operator`
and :mod:`~agent.recovery.actions_baseline` (the action classes), and
:mod:`~agent.recovery.baseline_checks` (the named baseline comparisons). More actions register
themselves here from ``actions_backup``, ``actions_data`` and ``actions_updates``.
"""

from __future__ import annotations

from agent.recovery.action_base import OUTPUT_HEAD, OUTPUT_TAIL, Action, ActionContext, EvidenceHost, Outcome, bounded
from agent.recovery.actions_baseline import BaselineCompare, BaselineDiff, BaselineExported, BaselineSave, BaselineSaved
from agent.recovery.actions_command import Probe, ReadFile, Run, Wait
from agent.recovery.actions_operator import Answer, ChildDone, ChildRun, Manual, NicRebind, Notified, Notify
from agent.recovery.errors import DryRunViolation, SpecError
from agent.recovery.expect import EXPECT_KEYS, evaluate, validate_expect
from agent.recovery.readonly_programs import argv_read_only

_EvidenceHost = EvidenceHost  # the name the sibling action modules use

__all__ = ["ACTIONS", "EXPECT_KEYS", "OUTPUT_HEAD", "OUTPUT_TAIL", "Action", "ActionContext", "Answer", "BaselineCompare",
           "BaselineDiff", "BaselineExported", "BaselineSave", "BaselineSaved", "ChildDone", "ChildRun", "DryRunViolation", "EvidenceHost",
           "Manual", "NicRebind", "Notified", "Notify", "Outcome", "Probe", "ReadFile", "Run", "SpecError", "Wait",
           "argv_read_only", "bounded", "evaluate", "validate_expect"]

ACTIONS: dict[str, type[Action]] = {c.name: c for c in (Probe, Run, ReadFile, BaselineDiff, BaselineCompare, Wait,
                                                        Answer, Notified, Manual, Notify, NicRebind, ChildRun,
                                                        ChildDone, BaselineSave, BaselineSaved, BaselineExported)}
