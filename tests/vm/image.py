"""Build (and cache) the guest for the VM suite: a Debian 12 userland plus this machine's kernel.

Layers, each cached under the cache dir (``HWAGENT_VM_CACHE``, default ``~/.cache/hwagent-vm``)
and keyed by a hash of its inputs, so a change in the project rebuilds only the small top layer:

* ``base-<key>/``: ``debootstrap --variant=minbase`` of the host's suite with the packages the
  agent talks to (smartctl, nvme-cli, ipmitool, mdadm, iproute2...), trimmed, plus the kernel
  modules the guest needs from ``/lib/modules/<host kernel>``, packed as an uncompressed newc
  cpio (``base.cpio``) next to a copy of the host's ``vmlinuz``. About a minute, once.
* ``app-<key>/``: a virtualenv ``/opt/hwagent`` made inside the base rootfs (chroot) from a wheel
  of this checkout and wheels of its dependencies (``pip wheel`` with the host's Debian Python,
  the same Python 3.11 the guest has), the guest ``/init``, the agent's config and the guest
  helper scripts, packed as a second cpio (``app.cpio``). The kernel unpacks concatenated cpio
  archives in order, so ``initrd`` = base.cpio + app.cpio. ``rules.json`` and ``collectors.json``
  record what the installed agent registers (``agent rules --json`` run in the chroot).
* ``qemu-bpo/``: Debian bookworm-backports qemu (10.x) + seabios unpacked with ``dpkg -x`` (not
  installed): qemu 7.2 never delivers correctable AER messages (fixed in 8.0). Fetched through apt
  with private lists; optional (``HWAGENT_VM_QEMU=system`` uses the stock qemu).

Only the standard library is used here. Run ``python -m tests.vm.image build`` to build ahead.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
GUEST_DIR = HERE / "guest"  # files copied into the guest (init, helper scripts)

HOST_PACKAGES = ("qemu-system-x86", "qemu-utils", "debootstrap", "linux-image-amd64", "cpio", "kmod",
                 "openipmi", "socat", "prometheus", "e2fsprogs", "python3-pip")
HOST_TOOLS = ("qemu-system-x86_64", "qemu-img", "debootstrap", "cpio", "depmod", "ipmi_sim", "sdrcomp",
              "prometheus", "promtool", "mkfs.ext4")

SUITE = os.environ.get("HWAGENT_VM_SUITE", "bookworm")
GUEST_PACKAGES = ("python3", "python3-venv", "smartmontools", "nvme-cli", "ipmitool", "mdadm", "iproute2",
                  "kmod", "pciutils", "util-linux", "procps", "e2fsprogs", "gdisk")
# kernel module trees copied into the guest (relative to /lib/modules/KVER/kernel)
MODULE_TREES = ("crypto", "lib", "block", "arch/x86", "drivers/nvme", "drivers/ata", "drivers/scsi",
                "drivers/char/ipmi", "drivers/hwmon", "drivers/edac", "drivers/pci", "drivers/acpi",
                "drivers/md", "drivers/block", "drivers/virtio", "drivers/nvdimm", "fs/ext4", "fs/jbd2",
                "fs/mbcache.ko", "fs/pstore", "drivers/net/virtio_net.ko", "drivers/net/net_failover.ko",
                "net/core/failover.ko")
TRIM = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*",
        "usr/share/locale/*", "usr/share/info/*")
BPO_PACKAGES = ("qemu-system-x86", "qemu-system-common", "qemu-system-data", "seabios")


def log(msg: str) -> None:
    print(f"[vm {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    default = "/var/cache/hwagent-vm" if os.geteuid() == 0 else os.path.join(os.path.expanduser("~"), ".cache", "hwagent-vm")
    d = os.environ.get("HWAGENT_VM_CACHE") or default
    p = Path(d)
    p.mkdir(parents=True, exist_ok=True)
    return p


def missing_host_tools() -> list[str]:
    return [t for t in HOST_TOOLS if not shutil.which(t) and not os.path.exists(f"/usr/sbin/{t}")]


def ensure_host_packages() -> str | None:
    """apt-get install the host packages when root and something is missing; None or why not."""
    missing = missing_host_tools() + ([] if host_kernel() else ["/boot/vmlinuz-*"])
    if not missing:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"missing {', '.join(missing)} (install: apt-get install {' '.join(HOST_PACKAGES)})"
    log(f"installing host packages for the VM suite (missing: {', '.join(missing)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *HOST_PACKAGES],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return f"apt-get install failed: {r.stderr.strip()[-400:]}"
    missing = missing_host_tools() + ([] if host_kernel() else ["/boot/vmlinuz-*"])
    return f"still missing after apt-get: {', '.join(missing)}" if missing else None


def ensure_packages(packages: tuple[str, ...]) -> str | None:
    """apt-get install Debian packages a scenario needs beyond HOST_PACKAGES; None or why not."""
    missing = [p for p in packages if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                                     text=True).stdout.find("install ok installed") < 0]
    if not missing:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"missing {', '.join(missing)} (install: apt-get install {' '.join(missing)})"
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
                           capture_output=True, text=True)
    return f"apt-get install failed: {r.stderr.strip()[-400:]}" if r.returncode != 0 else None


def host_kernel() -> tuple[str, str] | None:
    """(path, version) of the newest /boot/vmlinuz-* whose modules are installed."""
    for k in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        ver = k.split("vmlinuz-", 1)[1]
        if os.path.isdir(f"/lib/modules/{ver}/kernel"):
            return k, ver
    return None


def host_mirror() -> str:
    if os.environ.get("HWAGENT_VM_MIRROR"):
        return os.environ["HWAGENT_VM_MIRROR"]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"]:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for m in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.M):
            uri = m.group(1).rstrip("/")
            if not uri.endswith("-security"):
                return uri
    return "http://deb.debian.org/debian"


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:12]


def _tree_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(REPO)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _run(argv: list[str], log_to: Path | None = None, **kw) -> None:
    if log_to is not None:
        with open(log_to, "ab") as out:
            r = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
    else:
        r = subprocess.run(argv, capture_output=True, **kw)
    if r.returncode != 0:
        tail = Path(log_to).read_text(errors="replace")[-2000:] if log_to else (r.stderr or b"").decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(map(str, argv[:4]))}... failed rc={r.returncode}:\n{tail}")


def _pack_cpio(root: Path, out: Path, members: list[str] | None = None) -> None:
    """newc cpio of ``root`` (or of the given relative members, with their parents listed first)."""
    if members is None:
        listing = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
        names = sorted(listing.decode().split("\n"))
    else:
        names = members
    data = "\n".join(n for n in names if n) + "\n"
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=data.encode(), stdout=f, check=True,
                       env=dict(os.environ, LC_ALL="C"))
    tmp.replace(out)


@dataclass
class Image:
    kernel: Path
    initrd: Path
    kver: str
    rules: list[dict]
    collectors: list[str]
    metrics: list[str]
    commands: list[str]
    info: dict

    @property
    def rule_ids(self) -> set[str]:
        return {r["id"] for r in self.rules}


# ---------------------------------------------------------------------------------------- base layer
def build_base(cache: Path, force: bool = False) -> Path:
    kern = host_kernel()
    if kern is None:
        raise RuntimeError("no /boot/vmlinuz-* with modules: apt-get install linux-image-amd64")
    kpath, kver = kern
    key = _digest(SUITE, GUEST_PACKAGES, MODULE_TREES, kver, 2)
    base = cache / f"base-{key}"
    if (base / "base.cpio").exists() and not force:
        return base
    t0 = time.time()
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    rootfs = base / "rootfs"
    blog = base / "build.log"
    log(f"debootstrap {SUITE} minbase + {','.join(GUEST_PACKAGES)} -> {rootfs} (about a minute)")
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(GUEST_PACKAGES), SUITE, str(rootfs),
          host_mirror()], log_to=blog)
    for pattern in TRIM:
        for f in glob.glob(str(rootfs / pattern)):
            shutil.rmtree(f) if os.path.isdir(f) and not os.path.islink(f) else os.remove(f)
    src = Path(f"/lib/modules/{kver}")
    dst = rootfs / "lib/modules" / kver
    dst.mkdir(parents=True, exist_ok=True)
    for f in list(src.glob("modules.order")) + list(src.glob("modules.builtin*")):
        shutil.copy(f, dst)
    for tree in MODULE_TREES:
        s, t = src / "kernel" / tree, dst / "kernel" / tree
        if s.is_dir():
            shutil.copytree(s, t, symlinks=True, dirs_exist_ok=True)
        elif s.exists():
            t.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(s, t)
    _run(["depmod", "-b", str(rootfs), kver])
    log("packing base.cpio")
    _pack_cpio(rootfs, base / "base.cpio")
    shutil.copy(kpath, base / "vmlinuz")
    info = {"suite": SUITE, "kernel": kpath, "kver": kver, "packages": GUEST_PACKAGES,
            "build_seconds": round(time.time() - t0, 1), "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (base / "base.json").write_text(json.dumps(info, indent=1))
    log(f"base layer built in {info['build_seconds']} s")
    return base


# ----------------------------------------------------------------------------------------- app layer
def _source_files() -> list[str]:
    """The checkout's files a wheel can need (tracked and untracked-not-ignored, tests excluded)."""
    out = subprocess.run(["git", "ls-files", "-c", "-o", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, check=True).stdout.decode()
    return sorted(f for f in set(out.split("\0"))
                  if f and not f.startswith(("tests/", ".")) and (REPO / f).is_file() and "__pycache__" not in f)


def _project_inputs() -> list[Path]:
    return [*(REPO / f for f in _source_files()), GUEST_DIR, Path(__file__)]


def source_mode() -> str:
    """``worktree`` (default: the checkout as it is, uncommitted edits included) or ``head`` (the
    last commit, via ``git archive``: what CI on a clean checkout tests)."""
    mode = os.environ.get("HWAGENT_VM_SOURCE", "worktree")
    if mode not in ("worktree", "head"):
        raise RuntimeError(f"HWAGENT_VM_SOURCE={mode!r}: expected worktree or head")
    return mode


def _source_key() -> str:
    if source_mode() == "head":
        tree = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.split()
        return "head-" + _digest(tree, _tree_digest([GUEST_DIR, Path(__file__)]))
    return _tree_digest(_project_inputs())


def build_wheels(dest: Path) -> None:
    """A wheel of this checkout and of its dependencies, for the guest's Python (= the host's)."""
    dest.mkdir(parents=True, exist_ok=True)
    py = os.environ.get("HWAGENT_VM_PYTHON", "/usr/bin/python3")
    build = dest.parent / "wheel-build"
    shutil.rmtree(build, ignore_errors=True)
    # copy the sources (the package, runbooks, systemd units... everything but tests) so setuptools'
    # build/ and egg-info never land in the checkout
    build.mkdir()
    if source_mode() == "head":
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=REPO, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(build), "--exclude=tests"], input=archive, check=True)
    else:
        for f in _source_files():
            (build / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, build / f)
    _run([py, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(dest), str(build)],
         log_to=dest.parent / "wheels.log")
    shutil.rmtree(build, ignore_errors=True)


def _chroot(rootfs: Path, argv: list[str], log_to: Path) -> None:
    _run(["chroot", str(rootfs), *argv], log_to=log_to, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"})


def _chroot_out(rootfs: Path, argv: list[str]) -> str:
    r = subprocess.run(["chroot", str(rootfs), *argv], capture_output=True, text=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"})
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} in the guest rootfs failed rc={r.returncode}: {r.stderr[-1500:]}")
    return r.stdout


GUEST_CONFIG_HEAD = """# hwagent config of the VM suite's guest (generated by tests/vm/image.py)
[exporter]
listen = ":10067"

[state]
dir = "/var/lib/hwagent"
"""


def build_app(cache: Path, base: Path, force: bool = False) -> Path:
    key = _digest(base.name, _source_key(), 4)
    app = cache / f"app-{key}"
    if (app / "app.cpio").exists() and (app / "rules.json").exists() and not force:
        return app
    t0 = time.time()
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir(parents=True)
    log(f"building wheels of {REPO.name} and its dependencies")
    build_wheels(app / "wheels")
    rootfs = base / "rootfs"
    stage_wheels = rootfs / "tmp/hwagent-wheels"
    for extra in ("opt/hwagent", "tmp/hwagent-wheels", "etc/hwagent", "hwagent-vm", "init"):
        p = rootfs / extra
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    try:
        shutil.copytree(app / "wheels", stage_wheels)
        alog = app / "build.log"
        log("installing the agent into /opt/hwagent (venv in the guest rootfs)")
        _chroot(rootfs, ["python3", "-m", "venv", "/opt/hwagent"], alog)
        wheel = next((app / "wheels").glob("hwagent-*.whl")).name
        _chroot(rootfs, ["/opt/hwagent/bin/python", "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check",
                         "--find-links", "/tmp/hwagent-wheels", f"/tmp/hwagent-wheels/{wheel}"], alog)
        rules = json.loads(_chroot_out(rootfs, ["/opt/hwagent/bin/agent", "rules", "--json"]))
        probe = ("import json; from agent.collectors import COLLECTORS; from agent.exporter.catalog import METRICS;"
                 "import agent.cli as c; c._register();"  # commands are imported lazily: load them all
                 "print(json.dumps({'collectors': [c.name for c in COLLECTORS], 'metrics': [m.name for m in METRICS],"
                 "'commands': sorted(c.cli.commands)}))")
        reg = json.loads(_chroot_out(rootfs, ["/opt/hwagent/bin/python", "-c", probe]))
        # the agent's config: every registered collector on a short interval so a test sees a change
        # within a couple of seconds (the defaults are 30 s and more)
        (rootfs / "etc/hwagent").mkdir(parents=True)
        cfg = GUEST_CONFIG_HEAD + "".join(
            f"\n[collectors.{name}]\ninterval_seconds = {COLLECTOR_INTERVALS.get(name, 2)}\n" for name in reg["collectors"])
        cfg += rate_rule_overrides(rules)
        (rootfs / "etc/hwagent/config.toml").write_text(cfg)
        shutil.copytree(GUEST_DIR, rootfs / "hwagent-vm")
        shutil.copy(GUEST_DIR / "init", rootfs / "init")
        for f in [rootfs / "init", *(rootfs / "hwagent-vm").glob("*.sh")]:
            f.chmod(0o755)
        shutil.rmtree(stage_wheels)
        members = ["init", "etc/hwagent", "etc/hwagent/config.toml"]
        for top in ("opt/hwagent", "hwagent-vm"):
            listing = subprocess.run(["find", top], cwd=rootfs, capture_output=True, check=True, text=True).stdout
            members += sorted(listing.split("\n"))
        members = ["opt"] + members
        _pack_cpio(rootfs, app / "app.cpio", members)
    finally:
        for extra in ("opt/hwagent", "tmp/hwagent-wheels", "etc/hwagent", "hwagent-vm", "init"):
            p = rootfs / extra
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    (app / "rules.json").write_text(json.dumps(rules, indent=1))
    (app / "registry.json").write_text(json.dumps(reg, indent=1))
    (app / "config.toml").write_text(cfg)
    with open(app / "initrd", "wb") as out:
        for part in (base / "base.cpio", app / "app.cpio"):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    info = {"base": base.name, "source": source_mode(), "wheel": wheel, "rules": len(rules), "collectors": reg["collectors"],
            "build_seconds": round(time.time() - t0, 1)}
    (app / "app.json").write_text(json.dumps(info, indent=1))
    log(f"app layer built in {info['build_seconds']} s: {len(rules)} rules, collectors {', '.join(reg['collectors'])}")
    _prune(cache, "app-", app)
    return app


COLLECTOR_INTERVALS = {"smart": 5, "ipmi": 3}


def rate_rule_overrides(rules: list[dict]) -> str:
    """Rate rules (a ``window_seconds`` and a count ``warning`` threshold, or a leaky bucket with a
    ``capacity`` per ``period_seconds``) warn from one or two events in the guest: a test injects a
    couple of corrected errors, not a day's worth. Nothing else is changed."""
    out = []
    for r in rules:
        d = r.get("defaults") or {}
        w = d.get("warning")
        if "window_seconds" in d and isinstance(w, int) and not isinstance(w, bool) and w > 1:
            out.append(f'\n[rules."{r["id"]}"]\nwarning = 1\n')
        cap = d.get("capacity")  # leaky-bucket storm rules
        if "period_seconds" in d and isinstance(cap, int) and not isinstance(cap, bool) and cap > 1:
            out.append(f'\n[rules."{r["id"]}"]\ncapacity = 1\n')
    return "".join(out)


def _prune(cache: Path, prefix: str, keep: Path, n: int = 3) -> None:
    """Drop all but the newest ``n`` layers of a kind (the worktree changes often)."""
    old = sorted((p for p in cache.glob(prefix + "*") if p != keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in old[n - 1:]:
        shutil.rmtree(p, ignore_errors=True)


def build(force: bool = False) -> Image:
    cache = cache_dir()
    base = build_base(cache, force)
    app = build_app(cache, base, force)
    reg = json.loads((app / "registry.json").read_text())
    return Image(kernel=base / "vmlinuz", initrd=app / "initrd", kver=json.loads((base / "base.json").read_text())["kver"],
                 rules=json.loads((app / "rules.json").read_text()), collectors=reg["collectors"],
                 metrics=reg["metrics"], commands=reg.get("commands", []), info=json.loads((app / "app.json").read_text()))


# ----------------------------------------------------------------------------------- backports qemu
def fetch_qemu_bpo(cache: Path) -> Path | None:
    """Unpack bookworm-backports qemu + seabios into the cache (no system install); None if it fails."""
    dest = cache / "qemu-bpo"
    binary = dest / "usr/bin/qemu-system-x86_64"
    if binary.exists():
        return dest
    apt = cache / "apt-bpo"
    shutil.rmtree(apt, ignore_errors=True)
    (apt / "lists/partial").mkdir(parents=True)
    (apt / "debs").mkdir()
    (apt / "sources.list").write_text(f"deb {host_mirror()} {SUITE}-backports main\n")
    opts = ["-o", f"Dir::Etc::sourcelist={apt}/sources.list", "-o", "Dir::Etc::sourceparts=/nonexistent",
            "-o", f"Dir::State::Lists={apt}/lists", "-o", "APT::Sandbox::User=root"]
    log(f"fetching {SUITE}-backports {' '.join(BPO_PACKAGES)} (unpacked into the cache, not installed)")
    try:
        _run(["apt-get", "-q", *opts, "update"], log_to=apt / "apt.log")
        _run(["apt-get", "-q", *opts, "download", *(f"{p}/{SUITE}-backports" for p in BPO_PACKAGES)],
             log_to=apt / "apt.log", cwd=apt / "debs")
        tmp = cache / "qemu-bpo.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for deb in sorted((apt / "debs").glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(tmp)])
        tmp.rename(dest)
    except (RuntimeError, OSError) as exc:
        log(f"backports qemu unavailable: {exc}")
        return None
    return dest


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "build"
    if cmd == "build":
        why = ensure_host_packages()
        if why:
            print(why, file=sys.stderr)
            return 1
        img = build(force="--force" in argv)
        if os.environ.get("HWAGENT_VM_QEMU", "auto") != "system":
            fetch_qemu_bpo(cache_dir())
        print(json.dumps({"kernel": str(img.kernel), "initrd": str(img.initrd), **img.info}, indent=1))
        return 0
    print("usage: python -m tests.vm.image build [--force]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
