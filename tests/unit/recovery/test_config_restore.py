"""config-restore: the review diff (real diff(1)) leaves the host-specific files out."""

from __future__ import annotations

from pathlib import Path

from agent.host import Host
from agent.recovery import runbook as rbm
from agent.recovery.template import Context, fill_obj

BOOK = Path(__file__).resolve().parents[3] / "runbooks" / "config-restore.toml"


def test_review_diff_leaves_host_specific_files_out(tmp_path):
    rb = rbm.load(BOOK)
    scratch, live = tmp_path / "scratch", tmp_path / "live"
    for root, tag in ((scratch / "etc", "backup"), (live, "live")):
        (root / "ssh").mkdir(parents=True)
        (root / "letsencrypt/live/example.org").mkdir(parents=True)
        (root / "machine-id").write_text(f"{tag}-id\n")
        (root / "ssh/ssh_host_ed25519_key").write_text(f"{tag} key\n")
        (root / "letsencrypt/live/example.org/privkey.pem").write_text(f"{tag} cert key\n")
        (root / "fstab").write_text(f"UUID={tag} / ext4 defaults 0 1\n")
        (root / "nginx.conf").write_text(f"worker_processes {tag};\n")
    argv = fill_obj(list(rb.step("CR-05").verify.args["argv"]), Context(params={"scratch": str(scratch)}))
    argv[-1] = str(live)  # /etc of this test
    res = Host().run(argv, 30)
    assert res.rc == 1
    out = res.stdout.decode()
    assert "nginx.conf" in out
    for host_specific in ("machine-id", "ssh_host", "letsencrypt", "fstab"):
        assert host_specific not in out, out
    assert "/etc/letsencrypt" in rb.description and "never copied back" in rb.description
