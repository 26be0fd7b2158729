"""The documentation an operator navigates: every rule id has a findings entry, every alert's
runbook_url lands on a heading, every relative link resolves, the README stays short and keeps
its two commands, the man pages build."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from agent.mixin import Settings
from agent.mixin.alerts import all_alerts, family_for
from tools.docgen import rule_entries

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BASE = "https://docs.invalid/hw"
RULE_IDS = [rid for entries in rule_entries().values() for rid, *_ in entries]


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped (but - and _), spaces to -."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    out, seen, fence = set(), {}, False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"#{1,6} (.+)", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def test_slug_matches_github_for_rule_headings():
    assert slug("`disk.smart_failed`") == "disksmart_failed"
    assert slug("Absent is not failed") == "absent-is-not-failed"


@pytest.mark.parametrize("rid", RULE_IDS)
def test_every_rule_id_has_a_findings_entry(rid):
    page = DOCS / "findings" / f"{rid.split('.')[0]}.md"
    assert page.exists(), f"no findings page for {rid}"
    assert rid.replace(".", "") in anchors(page), f"{page.name} has no heading for {rid}"


def _runbook_targets() -> list[tuple[str, str]]:
    """(alert, expanded runbook_url) for every alert and every rule id it can carry."""
    out = []
    for a in all_alerts(Settings(runbook_base=BASE)):
        url = a["annotations"]["runbook_url"]
        if "$labels.rule" not in url:
            out.append((a["alert"], url))
            continue
        for rid in RULE_IDS:
            fam = family_for(rid)
            if (fam and a["alert"].startswith(f"Hwagent{fam.stem}") and a["alert"][len(f"Hwagent{fam.stem}"):]
                    in ("Critical", "Warning")):
                out.append((a["alert"], url.replace('{{ $labels.rule | reReplaceAll "[.].*" "" }}', rid.split(".")[0])
                            .replace('{{ $labels.rule | reReplaceAll "[.]" "" }}', rid.replace(".", ""))))
    return out


def test_every_runbook_url_resolves_to_a_heading():
    targets = _runbook_targets()
    assert len(targets) >= len(RULE_IDS)
    for alert, url in targets:
        assert url.startswith(BASE + "/"), url
        rel, _, anchor = url[len(BASE) + 1:].partition("#")
        page = DOCS / rel
        assert page.exists(), f"{alert}: {url}: no page {rel}"
        assert anchor in anchors(page), f"{alert}: {url}: no heading #{anchor} in {rel}"


MD_FILES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("md", MD_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md):
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        rel, _, anchor = target.partition("#")
        dest = (md.parent / rel).resolve() if rel else md
        assert dest.exists(), f"{md.name}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{md.name}: no heading #{anchor} in {rel or md.name}"


@pytest.mark.parametrize("page", sorted((DOCS / "findings").glob("*.md")), ids=lambda p: p.name)
def test_findings_pages_say_what_to_do(page):
    assert "What to do" in page.read_text() or page.name == "README.md"


def test_readme_is_short_and_keeps_its_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert ("apt-get update && apt-get install -y python3-venv smartmontools ipmitool && python3 -m venv "
            "/opt/hwagent && /opt/hwagent/bin/pip install . && /opt/hwagent/bin/agent run") in text
    assert "\nbash tests/run.sh\n" in text
    head = text.split("\n## ", 1)[0]
    assert "/opt/hwagent/bin/agent run" in head and "bash tests/run.sh" in head, "the two commands stay at the top"


def test_readme_tables_name_every_collector_and_command():
    from agent.collectors import COLLECTORS
    from tools.docgen import command_tree

    text = (ROOT / "README.md").read_text()
    for c in COLLECTORS:
        assert re.search(rf"^\| `{c.name}` \|", text, re.M), f"collector {c.name} missing from the README table"
    for path, cmd in command_tree():
        if len(path) == 2 and not cmd.hidden:
            assert f"`agent {path[1]}" in text, f"command {path[1]} missing from the README table"


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
@pytest.mark.parametrize("page", ["man1/agent.1", "man5/agent-config.5"])
def test_man_pages_build_without_warnings(page):
    res = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man" / page)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    out = subprocess.run(["groff", "-man", "-Tutf8", str(ROOT / "man" / page)], capture_output=True, text=True,
                         timeout=60).stdout
    out = re.sub(".\x08", "", out)  # overstrike bold/underline
    assert "agent" in out and ("COMMANDS" in out if page.startswith("man1") else "[exporter]" in out)
