"""Hostile strings (quotes, newlines, `</script>`, ANSI escapes) from disks, sensors, operators and
incident text in every output: Prometheus label values, `agent status` text, the recovery Markdown
report and the status page (HTML, Atom, JSON)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.cli.output import render_status
from agent.collectors.smart_parse import parse_json
from agent.exporter.collector import SnapshotCollector
from agent.model import CollectorStatus, Snapshot
from agent.recovery import report
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner, host, runbook
from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg

ROOT = Path(__file__).resolve().parents[3]
HOSTILE = 'WDC "evil"\nmodel\\ </script><img src=x onerror=alert(1)> \x1b[31mRED\x1b[0m | `` ``` \r\x07'


def test_disk_model_label_values_render_a_parseable_exposition():
    doc = json.loads((ROOT / "tests/fixtures/smartctl/corpus/sce-WDC_WD20EFRX-68EUZN0_17.json").read_text())
    doc["model_name"] = HOSTILE
    doc["serial_number"] = 'S"N\n1'
    dev = parse_json(doc, device="sda", path="/dev/sda", now=1.0)
    snap = Snapshot(time=1.0, boot_id="b", readings={"smart": (dev,)}, statuses={"smart": CollectorStatus("smart", ok=True)})
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    text = generate_latest(reg).decode()
    info = [ln for ln in text.splitlines() if ln.startswith("hwagent_disk_info{")]
    assert len(info) == 1 and "\x1b" in info[0] and "\\n" in info[0] and '\\"evil\\"' in info[0]
    fams = list(text_string_to_metric_families(text))  # the whole exposition parses
    labels = next(s.labels for f in fams for s in f.samples if s.name == "hwagent_disk_info")
    assert labels["model"] == HOSTILE.strip(), labels["model"]  # round-trips exactly (smartctl text is stripped)
    assert labels["serial"] == 'S"N\n1'
    lines = text.rstrip("\n").split("\n")  # the format's only line separator (a raw CR inside quotes is legal)
    assert all(ln.startswith(("# HELP ", "# TYPE ", "hwagent_")) for ln in lines)  # no injected line


def test_agent_status_text_escapes_hostile_device_and_summary():
    status = {"hostname": "h\x1b]0;pwned\x07", "worst_severity": "critical", "collectors": {},
              "findings": [{"rule": "disk.smart_failed", "component": "disk", "device": "sda", "severity": "critical",
                            "summary": f"{HOSTILE} reports FAILED", "runbook": None, "acknowledged": False,
                            "subject": HOSTILE}]}
    out = render_status(status)
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    line = next(ln for ln in out.splitlines() if "reports FAILED" in ln)
    assert "\\x1b[31mRED" in line and "</script>" in line  # visible, inert in a terminal
    assert sum("reports FAILED" in ln for ln in out.splitlines()) == 1  # the newline did not split it


def test_recovery_markdown_report_escapes_output_operator_and_failure_text(tmp_path):
    text = f"""
id = "t"
title = "hostile"
[[steps]]
id = "LOOK"
title = "look"
verify = {{ action = "probe", argv = ["cat", "/x"], expect = {{ contains = "never" }} }}
on_failure = {json.dumps(HOSTILE)}
"""
    store = RunStore(tmp_path / "state")
    out = HOSTILE + "\n```\n# Injected heading\n"
    ex = Executor(runbook(text), host(tmp_path / "root", ScriptedRunner(lambda argv: (0, out))), ui=NullUI(),
                  operator='eve"</script>\x1b[2J', store=store)
    rec = ex.start()
    md = report.run_markdown(store.load(rec.run_id).data, runbook(text))
    assert "\x1b" not in md and "\r" not in md and "\x07" not in md
    assert "<script" not in md.replace("  ", " ").split("## Evidence")[0].lower()  # no raw HTML outside code
    assert "&lt;/script&gt;" in md
    for ln in md.splitlines():
        if ln.startswith("| "):
            assert ln.endswith("|") and ln.count(" | ") >= 1  # table rows stay one row
    # the output's own ``` cannot close the code block: the fence is longer than any backtick run
    ev = md.split("## Evidence", 1)[1]
    fence = next(ln.strip() for ln in ev.splitlines() if ln.strip().startswith("```"))
    assert len(fence) > 3 and ev.count(fence) == 2
    assert "  # Injected heading" in ev  # inside the block, indented like the rest


def test_status_page_html_atom_json_with_quotes_newlines_and_ansi():
    h = Harness(make_cfg())
    h.call("POST", "/hooks/alertmanager", alert_payload(annotations={"customer_summary": HOSTILE}))
    # control characters (ESC, CR, BEL) are refused on input: a title or text becomes a mail subject/body
    r = h.call("POST", "/api/incidents/1/updates", {"message": HOSTILE, "cause": HOSTILE, "author": HOSTILE})
    assert r.status == 400 and "control character" in r.json["error"]
    printable = HOSTILE.replace("\x1b", "").replace("\r", "").replace("\x07", "")  # quotes, markup, a line break
    r = h.call("POST", "/api/incidents/1/updates", {"message": printable, "cause": printable.replace("\n", " "),
                                                    "author": "ops"})
    assert r.status in (200, 201), r.body
    for path in ("/", "/en/", "/de/"):
        html = h.call("GET", path, token=None).text
        assert "</script>" not in html.split("<body", 1)[-1].replace("&lt;/script&gt;", "") and "<img" not in html
        assert '"evil"' not in html  # quotes escaped: cannot break out of an attribute
        assert "&lt;/script&gt;" in html
    feed = h.call("GET", "/feed.atom", token=None).text
    root = ET.fromstring(feed.encode())  # still well-formed XML (control characters are not legal XML)
    assert any("</script>" in (e.find("{http://www.w3.org/2005/Atom}content").text or "")
               for e in root.findall("{http://www.w3.org/2005/Atom}entry"))
    summary = json.loads(h.call("GET", "/summary.json", token=None).text)  # strict JSON
    def strings(o):
        if isinstance(o, str):
            yield o
        elif isinstance(o, dict):
            for v in o.values():
                yield from strings(v)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)
    assert any(printable.strip() in x for x in strings(summary))  # JSON carries the exact data (json escapes it)
