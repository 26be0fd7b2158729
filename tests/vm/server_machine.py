"""The rehearsal server under qemu: UEFI (OVMF) boot of the installed disks on a given board.

A *board* is the machine definition around the disks: SMBIOS system/board serials and UUID, the
NIC (model, PCI slot, MAC), the NVRAM (an OVMF VARS file of its own) and the RTC. The same disks
(qcow2 overlays on the cached images, so the cache stays pristine) boot on :data:`OLD_BOARD`
and later on :data:`NEW_BOARD`, as a data centre moves disks into a replacement board.

Network: user-mode with ``restrict=on``; the test host reaches the guest's HTTPS, SMTP,
submission, IMAPS and agent ports through forwards on 127.0.0.1 only; the guest reaches only
the status service on the test host (``guestfwd`` 10.0.2.100:10068).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.vm.image import log
from tests.vm.machine import QMP, Channel, GuestError, Qemu, QemuGuest, free_port, pick_accel

AER_DEVICES = ("rng1", "backup0", "rng2")  # endpoints with AER, under rp1 and rp2
GUEST_PORTS = {"https": 443, "smtp": 25, "submission": 587, "imaps": 993, "agent": 10067}


@dataclass(frozen=True)
class Board:
    name: str
    system_serial: str
    board_serial: str
    uuid: str
    nic_model: str
    nic_mac: str
    nic_behind_root_port: bool  # False: on the root complex at 00:03.0 (enp0s3); True: in a PCIe slot
    rtc_offset_hours: float = 0.0
    bios_version: str = "1.0"


OLD_BOARD = Board("old", "SRV-OLD-0001", "MB-OLD-0001", "4c4c4544-0001-4d10-8031-b1c04f4f4c44",
                  "virtio-net-pci", "52:54:00:0a:00:01", False, 0.0, "1.0")
# the replacement: other serials and UUID, an Intel NIC in a PCIe slot (new MAC, new predictable
# name), empty NVRAM (a fresh VARS file), the RTC hours off
NEW_BOARD = Board("new", "SRV-NEW-0002", "MB-NEW-0002", "4c4c4544-0002-4e20-8032-b2c04e455720",
                  "e1000e", "52:54:00:0b:00:02", True, 3.0, "1.1")


class ServerMachine(QemuGuest):
    serial_poll = 0.2

    def __init__(self, disks: Path, workdir: Path, board: Board, *, overlay: bool = True,
                 status_port: int | None = None, qemu: Qemu | None = None, mem_mb: int = 1536, cpus: int = 2):
        from tests.vm.server_image import OVMF_CODE, OVMF_VARS  # noqa: PLC0415

        self.disks, self.dir, self.board = disks, workdir, board
        self.dir.mkdir(parents=True, exist_ok=True)
        self.qemu = qemu or Qemu(["qemu-system-x86_64"], {}, "system")
        self.accel = pick_accel()
        self.mem_mb, self.cpus = mem_mb, cpus
        self.status_port = status_port
        self.ports = {k: free_port() for k in GUEST_PORTS}
        self.proc: subprocess.Popen | None = None
        self.qmp: QMP | None = None
        self.ch: Channel | None = None
        self.boot = 0
        self.started_at = 0.0
        self.code = OVMF_CODE
        if overlay:
            for name in ("disk0", "backup"):
                ov = self.dir / f"{name}.qcow2"
                if not ov.exists():
                    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(disks / f"{name}.img"),
                                    str(ov)], check=True, capture_output=True)
            self.drives = {n: (self.dir / f"{n}.qcow2", "qcow2") for n in ("disk0", "backup")}
        else:
            self.drives = {n: (disks / f"{n}.img", "raw") for n in ("disk0", "backup")}
        # each board has its own NVRAM: the old board's comes from the install (first boot), a new
        # board's is OVMF's empty template
        self.vars = self.dir / f"vars-{board.name}.fd"
        if not self.vars.exists():
            src = disks / "vars.fd" if (board.name == "old" and (disks / "vars.fd").exists()) else OVMF_VARS
            shutil.copy(src, self.vars)

    @property
    def serial_path(self) -> Path:
        return self.dir / f"serial-{self.board.name}-{self.boot}.log"

    def argv(self) -> list[str]:
        b, d = self.board, self.dir
        cpu = os.environ.get("HWAGENT_VM_CPU") or ("host" if self.accel == "kvm" else "Skylake-Server-v4")
        fwd = ",".join(f"hostfwd=tcp:127.0.0.1:{self.ports[k]}-10.0.2.15:{p}" for k, p in GUEST_PORTS.items())
        # cmd: spawns a bridge per guest connection; a chardev target (tcp:...) would connect once at
        # qemu's start and carry one connection for the guest's whole life (the first heartbeat)
        guestfwd = (f",guestfwd=tcp:10.0.2.100:10068-cmd:socat - TCP:127.0.0.1:{self.status_port}"
                    if self.status_port else "")
        netdev = ["-netdev", f"user,id=net0,restrict=on,{fwd}{guestfwd}"]
        if b.nic_behind_root_port:
            nic = ["-device", "pcie-root-port,id=slot3,chassis=3,slot=3,addr=0x1e",
                   "-device", f"{b.nic_model},netdev=net0,mac={b.nic_mac},bus=slot3"]
        else:
            nic = ["-device", f"{b.nic_model},netdev=net0,mac={b.nic_mac},addr=0x3"]
        rtc = "base=utc"
        if b.rtc_offset_hours:
            t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=b.rtc_offset_hours)
            rtc = "base=" + t.strftime("%Y-%m-%dT%H:%M:%S")
        disk0, fmt0 = self.drives["disk0"]
        backup, fmtb = self.drives["backup"]
        return [*self.qemu.argv,
                "-machine", f"q35,accel={self.accel}", "-cpu", cpu, "-smp", str(self.cpus), "-m", str(self.mem_mb),
                "-nodefaults", "-display", "none", "-no-reboot",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
                "-smbios", f"type=0,vendor=Rehearsal Firmware,version={b.bios_version},date=01/01/2026",
                "-smbios", f"type=1,manufacturer=Rehearsal,product=Web Server 1U,serial={b.system_serial},uuid={b.uuid}",
                "-smbios", f"type=2,manufacturer=Rehearsal,product=Board {b.name.upper()},serial={b.board_serial}",
                "-rtc", rtc,
                "-serial", f"file:{self.serial_path}",
                "-chardev", f"socket,id=ctl,path={d}/ctl.sock,server=on,wait=off", "-serial", "chardev:ctl",
                "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
                "-monitor", f"unix:{d}/hmp.sock,server=on,wait=off",
                *netdev, *nic,
                # system disk behind rp1 (next to an entropy source with AER); the backup disk and
                # a second entropy source behind rp2: AER_DEVICES are the endpoints errors can
                # be injected into (qemu's NVMe has no AER capability)
                "-device", "pcie-root-port,id=rp1,chassis=1,slot=1,addr=0x1c",
                "-drive", f"if=none,id=d0,format={fmt0},file={disk0}",
                "-device", "nvme,id=nvme0,serial=SRVNVME0001,drive=d0,bus=rp1,addr=0x0.0,multifunction=on,bootindex=1",
                "-device", "virtio-rng-pci,id=rng1,bus=rp1,addr=0x0.1,aer=on",
                "-device", "pcie-root-port,id=rp2,chassis=2,slot=2,addr=0x1d",
                "-drive", f"if=none,id=d1,format={fmtb},file={backup}",
                "-device", "virtio-blk-pci,id=backup0,serial=SRVBACKUP0002,drive=d1,bus=rp2,addr=0x0.0,multifunction=on,aer=on",
                "-device", "virtio-rng-pci,id=rng2,bus=rp2,addr=0x0.1,aer=on"]

    def start(self, timeout: float = 600, wait_ready: bool = True) -> None:
        self.boot += 1
        for s in ("ctl.sock", "qmp.sock", "hmp.sock"):
            (self.dir / s).unlink(missing_ok=True)
        argv = self.argv()
        (self.dir / f"qemu-cmdline-{self.board.name}-{self.boot}.txt").write_text(" ".join(argv) + "\n")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=open(self.dir / f"qemu-{self.board.name}-{self.boot}.log", "wb"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(os.environ, **self.qemu.env))
        self.qmp = QMP(self.dir / "qmp.sock")
        if wait_ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 600) -> float:
        self.wait_serial(r"HWAGENT-VM: READY", timeout)
        self.ch = Channel(self.dir / "ctl.sock")
        s = time.monotonic() - self.started_at
        log(f"server on the {self.board.name} board ready in {s:.1f} s ({self.accel})")
        return s

    def reboot(self, timeout: float = 900) -> float:
        """``systemctl reboot`` in the guest, as an operator would. qemu runs with ``-no-reboot``,
        so it exits at the reset and the same board (same overlays and NVRAM) is started again.
        Returns the seconds until the console says READY again."""
        t0 = time.monotonic()
        try:
            self.sh("(sleep 1; systemctl reboot) >/dev/null 2>&1 &", timeout=30, check=False)
        except (GuestError, OSError):
            pass
        assert self.proc is not None
        try:
            self.proc.wait(timeout / 3)
        except subprocess.TimeoutExpired:
            raise GuestError(f"the guest did not reset within {timeout / 3:.0f} s of systemctl reboot") from None
        self._close()
        self.start(timeout)
        return time.monotonic() - t0

    def kill(self) -> float:
        """The board dies: qemu is killed (no shutdown, no last words). Returns the time.time()."""
        assert self.proc is not None
        self.proc.kill()
        t = time.time()
        self.proc.wait(10)
        self._close()
        return t

    def diagnostics(self) -> str:
        parts = []
        if self.ch is not None and self.alive():
            for cmd in ("ip -br addr; ip route", "nft list ruleset | head -40", "systemctl --failed --no-legend",
                        "ss -tlnp | head -30", "journalctl -b --no-pager -u hwagent -u hwagent-heartbeat -u networking -n 40",
                        "tail -n 60 /tmp/recover.log 2>/dev/null", "agent baseline show --list 2>&1 | head -20"):
                try:
                    parts.append(f"===== guest: {cmd}\n{self.sh(cmd, 30, check=False)}")
                except (GuestError, TimeoutError, OSError) as exc:
                    parts.append(f"===== guest: {cmd}: {exc}")
                    break
        for p in sorted(self.dir.glob("serial-*.log")):
            parts.append(f"===== {p.name} (last 6000 chars)\n{p.read_text(errors='replace')[-6000:]}")
        for p in sorted(self.dir.glob("qemu-*.log")):
            t = p.read_text(errors="replace").strip()
            if t:
                parts.append(f"===== {p.name}\n{t[-2000:]}")
        return "\n".join(parts)
