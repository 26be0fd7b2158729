"""Generate the golden host scenarios synthetic-failing-ata and synthetic-platform.

synthetic-failing-ata: one SATA disk whose smartctl JSON is a real capture (corpus
``sce-sat-HGST_Ultrastar_7K6000-HGST_HUS726040ALA614-sda.json``) with serial, verdict and counters
changed to a failing disk: SMART overall-health FAILED (exit status 8), 40 reallocated
sectors, pending and offline-uncorrectable sectors 2 in the first cycle and 6 a day later
(``commands.2/``: the golden harness runs a second cycle one day later with those recordings), attributes
187/188 added in smartctl's row shape and a failed extended self-test (read failure) in its log;
and a SAS disk, the real failing capture ``sce-SEAGATE_ST373453LC_26.json`` (uncorrected errors).

synthetic-platform: the platform failure signals of a mainboard on the way out, on sysfs layouts of
real drivers: skx_edac with a corrected-error storm on two DIMMs of two channels, AER counters on
two devices behind one root port, a degraded RAID1 (/proc/mdstat from tests/fixtures/platform/mdstat),
and the BMC of the QEMU guest whose fan was forced below its thresholds (real ipmitool output from
tests/fixtures/platform/ipmi/qemu-fan-failure, plus composed 12V/current/power rows in the same
column format) with the composed SEL of sel-mixed and a `sel info` in ipmitool's format; the md
arrays are tests/fixtures/platform/mdstat/raid5-mixed (a raid5 recovering, one degraded with a
failed member); a degraded raidz2 ZFS pool (tests/fixtures/zfs/degraded, composed zpool output);
and the outcome of last night's restore drill (state/restore-drill.json, written by the function
`agent recover restore-drill` uses, from a run record of a restic drill of /srv/www: 48,213 files,
6.1 GB, 20 sampled checksums matched; the golden harness copies state/ into the state directory).

synthetic-cloned-disks: a QEMU guest whose two SATA disks were attached with the same serial
(a VM template cloned with its disk options: `-device ide-hd,serial=LABSATA0001,model="LabDisk
SATA"` twice, on ports 1 and 2 of the ICH9 AHCI), so both report one model+serial without being
two paths to one disk. /dev/sda is the real capture of tests/fixtures/hosts/lab-healthy (its smartctl
--version, its `smartctl --json -x -d sat -n standby,253 /dev/sda` output and exit status 4, its
sysfs entries under 0000:00:1f.2/ata1); /dev/sdb is the same recording with only the device path
changed (smartctl.argv, device.name, device.info_name) and the same sysfs entries moved to ata2
(host1, target1:0:0, 1:0:0:0) with the block device's numbers changed (dev 8:16, MINOR=16,
DEVNAME=sdb, diskseq 4). udev names one by-id link after the serial, so the second disk takes it
(ata-LabDisk_SATA_LABSATA0001 -> sdb); by-path links tell the ports apart.

Run: python -m tests.support.make_golden_hosts   (then review `git diff`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.fakesys import FakeSys
from tests.support.replay import argv_name

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ROOT / "tests" / "fixtures" / "hosts"
CORPUS = ROOT / "tests" / "fixtures" / "smartctl" / "corpus"
PLATFORM = ROOT / "tests" / "fixtures" / "platform"
BASE_DOC = "sce-sat-HGST_Ultrastar_7K6000-HGST_HUS726040ALA614-sda.json"
SERIAL = "SYNFAILATA01"  # the capture's serial is redacted upstream
SCSI_DOC = "sce-SEAGATE_ST373453LC_26.json"  # real failing SAS capture: uncorrected read/write errors
SCAN = {"json_format_version": [1, 0], "smartctl": {"version": [7, 3], "exit_status": 0},
        "devices": [{"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"},
                    {"name": "/dev/sdb", "info_name": "/dev/sdb", "type": "scsi", "protocol": "SCSI"}]}


def _record(commands: Path, tool: str, args: list[str], out: str, rc: int = 0) -> None:
    p = commands / tool / argv_name([tool, *args])
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(out)
    if rc:
        p.with_name(p.name + ".rc").write_text(f"{rc}\n")


def failing_doc(pending: int) -> dict:
    doc = json.loads((CORPUS / BASE_DOC).read_text())
    doc["serial_number"] = SERIAL
    doc["smart_status"] = {"passed": False}
    doc["smartctl"]["exit_status"] = 8
    for row in doc["ata_smart_attributes"]["table"]:
        raw = {5: 40, 197: pending, 198: pending}.get(row["id"])
        if raw is not None:
            row["raw"] = {"value": raw, "string": str(raw)}
    # attributes this drive family lacks, in smartctl's row shape (as a WDC/HGST SATA drive reports them)
    doc["ata_smart_attributes"]["table"] += [
        {"id": 187, "name": "Reported_Uncorrect", "value": 97, "worst": 97, "thresh": 0, "when_failed": "",
         "flags": {"value": 50, "string": "-O--CK ", "prefailure": False, "updated_online": True,
                   "performance": False, "error_rate": False, "event_count": True, "auto_keep": True},
         "raw": {"value": 3, "string": "3"}},
        {"id": 188, "name": "Command_Timeout", "value": 100, "worst": 100, "thresh": 0, "when_failed": "",
         "flags": {"value": 50, "string": "-O--CK ", "prefailure": False, "updated_online": True,
                   "performance": False, "error_rate": False, "event_count": True, "auto_keep": True},
         "raw": {"value": 0, "string": "0"}},
    ]
    doc["ata_smart_self_test_log"] = {"standard": {"revision": 1, "count": 1, "error_count_total": 1,
                                                   "error_count_outdated": 0, "table": [
        {"type": {"value": 2, "string": "Extended offline"},
         "status": {"value": 121, "string": "Completed: read failure", "remaining_percent": 90, "passed": False},
         "lifetime_hours": 33815, "lba": 116751080}]}}
    doc["smartctl"]["exit_status"] = 8 | 128
    return doc


def scsi_doc() -> dict:
    doc = json.loads((CORPUS / SCSI_DOC).read_text())
    doc["serial_number"] = "SYNSAS0002"
    return doc


def failing_ata() -> None:
    case = HOSTS / "synthetic-failing-ata"
    if case.exists():
        shutil.rmtree(case)
    fs = FakeSys(case / "tree")
    fs.proc_basics(boot_id="7d0e1c55-2a61-4f0e-8c1b-5b7c2f1e9a01")
    fs.write("dev/kmsg", "")
    fs.link(f"dev/disk/by-id/ata-HGST_HUS726040ALA614_{SERIAL}", "../../sda")
    fs.write("dev/sda", "")
    fs.write("dev/sdb", "")
    for cycle, pending in ((case / "commands", 2), (case / "commands.2", 6)):
        _record(cycle, "smartctl", ["--version"], "smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0-28-amd64] "
                "(local build)\n")
        _record(cycle, "smartctl", ["--scan-open", "--json"], json.dumps(SCAN, indent=1))
        _record(cycle, "smartctl", ["--json", "-x", "-d", "sat", "-n", "standby,253", "/dev/sda"],
                json.dumps(failing_doc(pending), indent=1), rc=8 | 128)
        _record(cycle, "smartctl", ["--json", "-x", "-d", "scsi", "-n", "standby,253", "/dev/sdb"],
                json.dumps(scsi_doc(), indent=1))
    (case / "SOURCE").write_text(__doc__.split("\n\n")[1] + "\nGenerated by tests/support/make_golden_hosts.py.\n")


def platform() -> None:
    from tests.unit.platform.test_edac_aer import edac_skx, pci_dev  # noqa: PLC0415 - the sysfs layouts

    case = HOSTS / "synthetic-platform"
    if case.exists():
        shutil.rmtree(case)
    fs = FakeSys(case / "tree")
    fs.proc_basics(boot_id="0b5f3a6e-94c1-4d2a-a7e3-3c1d9e8f7a02")
    fs.write("dev/kmsg", "")
    fs.write("dev/ipmi0", "")
    # 1,480 corrected errors on DIMMs of channels 0 and 1 within the two hours since the reset
    edac_skx(fs, 0, [(0, 0, 1300, 0), (1, 0, 180, 0), (2, 0, 0, 0)], ce=1480)
    pci_dev(fs, "pci0000:00/0000:00:01.0", rootport=(9, 0, 0))
    pci_dev(fs, "pci0000:00/0000:00:01.0/0000:01:00.0", cor={0: 6})
    pci_dev(fs, "pci0000:00/0000:00:01.0/0000:01:00.1", cor={6: 3})
    fs.write("proc/mdstat", (PLATFORM / "mdstat" / "raid5-mixed").read_text())
    # smartmontools installed, no disk it can open (the platform signals are the subject here)
    _record(case / "commands", "smartctl", ["--version"], "smartctl 7.3 2022-02-28 r5338 "
            "[x86_64-linux-6.1.0-28-amd64] (local build)\n")
    _record(case / "commands", "smartctl", ["--scan-open", "--json"],
            json.dumps({**SCAN, "devices": []}, indent=1))
    src = PLATFORM / "ipmi" / "qemu-fan-failure" / "commands" / "ipmitool"
    cmds = case / "commands" / "ipmitool"
    cmds.mkdir(parents=True, exist_ok=True)
    # the guest's two sensors, plus rows composed in `ipmitool sensor`'s column format for the rail,
    # current and power sensors a server BMC has (the QEMU BMC has none)
    (cmds / "sensor").write_text((src / "sensor").read_text() + "".join(
        f"{name:<17}| {val:<11}| {unit:<11}| ok    | {' | '.join(f'{t:<9}' for t in th)} \n"
        for name, val, unit, th in (
            ("12V", "12.190", "Volts", ("10.173", "10.299", "10.740", "12.945", "13.260", "13.386")),
            ("PS1 Curr Out", "7.400", "Amps", ("na",) * 6),
            ("PS1 Input Power", "186.000", "Watts", ("na",) * 6))))
    shutil.copy(src / "sdr_elist", cmds / "sdr_elist")
    sel = (PLATFORM / "ipmi" / "sel-mixed" / "commands" / "ipmitool" / "sel_elist").read_text()
    (cmds / "sel_elist").write_text(sel)
    n = sum(1 for line in sel.splitlines() if line.strip())
    (cmds / "sel_info").write_text(
        "SEL Information\nVersion          : 1.5 (v1.5, v2 compliant)\n"
        f"Entries          : {n}\nFree Space       : {16000 - 16 * n} bytes \nPercent Used     : {n * 16 * 100 // 16000}%\n"
        "Last Add Time    : Not Available\nLast Del Time    : Not Available\nOverflow         : false\n"
        "Supported Cmds   : 'Delete' 'Reserve' \n")
    # a ZFS host: the composed zpool output of tests/fixtures/zfs/degraded (see its SOURCE)
    fs.write("dev/zfs", "")
    shutil.copytree(ROOT / "tests" / "fixtures" / "zfs" / "degraded" / "commands" / "zpool", case / "commands" / "zpool")
    # last night's restore drill, in the exact format `agent recover restore-drill` writes
    _drill_result(case / "state")
    (case / "SOURCE").write_text(__doc__.split("\n\n")[2] + "\nGenerated by tests/support/make_golden_hosts.py.\n")


GOLDEN_NOW = 1_764_003_600.0  # the golden harness's frozen clock (2025-11-24 17:00 UTC)


def _drill_result(state: Path) -> None:
    """STATE_DIR/restore-drill.json of a completed restic drill 13.6 h before the golden clock, written
    by agent.cli.recover.write_drill_result from a run record with the RD-03 (compare) step's result."""
    from agent.cli.recover import write_drill_result  # noqa: PLC0415

    started = GOLDEN_NOW - 13 * 3600 - 41 * 60 - 12  # 03:18:48 UTC, the timer's slot
    finished = started + 312.4
    state.mkdir(parents=True, exist_ok=True)
    write_drill_result(state, {
        "run_id": "20251124T031848Z-restore-drill-5c1e", "status": "completed",
        "created": started, "updated": finished, "finished": finished,
        "params": {"tool": "restic", "repo": "sftp:backup@10.20.0.5:/srv/restic/web01", "path": "/srv/www",
                   "scratch": "/var/tmp/hwagent-restore-drill", "samples": "20", "min_free_mb": "1024"},
        "steps": {"RD-03": {"status": "passed", "detail": "48502 entries (48213 files, 6119403231 bytes) match the "
                            "snapshot listing; 20 sampled checksum(s) match",
                            "result": {"snapshot": "4b8e2c0f7a91d3e65f0c2b18a7d94e3c1f6a05b28d7e9c4310fa6b2e8c5d1a97",
                                       "snapshot_time": "2025-11-24T02:00:07.318204517+01:00", "files": 48213,
                                       "bytes": 6119403231, "entries": 48502, "restored_entries": 48502,
                                       "sampled": 20, "problems": []}}},
    })


LAB = HOSTS / "lab-healthy"
ATA1 = "sys/devices/pci0000:00/0000:00:1f.2/ata1"


def cloned_disks() -> None:
    case = HOSTS / "synthetic-cloned-disks"
    if case.exists():
        shutil.rmtree(case)
    fs = FakeSys(case / "tree")
    fs.proc_basics(boot_id="3e9d27a1-6c4b-4f58-9a0e-d2b7c81f4e03")
    fs.write("dev/kmsg", "")
    tree = case / "tree"
    shutil.copytree(LAB / "tree" / ATA1, tree / ATA1, symlinks=True)
    ata2 = tree / ATA1.replace("ata1", "ata2")
    shutil.copytree(LAB / "tree" / ATA1, ata2, symlinks=True)
    (ata2 / "host0").rename(ata2 / "host1")
    (ata2 / "host1" / "target0:0:0").rename(ata2 / "host1" / "target1:0:0")
    scsi = ata2 / "host1" / "target1:0:0" / "1:0:0:0"
    (ata2 / "host1" / "target1:0:0" / "0:0:0:0").rename(scsi)
    (scsi / "block" / "sda").rename(scsi / "block" / "sdb")
    (scsi / "block" / "sdb" / "device").unlink()
    (scsi / "block" / "sdb" / "device").symlink_to("../../../1:0:0:0")
    (scsi / "block" / "sdb" / "dev").write_text("8:16\n")
    (scsi / "block" / "sdb" / "diskseq").write_text("4\n")
    uevent = scsi / "block" / "sdb" / "uevent"
    uevent.write_text(uevent.read_text().replace("MINOR=0", "MINOR=16").replace("DEVNAME=sda", "DEVNAME=sdb")
                      .replace("DISKSEQ=3", "DISKSEQ=4"))
    for name, port in (("sda", "ata1/host0/target0:0:0/0:0:0:0"), ("sdb", "ata2/host1/target1:0:0/1:0:0:0")):
        fs.link(f"sys/block/{name}", f"../devices/pci0000:00/0000:00:1f.2/{port}/block/{name}")
        fs.write(f"dev/{name}", "")
    fs.link("dev/disk/by-id/ata-LabDisk_SATA_LABSATA0001", "../../sdb")  # one link per serial: the last disk wins
    fs.link("dev/disk/by-path/pci-0000:00:1f.2-ata-1.0", "../../sda")
    fs.link("dev/disk/by-path/pci-0000:00:1f.2-ata-2.0", "../../sdb")
    src = LAB / "commands" / "smartctl"
    out = case / "commands" / "smartctl"
    out.mkdir(parents=True)
    shutil.copy(src / "--version", out / "--version")
    scan = json.loads((src / argv_name(["smartctl", "--scan-open", "--json"])).read_text())
    sata = scan["devices"][0]
    scan["devices"] = [sata, {**sata, "name": "/dev/sdb", "info_name": "/dev/sdb [SAT]"}]
    (out / argv_name(["smartctl", "--scan-open", "--json"])).write_text(json.dumps(scan, indent=2) + "\n")
    read = ["--json", "-x", "-d", "sat", "-n", "standby,253"]
    text = (src / argv_name(["smartctl", *read, "/dev/sda"])).read_text()
    rc = (src / (argv_name(["smartctl", *read, "/dev/sda"]) + ".rc")).read_text()
    doc = json.loads(text)
    doc["smartctl"]["argv"][-1] = "/dev/sdb"
    doc["device"].update(name="/dev/sdb", info_name="/dev/sdb [SAT]")
    for dev, body in (("/dev/sda", text), ("/dev/sdb", json.dumps(doc, indent=2) + "\n")):
        _record(case / "commands", "smartctl", [*read, dev], body, rc=int(rc))
    (case / "SOURCE").write_text(__doc__.split("\n\n")[3] + "\nGenerated by tests/support/make_golden_hosts.py.\n")


def main() -> None:
    failing_ata()
    platform()
    cloned_disks()


if __name__ == "__main__":
    main()
