"""One qemu guest for the VM suite: its disks, fault injection plumbing, command channel and BMC.

The guest is a q35 machine (TCG unless real KVM is loaded) with

* an NVMe drive behind PCIe root port ``rp1`` (the AER injection target) and an IDE/SATA disk,
  optionally each behind a blkdebug node that fails reads of one sector (``bad_sector``);
* a small virtio disk with ext4 mounted at ``/var/lib/hwagent`` (the agent's state survives a
  reboot: a new :class:`Machine` on the same work dir reuses every disk);
* an ACPI ERST device backed by a file in the work dir (pstore keeps the panic log across reboots);
* an external IPMI BMC: OpenIPMI ``ipmi_sim`` with a CPU temperature and a fan sensor whose raw
  values the test writes to files (:meth:`Machine.set_sensor`);
* user-mode networking with ``restrict=on`` and one host forward ``127.0.0.1:<port>`` to the
  agent's metrics port 10067: the guest reaches nothing else.

QMP and HMP sockets inject faults (``mce``, ``pcie_aer_inject_error``, ``qom-set``); the second
serial port carries shell commands (:meth:`Machine.sh`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tests.vm.image import Image, fetch_qemu_bpo, cache_dir, log
from tests.vm.procs import stop_process

AGENT_PORT = 10067
RP1_SLOT = 0x1C  # the NVMe's root port (AER injection target) at 0000:00:1c.0, like an Intel PCH port
RP1_BDF = f"0000:00:{RP1_SLOT:02x}.0"
RP2_SLOT = 0x1D  # hot-plug root port of the swap bay (Machine(swap_bay=True))
BAY_SERIAL, BAY_NEW_SERIAL = "VMNVME0002", "VMNVME0003"
BAD_SECTOR = 20480  # 512-byte sector blkdebug fails reads of (10 MiB in)
DISK_BYTES = 256 << 20


class GuestError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_accel() -> str:
    want = os.environ.get("HWAGENT_VM_ACCEL", "auto")
    if want in ("kvm", "tcg"):
        return want
    # only hardware virtualisation: a /dev/kvm provided by a software nested-virt module can leave a
    # stock kernel emulated instruction by instruction (minutes in the decompressor)
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and (Path("/sys/module/kvm_intel").is_dir() or Path("/sys/module/kvm_amd").is_dir()):
        return "kvm"
    return "tcg"


class Qemu:
    """Which qemu to run: Debian's own, or the backports build unpacked in the cache."""

    def __init__(self, argv: list[str], env: dict[str, str], flavor: str):
        self.argv, self.env, self.flavor = argv, env, flavor
        out = subprocess.run([argv[0], "--version"], capture_output=True, text=True).stdout
        m = re.search(r"version (\d+)\.(\d+)", out)
        self.version = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        self.version_line = out.splitlines()[0] if out else "?"

    @classmethod
    def choose(cls) -> "Qemu":
        want = os.environ.get("HWAGENT_VM_QEMU", "auto")  # auto | system | bpo
        if want != "system":
            bpo = fetch_qemu_bpo(cache_dir())
            if bpo is not None:
                return cls([str(bpo / "usr/bin/qemu-system-x86_64"), "-L", str(bpo / "usr/share/seabios"),
                            "-L", str(bpo / "usr/share/qemu")],
                           {"QEMU_MODULE_DIR": str(bpo / "usr/lib/x86_64-linux-gnu/qemu")}, "bpo")
            if want == "bpo":
                raise GuestError("HWAGENT_VM_QEMU=bpo but the backports qemu could not be fetched")
        return cls(["qemu-system-x86_64"], {}, "system")

    @property
    def delivers_correctable_aer(self) -> bool:
        return self.version >= (8, 0)  # qemu commit 9a6ef182c0 "hw/pci/aer: Add missing routing for AER errors"


def connect_unix(path: Path, timeout: float) -> socket.socket:
    """Connect to a qemu socket, retrying while qemu is still creating it."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class QMP:
    def __init__(self, path: Path, timeout: float = 30):
        self.sock = connect_unix(path, timeout)
        self.file = self.sock.makefile("rw")
        self._read()
        self.cmd("qmp_capabilities")

    def _read(self) -> dict:
        while True:
            line = self.file.readline()
            if not line:
                raise GuestError("QMP connection closed (qemu exited?)")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, execute: str, **args):
        self.file.write(json.dumps({"execute": execute, "arguments": args}) + "\n")
        self.file.flush()
        r = self._read()
        if "error" in r:
            raise GuestError(f"QMP {execute} {args}: {r['error']}")
        return r.get("return")

    def hmp(self, line: str) -> str:
        return self.cmd("human-monitor-command", **{"command-line": line})

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Channel:
    """Shell commands over the guest's second serial port (tests/vm/guest/ctl.sh)."""

    def __init__(self, path: Path, timeout: float = 30):
        self.sock = connect_unix(path, timeout)
        self.buf = b""

    def run(self, cmd: str, timeout: float = 120) -> tuple[int, str]:
        if "\n" in cmd:
            raise ValueError("one line per command")
        token = uuid.uuid4().hex[:10]
        self.sock.sendall(f"{token} {cmd}\n".encode())
        end = re.compile(rb"__HWVM_DONE__ " + token.encode() + rb" (\d+)\r?\n")
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.5)
        while True:
            m = end.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.start()], self.buf[m.end():]
                return int(m.group(1)), out.decode(errors="replace")
            if time.monotonic() > deadline:
                raise TimeoutError(f"guest command did not finish within {timeout}s: {cmd}")
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise GuestError("guest command channel closed")
            self.buf += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------ external BMC (ipmi_sim)
def _sdr(num: int, entity: str, stype: str, pre: str, rate: str, unit: str, m: int, name: str) -> str:
    lines = [
        "sdr type 1", "sensor_owner_id 0x20", "sensor_owner_lun 0", "channel_number 0", f"sensor_number {num}",
        f"entity_id {entity}", "entity_instance 1", f"sensor_type {stype}", "init_scanning true", "init_events true",
        "init_sensor_type true", "default_event_gen_on true", "default_sensor_scan_on true",
        "event_reading_type_code 1", "sensor_threshold_access 1",
        f"{pre}nc_thrsh_readable true", f"{pre}c_thrsh_readable true", f"{pre}nr_thrsh_readable true",
        f"return_{pre}nc true", f"return_{pre}c true", f"return_{pre}nr true",
        "analog_data_format unsigned", f"rate_unit {rate}", "modifier_unit none", "percentage false",
        f"base_unit {unit}", "modifier_unit_code unspecified", "linearization linear", f"m {m}", "tolerance 0",
        "b 0", "accuracy 1", "accuracy_exp 0", "sensor_direction input", "r_exp 0", "b_exp 0",
        "sensor_maximum 255", "sensor_minimum 0", f'id_string "{name}"', "endsdr"]
    return "\n".join(lines) + "\n"


BMC_SDRS = ("sdr type 18\n device_slave_address 0x20\n device_channel_number 0\n chassis true\n"
            " ipmb_event_gen false\n ipmb_event_recv false\n fru_inventory false\n sel true\n sdr true\n"
            " sensor true\n entity_id system_board\n entity_instance 1\n id_string \"VM BMC\"\nendsdr\n"
            + _sdr(1, "processor", "Temperature", "u", "none", "degrees_C", 1, "CPU1 Temp")
            + _sdr(2, "system_board", "Fan", "l", "per_min", "revolutions", 50, "Fan1"))
# sensor 1 CPU1 Temp: raw = degC, upper thresholds non-critical/critical/non-recoverable 85/95/100
# sensor 2 Fan1: RPM = raw * 50, lower thresholds 1000/500/200 RPM (raw 20/10/4)
BMC_EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
sensor_add 0x20 0 1 0x01 0x01 poll 1000 file "{d}/cpu_temp.val"
sensor_set_threshold 0x20 0 1 settable 111000 100 95 85 00 00 00
sensor_set_event_support 0x20 0 1 enable scanning per-state 000111111000000 000111111000000 000111111000000 000111111000000
sensor_add 0x20 0 2 0x04 0x01 poll 1000 file "{d}/fan1.val"
sensor_set_threshold 0x20 0 2 settable 000111 00 00 00 4 10 20
sensor_set_event_support 0x20 0 2 enable scanning per-state 000000000111111 000000000111111 000000000111111 000000000111111
mc_enable 0x20
"""
BMC_LAN = """name "vmbmc"
set_working_mc 0x20
  serial 15 127.0.0.1 {port} codec VM
  startnow false
  user 1 true "" "test" user 10 none md2 md5 straight
"""
HEALTHY_SENSORS = {"cpu_temp": 45, "fan1": 120}  # 45 degC, 6000 RPM


class Bmc:
    def __init__(self, workdir: Path):
        self.dir = workdir / "bmc"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        state = self.dir / "state/ipmi_sim/vmbmc"
        fresh = not state.exists()
        state.mkdir(parents=True, exist_ok=True)
        if fresh:
            (self.dir / "vm.sdrs").write_text(BMC_SDRS)
            subprocess.run(["sdrcomp", "-o", str(state / "sdr.20.main"), str(self.dir / "vm.sdrs")], check=True,
                           capture_output=True)
            for name, raw in HEALTHY_SENSORS.items():
                self.set(name, raw)
        (self.dir / "vm.emu").write_text(BMC_EMU.format(d=self.dir))
        (self.dir / "lan.conf").write_text(BMC_LAN.format(port=self.port))
        self.proc = subprocess.Popen(["ipmi_sim", "-c", str(self.dir / "lan.conf"), "-f", str(self.dir / "vm.emu"),
                                      "-s", str(self.dir / "state"), "-n"],
                                     stdout=open(self.dir / "ipmi_sim.log", "ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        # wait until it listens; never connect (ipmi_sim takes the first connection as the VM)
        needle = f":{self.port:04X} 00000000:0000 0A"
        deadline = time.monotonic() + 10
        while needle not in Path("/proc/net/tcp").read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise GuestError(f"ipmi_sim did not start; see {self.dir / 'ipmi_sim.log'}")
            time.sleep(0.1)

    def set(self, name: str, raw: int) -> None:
        (self.dir / f"{name}.val").write_text(f"{raw}\n")

    def stop(self) -> None:
        stop_process(self.proc)


# -------------------------------------------------------------------------------------- machine
class QemuGuest:
    """What every qemu guest of the suite shares: the process, its serial console, the QMP and
    harness channels. Subclasses set ``proc``, ``qmp``, ``ch`` and define ``serial_path``."""

    serial_path: Path  # a property of each guest: where its serial console log is
    proc: subprocess.Popen | None
    qmp: "QMP | None"
    ch: "Channel | None"
    serial_poll = 0.1  # seconds between reads of the serial log

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def console(self) -> str:
        try:
            return self.serial_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_serial(self, pattern: str, timeout: float) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.console())
            if m:
                return m
            if self.proc is not None and self.proc.poll() is not None:
                raise GuestError(f"qemu exited (rc={self.proc.returncode}) before {pattern!r} appeared on the console")
            time.sleep(self.serial_poll)
        raise GuestError(f"{pattern!r} not seen on the serial console within {timeout:.0f}s")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def _close(self) -> None:
        for c in (self.qmp, self.ch):
            if c is not None:
                c.close()
        self.qmp = self.ch = None

    def stop(self) -> None:
        """``quit`` over QMP, else SIGKILL after 10 s; the channels are closed."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                if self.qmp:
                    self.qmp.cmd("quit")
            except (GuestError, OSError, ValueError):
                pass  # qemu is killed below
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close()

    def sh(self, cmd: str, timeout: float = 120, check: bool = True) -> str:
        if self.ch is None:
            raise GuestError("guest not running")
        rc, out = self.ch.run(cmd, timeout)
        if check and rc != 0:
            raise GuestError(f"guest command failed rc={rc}: {cmd}\n{out[-2000:]}")
        return out


class Machine(QemuGuest):
    def __init__(self, image: Image, qemu: Qemu, workdir: Path, *, bad_sector: int | None = None,
                 mem_mb: int = 1536, cpus: int = 2, swap_bay: bool = False):
        self.image, self.qemu, self.dir = image, qemu, workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bad_sector = bad_sector
        self.swap_bay = swap_bay  # a second NVMe (serial VMNVME0002) in hot-plug root port rp2
        self.mem_mb, self.cpus = mem_mb, cpus
        self.accel = pick_accel()
        self.port = free_port()
        self.bmc = Bmc(self.dir)
        self.proc: subprocess.Popen | None = None
        self.qmp: QMP | None = None
        self.ch: Channel | None = None
        self.boot_seconds = 0.0
        self.boot = 0  # how many times this work dir has booted (the serial log is per boot)
        self._prepare_disks()

    # -- disks
    def _prepare_disks(self) -> None:
        for name in ("nvme", "sata", *(("bay", "bay-new") if self.swap_bay else ())):
            img = self.dir / f"{name}.img"
            if not img.exists():
                with open(img, "wb") as f:
                    f.truncate(DISK_BYTES)
        state = self.dir / "state.img"
        if not state.exists():
            with open(state, "wb") as f:
                f.truncate(64 << 20)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "hwagent-state", str(state)], check=True, capture_output=True)
        erst = self.dir / "erst.backing"
        if not erst.exists():
            with open(erst, "wb") as f:
                f.truncate(0x10000)

    def _blockdev(self, node: str, img: Path) -> str:
        f: dict = {"driver": "file", "filename": str(img)}
        if self.bad_sector is not None:
            # blkdebug sits between the raw format node and the file: raw emits read_aio on every read
            f = {"driver": "blkdebug", "image": f,
                 "inject-error": [{"event": "read_aio", "errno": 5, "sector": self.bad_sector}]}
        return json.dumps({"driver": "raw", "node-name": node, "file": f})

    # -- lifecycle
    @property
    def serial_path(self) -> Path:
        return self.dir / f"serial-{self.boot}.log"

    def argv(self) -> list[str]:
        cpu = os.environ.get("HWAGENT_VM_CPU") or ("host" if self.accel == "kvm" else "Skylake-Server-v4")
        reconnect = "reconnect-ms=1000" if self.qemu.version >= (9, 0) else "reconnect=1"
        d = self.dir
        return [*self.qemu.argv,
                "-machine", f"q35,accel={self.accel}", "-cpu", cpu, "-smp", str(self.cpus), "-m", str(self.mem_mb),
                "-nodefaults", "-display", "none", "-no-reboot",
                "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
                "-append", "console=ttyS0 panic=-1 loglevel=6 printk.time=1 norandmaps mitigations=off",  # server_image.KERNEL_CMDLINE
                "-serial", f"file:{self.serial_path}",
                "-chardev", f"socket,id=ctl,path={d}/ctl.sock,server=on,wait=off", "-serial", "chardev:ctl",
                "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
                "-monitor", f"unix:{d}/hmp.sock,server=on,wait=off",
                "-nic", f"user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:{AGENT_PORT}",
                "-device", f"pcie-root-port,id=rp1,chassis=1,slot=1,addr={RP1_SLOT:#x}",
                "-blockdev", self._blockdev("nvm0", d / "nvme.img"),
                "-device", "nvme,id=nvme0,serial=VMNVME0001,drive=nvm0,bus=rp1",
                *(["-device", f"pcie-root-port,id=rp2,chassis=2,slot=2,addr={RP2_SLOT:#x}",
                   "-blockdev", json.dumps({"driver": "raw", "node-name": "bay0",
                                            "file": {"driver": "file", "filename": str(d / "bay.img")}}),
                   "-device", f"nvme,id=bay,serial={BAY_SERIAL},drive=bay0,bus=rp2"] if self.swap_bay else []),
                "-blockdev", self._blockdev("sata0", d / "sata.img"),
                "-device", "ide-hd,id=sata0,drive=sata0,bus=ide.0,serial=VMSATA0001,model=VM SATA Disk",
                "-blockdev", json.dumps({"driver": "raw", "node-name": "state0",
                                         "file": {"driver": "file", "filename": str(d / "state.img")}}),
                "-device", "virtio-blk-pci,drive=state0,serial=hwagent-state",
                "-object", f"memory-backend-file,id=erstnvram,mem-path={d}/erst.backing,size=0x10000,share=on",
                "-device", "acpi-erst,memdev=erstnvram",
                "-chardev", f"socket,id=ipmi0,host=127.0.0.1,port={self.bmc.port},{reconnect}",
                "-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-kcs,bmc=bmc0"]

    def start(self, timeout: float = 180) -> None:
        self.boot += 1
        for s in ("ctl.sock", "qmp.sock", "hmp.sock"):
            (self.dir / s).unlink(missing_ok=True)
        self.bmc.start()
        argv = self.argv()
        (self.dir / f"qemu-cmdline-{self.boot}.txt").write_text(" ".join(argv) + "\n")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=open(self.dir / f"qemu-{self.boot}.log", "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=dict(os.environ, **self.qemu.env))
        self.qmp = QMP(self.dir / "qmp.sock")
        self.wait_serial(r"HWAGENT-VM: READY", timeout)
        self.ch = Channel(self.dir / "ctl.sock")
        self.boot_seconds = time.monotonic() - t0
        log(f"guest ready in {self.boot_seconds:.1f} s ({self.accel}, {self.qemu.version_line})")

    def stop(self) -> None:
        super().stop()
        self.bmc.stop()

    def http(self, path: str, timeout: float = 3) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:  # noqa: S310
            return r.read()

    def status(self) -> dict | None:
        """The agent's /status.json through the forwarded port; None while it does not answer."""
        try:
            return json.loads(self.http("/status.json"))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_agent(self, timeout: float = 120) -> dict:
        """Until the agent answers and every collector has run at least once."""
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.status()
            if st and st.get("collectors") and all(c.get("ok") is not None for c in st["collectors"].values()) \
                    and set(st["collectors"]) >= set(self.image.collectors):
                return st
            if not self.alive():
                raise GuestError("qemu exited while waiting for the agent")
            time.sleep(0.3)
        raise GuestError(f"the agent did not answer on 127.0.0.1:{self.port} within {timeout:.0f}s (last: {st})")

    def swap_bay_disk(self, timeout: float = 120) -> None:
        """What the data centre does: pull the NVMe in the swap bay (hot unplug, the guest's PCIe
        hot-plug driver lets it go) and insert a blank one with serial BAY_NEW_SERIAL."""
        assert self.swap_bay and self.qmp is not None

        def present(dev_id: str) -> bool:
            return any(p.get("name") == dev_id for p in self.qmp.cmd("qom-list", path="/machine/peripheral"))
        self.qmp.cmd("device_del", id="bay")
        deadline = time.monotonic() + timeout
        while present("bay"):
            if time.monotonic() > deadline:
                raise GuestError(f"the guest did not release the swap-bay NVMe within {timeout:.0f}s")
            time.sleep(0.3)
        self.qmp.cmd("blockdev-add", driver="raw", **{"node-name": "bay1"},
                     file={"driver": "file", "filename": str(self.dir / "bay-new.img")})
        self.qmp.cmd("device_add", driver="nvme", id="bay-new", serial=BAY_NEW_SERIAL, drive="bay1", bus="rp2")

    def set_sensor(self, name: str, raw: int) -> None:
        self.bmc.set(name, raw)

    def diagnostics(self) -> str:
        """Serial console and agent log, for a failing test's report."""
        parts = []
        for p in sorted(self.dir.glob("serial-*.log")):
            parts.append(f"===== {p.name} (last 6000 chars)\n{p.read_text(errors='replace')[-6000:]}")
        if self.ch is not None and self.alive():
            try:
                parts.append("===== /run/hwagent.log (guest)\n" + self.sh("tail -c 6000 /run/hwagent.log", 20, check=False))
            except (GuestError, TimeoutError, OSError) as exc:
                parts.append(f"===== agent log unavailable: {exc}")
        for p in sorted(self.dir.glob("qemu-*.log")):
            t = p.read_text(errors="replace").strip()
            if t:
                parts.append(f"===== {p.name}\n{t[-2000:]}")
        return "\n".join(parts)

    def cleanup(self) -> None:
        self.stop()
        if os.environ.get("HWAGENT_VM_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
