#!/usr/bin/env python3
"""Capture a trimmed host tree (sysfs, procfs, kernel log, tool output) for hwagent fixtures.

Run ``capture`` as root on the machine being captured (standard library only, Python >= 3.7, so
it can be copied into a minimal guest or rescue system); run ``unpack`` on the workstation.

    python3 capture_guest.py capture [--base64] [--no-commands] [--replace OLD=NEW ...] > cap
    python3 capture_guest.py unpack DEST < cap        # DEST/tree/... and DEST/commands/...

The capture is a gzip-compressed tar (with ``--base64``: base64 text between
``-----BEGIN HWCAPTURE-----`` and ``-----END HWCAPTURE-----`` lines, for a serial console or any
text-only channel). It holds only what the collectors read:

* ``sys/class/hwmon/*`` links, each hwmon directory with all its readable attribute files and its
  ``device`` link, and the device directory that link points at (its own small attribute files
  and its ``device``/``driver`` links, never whole subtrees);
* ``sys/class/thermal`` (zones and cooling devices), ``sys/devices/system/cpu/cpu*/thermal_throttle``,
  ``sys/devices/system/edac`` -- where present;
* ``sys/bus/pci/devices/*`` links and, per PCI function, ``vendor``, ``device``, ``class``,
  subsystem ids, link speed/width and the AER counter files (``aer_dev_*``, ``aer_rootport_total_*``);
* ``sys/block/*`` links with each disk's small attribute files, ``queue/`` and ``md/`` (RAID);
* ``proc/{meminfo,stat,uptime,loadavg,mdstat,cmdline}`` and ``proc/sys/kernel/{random/boot_id,
  hostname,osrelease}``;
* ``dev/kmsg`` as a plain file: every record /dev/kmsg holds (read non-blocking until EAGAIN);
* ``commands/<program>/<argv-name>`` (+ ``<argv-name>.rc`` when the exit code is not 0): the
  stdout of smartctl and ipmitool runs, named like tests/support/replay.py looks them up
  (the argv after the program, ``/`` replaced by ``_``, joined with ``_``): ``smartctl
  --version``, ``--scan-open --json``, and per scanned device ``--json -x [-n standby] PATH`` and
  ``--json -x -d TYPE [-n standby,253] PATH`` (the form the smart collector runs); ``ipmitool
  sensor``, ``sdr elist``, ``sel elist``, ``sel info``.

sysfs reports every attribute as 4096 bytes, so files are read one by one and stored by value;
symlinks are stored as the relative links the kernel shows (``os.readlink``). Write-only and
unreadable attributes and binary attributes (``config``, ``vpd``...) are skipped silently.
``--replace OLD=NEW`` rewrites a string (e.g. a real serial number) in every stored file.
"""

from __future__ import annotations

import argparse
import base64
import errno
import fnmatch
import gzip
import io
import os
import posixpath
import stat
import subprocess
import sys
import tarfile
import time

BEGIN = "-----BEGIN HWCAPTURE-----"
END = "-----END HWCAPTURE-----"
MAX_FILE = 64 * 1024

PROC_FILES = ("meminfo", "stat", "uptime", "loadavg", "mdstat", "cmdline",
              "sys/kernel/random/boot_id", "sys/kernel/hostname", "sys/kernel/osrelease")

PCI_ATTRS = ("vendor", "device", "class", "subsystem_vendor", "subsystem_device", "revision",
             "current_link_speed", "current_link_width", "max_link_speed", "max_link_width",
             "numa_node", "enable", "uevent", "aer_dev_correctable", "aer_dev_fatal",
             "aer_dev_nonfatal", "aer_rootport_total_err_cor", "aer_rootport_total_err_fatal",
             "aer_rootport_total_err_nonfatal")

# attributes never read: binary blobs, write-only triggers, huge tables
SKIP_ATTRS = {"config", "rom", "vpd", "remove", "rescan", "reset", "delete", "delete_controller",
              "reset_controller", "rescan_controller", "descriptors", "new_id", "remove_id", "bind",
              "unbind", "uevent_seqnum"}
SKIP_GLOBS = ("resource*", "vpd_pg*", "inquiry", "*_id_table")
DEVICE_LINKS = ("device", "driver")  # the only links kept inside captured device directories

SCAN = ("smartctl", "--scan-open", "--json")
FIXED_COMMANDS = (
    SCAN,
    ("smartctl", "--version"),
    ("ipmitool", "sensor"),
    ("ipmitool", "sdr", "elist"),
    ("ipmitool", "sel", "elist"),
    ("ipmitool", "sel", "info"),
)


def smart_commands(scan_json):
    """Per device from ``smartctl --scan-open --json``: ``-x`` plain and with ``-n standby``, and
    with the scanned ``-d TYPE`` (with and without ``-n standby,253``)."""
    import json
    try:
        devices = json.loads(scan_json or b"{}").get("devices") or []
    except ValueError:
        return []
    out = []
    for d in devices:
        path, dtype = d.get("name"), d.get("type")
        if not path:
            continue
        out += [("smartctl", "--json", "-x", path), ("smartctl", "--json", "-x", "-n", "standby", path)]
        if dtype:
            out += [("smartctl", "--json", "-x", "-d", dtype, path),
                    ("smartctl", "--json", "-x", "-d", dtype, "-n", "standby,253", path)]
    return out


def argv_name(argv):
    """Recording name of an argv, as tests/support/replay.py looks it up."""
    return "_".join(a.replace("/", "_") for a in argv[1:]) or "_"


class Capture:
    def __init__(self, root="/", replace=()):
        self.root = root
        self.replace = [(o.encode(), n.encode()) for o, n in replace]
        self.files = {}  # tar name -> bytes
        self.links = {}  # tar name -> link target
        self.dirs = set()
        self.done = set()  # machine paths of directories already captured

    # ---- primitives -------------------------------------------------------------------
    def _m(self, path):
        """Machine path -> path under the capture root (for reading)."""
        return os.path.join(self.root, path.lstrip("/"))

    def _tar(self, path):
        return "tree/" + path.lstrip("/")

    def _mkdirs(self, name):
        d = posixpath.dirname(name)
        while d and d not in self.dirs:
            self.dirs.add(d)
            d = posixpath.dirname(d)

    def _redact(self, data):
        for old, new in self.replace:
            data = data.replace(old, new)
        return data

    def add_dir(self, path):
        name = self._tar(path)
        self._mkdirs(name + "/x")

    def add_file(self, path, allow_binary=False):
        """Store a small file by value; skip unreadable, write-only and binary ones."""
        name = os.path.basename(path)
        if name in SKIP_ATTRS or any(fnmatch.fnmatch(name, g) for g in SKIP_GLOBS):
            return False
        m = self._m(path)
        try:
            st = os.lstat(m)
            if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o444:
                return False
            fd = os.open(m, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            chunks, size = [], 0
            while size < MAX_FILE:
                b = os.read(fd, MAX_FILE - size)
                if not b:
                    break
                chunks.append(b)
                size += len(b)
        except OSError:
            return False
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if not allow_binary and b"\0" in data:
            return False
        tname = self._tar(path)
        self.files[tname] = self._redact(data)
        self._mkdirs(tname)
        return True

    def add_link(self, path):
        """Store a symlink as the kernel shows it; return its resolved machine path."""
        m = self._m(path)
        try:
            target = os.readlink(m)
        except OSError:
            return None
        tname = self._tar(path)
        self.links[tname] = target
        self._mkdirs(tname)
        return self._resolve(path)

    def _resolve(self, path):
        """Resolve a machine path (all links) relative to the capture root."""
        real = os.path.realpath(self._m(path))
        root = os.path.realpath(self.root)
        rel = os.path.relpath(real, root)
        return "/" + rel if not rel.startswith("..") else None

    def _entries(self, path):
        try:
            return sorted(os.listdir(self._m(path)))
        except OSError:
            return []

    def _is_link(self, path):
        return os.path.islink(self._m(path))

    def _is_dir(self, path):
        m = self._m(path)
        return os.path.isdir(m) and not os.path.islink(m)

    # ---- directory policies -----------------------------------------------------------
    def shallow(self, path, names=None, links=DEVICE_LINKS, subdirs=()):
        """A device directory: its own readable small files (or only ``names``), the kept links
        (each link's target directory captured shallowly too) and the listed subdirectories."""
        if path in self.done:
            return
        self.done.add(path)
        self.add_dir(path)
        for e in self._entries(path):
            p = posixpath.join(path, e)
            if self._is_link(p):
                if e in links:
                    target = self.add_link(p)
                    if target and e == "device":
                        self.shallow(target)
                    elif target:
                        self.add_dir(target)  # e.g. a driver: the link must resolve, content unused
            elif self._is_dir(p):
                if e in subdirs:
                    self.shallow(p, links=(), subdirs=())
            elif names is None or e in names:
                self.add_file(p)

    def recursive(self, path, depth=6):
        """Every readable file below ``path`` (sysfs classes that are small, e.g. edac); links kept
        only when named in DEVICE_LINKS (never followed)."""
        if depth < 0 or not self._is_dir(path):
            return
        self.add_dir(path)
        for e in self._entries(path):
            p = posixpath.join(path, e)
            if self._is_link(p):
                if e in DEVICE_LINKS:
                    self.add_link(p)
            elif self._is_dir(p):
                if e != "power":
                    self.recursive(p, depth - 1)
            else:
                self.add_file(p)

    def class_links(self, path, per_target, pattern="*"):
        """A /sys/class or /sys/bus directory of links: every link plus its captured target."""
        for e in self._entries(path):
            if not fnmatch.fnmatch(e, pattern):
                continue
            p = posixpath.join(path, e)
            if self._is_link(p):
                target = self.add_link(p)
                if target:
                    per_target(target)
            elif self._is_dir(p):
                per_target(p)

    # ---- the capture -----------------------------------------------------------------
    def capture_tree(self):
        # PCI functions first: a hwmon chip's device chain reaches them and must not widen them
        self.class_links("/sys/bus/pci/devices", lambda t: self.shallow(t, names=PCI_ATTRS, links=("driver",)))
        self.class_links("/sys/class/hwmon", lambda t: self.shallow(t))
        self.class_links("/sys/class/thermal", lambda t: self.shallow(t))
        cpu = "/sys/devices/system/cpu"
        if self._is_dir(cpu):
            self.shallow(cpu, names=("online", "possible", "present", "offline", "kernel_max"), links=())
            for e in self._entries(cpu):
                if fnmatch.fnmatch(e, "cpu[0-9]*"):
                    self.add_dir(posixpath.join(cpu, e))
                    self.recursive(posixpath.join(cpu, e, "thermal_throttle"), 0)
        self.recursive("/sys/devices/system/edac")
        self.class_links("/sys/block", self._block)
        for f in PROC_FILES:
            self.add_file("/proc/" + f)
        self.kmsg()

    def _block(self, path):
        self.shallow(path, subdirs=("queue",))
        if self._is_dir(posixpath.join(path, "md")):
            self.recursive(posixpath.join(path, "md"), 3)

    def kmsg(self):
        """All records /dev/kmsg holds, one read per record, until EAGAIN."""
        try:
            fd = os.open(self._m("/dev/kmsg"), os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return
        out = []
        try:
            while True:
                try:
                    rec = os.read(fd, 8192)
                except OSError as exc:
                    if exc.errno == errno.EPIPE:  # record overwritten while reading: go on
                        continue
                    break  # EAGAIN: no more records
                if not rec:
                    break
                out.append(rec if rec.endswith(b"\n") else rec + b"\n")
        finally:
            os.close(fd)
        self.files["tree/dev/kmsg"] = self._redact(b"".join(out))
        self._mkdirs("tree/dev/kmsg")

    def run_commands(self, commands, timeout=120):
        for argv in commands:
            name = "commands/%s/%s" % (os.path.basename(argv[0]), argv_name(argv))
            try:
                p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                sys.stderr.write("capture: %s: %s\n" % (" ".join(argv), exc))
                continue
            self.files[name] = self._redact(p.stdout)
            self._mkdirs(name)
            if p.returncode != 0:
                self.files[name + ".rc"] = b"%d\n" % p.returncode

    # ---- output ------------------------------------------------------------------------
    def tar_bytes(self):
        buf = io.BytesIO()
        now = int(time.time())
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in sorted(self.dirs):
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, now
                tar.addfile(ti)
            for name, target in sorted(self.links.items()):
                ti = tarfile.TarInfo(name)
                ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, now
                tar.addfile(ti)
            for name, data in sorted(self.files.items()):
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, now
                tar.addfile(ti, io.BytesIO(data))
        return gzip.compress(buf.getvalue(), 9)


def unpack(stream, dest):
    """Decode a capture (raw or base64 between markers) into ``dest``; link targets stay relative."""
    data = stream.read()
    text_start = data.find(BEGIN.encode())
    if text_start >= 0:
        body = data[text_start + len(BEGIN):data.index(END.encode(), text_start)]
        data = base64.b64decode(b"".join(body.split()))
    raw = gzip.decompress(data)
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar.getmembers():
            if m.name.startswith("/") or ".." in m.name.split("/"):
                raise SystemExit("unsafe member name: %s" % m.name)
            if m.issym() and posixpath.isabs(m.linkname):
                raise SystemExit("absolute link: %s -> %s" % (m.name, m.linkname))
            if not (m.isdir() or m.isfile() or m.issym()):
                raise SystemExit("unexpected member type: %s" % m.name)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return raw


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture", help="capture this machine (as root)")
    c.add_argument("--root", default="/", help="read the tree below this directory (default /)")
    c.add_argument("--base64", action="store_true", help="base64 between BEGIN/END marker lines")
    c.add_argument("--no-commands", action="store_true", help="don't run smartctl/ipmitool")
    c.add_argument("--command", action="append", default=[], metavar="ARGV",
                   help="record this command instead of the default set (space-separated argv; "
                        "repeatable). Default: smartctl --version/--scan-open and -x per scanned "
                        "device, ipmitool sensor, sdr elist, sel elist, sel info")
    c.add_argument("--replace", action="append", default=[], metavar="OLD=NEW",
                   help="replace a string (e.g. a real serial number) in every stored file")
    u = sub.add_parser("unpack", help="unpack a capture read from stdin into DEST")
    u.add_argument("dest")
    a = ap.parse_args(argv)
    if a.cmd == "unpack":
        unpack(sys.stdin.buffer, a.dest)
        return 0
    cap = Capture(a.root, [r.split("=", 1) for r in a.replace])
    cap.capture_tree()
    if not a.no_commands:
        if a.command:
            cap.run_commands([tuple(c.split()) for c in a.command])
        else:
            cap.run_commands(FIXED_COMMANDS)
            scan = cap.files.get("commands/smartctl/" + argv_name(SCAN))
            cap.run_commands(smart_commands(scan))
    blob = cap.tar_bytes()
    if a.base64:
        text = base64.encodebytes(blob).decode()
        sys.stdout.write("%s\n%s%s\n" % (BEGIN, text, END))
        sys.stdout.flush()
    else:
        sys.stdout.buffer.write(blob)
    sys.stderr.write("capture: %d files, %d links, %d bytes compressed\n"
                     % (len(cap.files), len(cap.links), len(blob)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
