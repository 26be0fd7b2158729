"""The server-like guest of the rehearsal (tests/vm/test_rehearsal.py): a Debian 12 host that boots
like a hoster's server, built without loop devices and cached like the suite's other layers.

Layers under the cache dir (``HWAGENT_VM_CACHE``), each keyed by a hash of its inputs:

* ``server-base-<key>/rootfs``: ``debootstrap`` of the host's suite, then (with a ``policy-rc.d``
  that keeps every service from starting on the build host) ``apt-get install`` of systemd, the
  Debian kernel, grub-efi-amd64, ifupdown, nftables, nginx, postfix, dovecot, PostgreSQL, restic...
  A few minutes, once.
* ``server-disk-<key>/``: the disks of the host, built from a copy of that rootfs plus the agent
  (the suite's app layer wheels, installed as ``/opt/hwagent`` with the shipped systemd unit):

  - ``disk0.img``: GPT with an EFI system partition (FAT32, made with ``mkfs.vfat -C`` and
    ``mcopy``) and an ext4 root (``mkfs.ext4 -d``), copied into place with ``dd`` (no loop device,
    no mount); the ESP carries only a bootstrap GRUB (``grub-mkimage``) at the removable-media
    path ``EFI/BOOT/BOOTX64.EFI``;
  - ``backup.img``: ext4 for the restic repository (the "second disk");
  - ``vars.fd``: the OLD board's NVRAM (a copy of OVMF's empty ``OVMF_VARS_4M.fd``).

  Then the first boot under OVMF on the OLD machine definition (:data:`OLD_BOARD`):
  ``hwagent-firstboot.service`` runs ``grub-install --target=x86_64-efi`` the Debian way (EFI
  variables present: it writes the ``debian`` boot entry into the old board's NVRAM and, with
  ``--force-extra-removable``, replaces the bootstrap loader), ``update-grub``, creates the
  database with its rows and a dump, a Maildir, the restic repository and its first snapshot, and
  powers off. The disks and the VARS file after that boot are the cached "installed server".

Only the standard library is used here. ``python -m tests.vm.server_image build`` builds ahead.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from tests.vm.image import (HERE, REPO, SUITE, _digest, _prune, _run, _source_key, _tree_digest, build_base, cache_dir,
                            host_mirror, log)

SERVER_DIR = HERE / "server"  # files copied into the server guest
SERVER_PACKAGES = (
    "systemd", "systemd-sysv", "udev", "dbus", "systemd-timesyncd", "linux-image-amd64", "initramfs-tools",
    "grub-efi-amd64", "efibootmgr", "dosfstools", "mtools", "ifupdown", "iproute2", "nftables", "nginx-light",
    "postfix", "dovecot-imapd", "postgresql", "restic", "python3", "python3-venv", "openssl", "ca-certificates",
    "smartmontools", "ipmitool", "pciutils", "kmod", "procps", "util-linux", "util-linux-extra", "fdisk", "e2fsprogs", "gdisk", "mdadm",
    "ethtool", "less", "netbase",
    # initramfs-tools-core recommends zstd and a Debian 12 install has it (COMPRESS=zstd, its default); without it
    # update-initramfs falls back to gzip, which under TCG on a slow host took MB-11 past its 600 s timeout
    "zstd")
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
DISK_BYTES = 3 << 30
ESP_MB = 64
BACKUP_BYTES = 512 << 20
# The guest's own kernel command line. Under TCG (no hardware virtualisation) two settings of a real
# server cost the emulated guest most of its time, and both only protect a real CPU:
# * ASLR (``norandmaps`` turns it off): qemu reuses the code it translated for a (virtual address,
#   physical page) pair; with ASLR every exec maps ld.so and libc at new addresses, so every process
#   is translated afresh. 300 execs of /bin/true in the guest: 16.3 s with it, 3.3 s without.
# * the Meltdown page-table isolation (``mitigations=off``): its two CR3 writes per syscall each
#   flush qemu's software TLB. 100,000 one-byte reads with dd: 5.5 s with it, 0.65 s without.
# MB-11's ``update-initramfs`` (MODULES=most: thousands of short processes) ran past its 600 s
# timeout with both on; with both off it took 328 s.
KERNEL_CMDLINE = "console=ttyS0,115200 panic=-1 norandmaps mitigations=off"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}


def chroot(rootfs: Path, argv: list[str], log_to: Path) -> None:
    _run(["chroot", str(rootfs), *argv], log_to=log_to, env=CHROOT_ENV)


def build_server_base(cache: Path, force: bool = False) -> Path:
    key = _digest(SUITE, SERVER_PACKAGES, 1)
    base = cache / f"server-base-{key}"
    rootfs = base / "rootfs"
    if (base / "done").exists() and not force:
        return base
    t0 = time.time()
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    blog = base / "build.log"
    log(f"server rootfs: debootstrap {SUITE} -> {rootfs} (a few minutes, once)")
    _run(["debootstrap", "--variant=minbase", "--include=ca-certificates", SUITE, str(rootfs), host_mirror()], log_to=blog)
    # never start a service on the build host (postgresql, nginx, postfix... postinsts try to)
    prc = rootfs / "usr/sbin/policy-rc.d"
    prc.write_text("#!/bin/sh\nexit 101\n")
    prc.chmod(0o755)
    (rootfs / "etc/hostname").write_text("web1\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 web1.example.test web1\n")  # see configure_rootfs
    (rootfs / "etc/mailname").write_text("web1.example.test\n")
    sel = ("postfix postfix/main_mailer_type select Internet Site\n"
           "postfix postfix/mailname string web1.example.test\n"
           "grub-efi-amd64 grub2/force_efi_extra_removable boolean true\n"
           "grub-efi-amd64 grub2/update_nvram boolean true\n")
    (rootfs / "tmp/debconf.sel").write_text(sel)
    chroot(rootfs, ["debconf-set-selections", "/tmp/debconf.sel"], blog)
    # no kernel postinst hook may try to install GRUB into the build host's disk
    (rootfs / "etc/kernel-img.conf").write_text("do_symlinks = yes\nlink_in_boot = no\n")
    chroot(rootfs, ["apt-get", "install", "-y", "-q", "--no-install-recommends", *SERVER_PACKAGES], blog)
    chroot(rootfs, ["apt-get", "clean"], blog)
    (base / "done").write_text(json.dumps({"packages": SERVER_PACKAGES, "build_seconds": round(time.time() - t0, 1)}))
    log(f"server rootfs built in {time.time() - t0:.0f} s")
    return base




# ------------------------------------------------------------------------------------ the disks
def make_pki(dest: Path) -> None:
    """A test CA and certificates for the two web vhosts and the mail host (made with openssl)."""
    dest.mkdir(parents=True, exist_ok=True)
    ossl = ["openssl"]

    def run(*a: str) -> None:
        _run([*ossl, *a], cwd=dest)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=Rehearsal Test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    for name in CERT_NAMES:
        (dest / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        # backdated a day: the new board's clock runs hours off
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "3650", "-extfile", f"{name}.ext", "-out", f"{name}.crt")


CERT_NAMES = ("www.example.test", "shop.example.test", "mail.example.test")
ROOT_UUID = "5e7a1b2c-0d0e-4f00-9a11-000000000001"
ESP_SERIAL = "5EF1A001"  # FAT volume id -> UUID 5EF1-A001
GUEST_CONFIG_SERVER = """# hwagent config of the rehearsal server (generated by tests/vm/server_image.py)
[exporter]
listen = ":10067"
"""

NGINX_VHOST = """server {{
    listen 443 ssl;
    server_name {name};
    ssl_certificate /etc/ssl/rehearsal/{name}.crt;
    ssl_certificate_key /etc/ssl/rehearsal/{name}.key;
    root /var/www/{name};
}}
"""


def _write(rootfs: Path, rel: str, text: str, mode: int = 0o644) -> None:
    p = rootfs / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    p.chmod(mode)


def configure_rootfs(rootfs: Path, pki: Path, wheels: Path, agent_cfg: str, blog: Path) -> None:
    """Services, users, mounts, boot config and the agent, into a copy of the server rootfs."""
    (rootfs / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    # the hoster's package mirror and status service, reached through the test host (guestfwd)
    _write(rootfs, "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 web1.example.test web1\n"
           "10.0.2.100 status.example.test mirror.example.test\n")
    # the sandbox has no DNS: fail lookups at once (postfix's client name lookup would delay its
    # banner by the resolver's timeouts against the build host's name server)
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    _write(rootfs, "etc/resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    _write(rootfs, "etc/fstab", f"UUID={ROOT_UUID} / ext4 errors=remount-ro 0 1\n"
           f"UUID={ESP_SERIAL[:4]}-{ESP_SERIAL[4:]} /boot/efi vfat umask=0077 0 1\n"
           "LABEL=backup /srv/backup ext4 defaults,nofail 0 2\n")
    (rootfs / "boot/efi").mkdir(parents=True, exist_ok=True)
    (rootfs / "srv/backup").mkdir(parents=True, exist_ok=True)
    _write(rootfs, "etc/default/grub", 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\nGRUB_DISTRIBUTOR=Debian\n'
           f'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="{KERNEL_CMDLINE}"\n'
           'GRUB_TERMINAL=console\nGRUB_DISABLE_OS_PROBER=true\n')
    ssl = rootfs / "etc/ssl/rehearsal"
    ssl.mkdir(parents=True, exist_ok=True)
    for name in CERT_NAMES:
        for ext in ("crt", "key"):
            shutil.copy(pki / f"{name}.{ext}", ssl / f"{name}.{ext}")
    shutil.copy(pki / "ca.crt", ssl / "ca.crt")
    # the test's CA stands in for a public one: the host trusts it as it trusts Let's Encrypt, so
    # the agent's probes from the host (MB-26) verify the vhosts' certificates as on a real server
    (rootfs / "usr/local/share/ca-certificates").mkdir(parents=True, exist_ok=True)
    shutil.copy(pki / "ca.crt", rootfs / "usr/local/share/ca-certificates/rehearsal-ca.crt")
    chroot(rootfs, ["update-ca-certificates"], blog)
    for name in CERT_NAMES[:2]:
        _write(rootfs, f"etc/nginx/sites-enabled/{name}", NGINX_VHOST.format(name=name))
        _write(rootfs, f"var/www/{name}/index.html", f"<h1>{name} on web1</h1>\n")
    (rootfs / "etc/nginx/sites-enabled/default").unlink(missing_ok=True)
    mail = "mail.example.test"
    with open(rootfs / "etc/postfix/main.cf", "a") as f:
        f.write(f"\n# rehearsal\nmyhostname = {mail}\nmydestination = $myhostname, example.test, web1, localhost\n"
                f"smtpd_tls_cert_file = /etc/ssl/rehearsal/{mail}.crt\nsmtpd_tls_key_file = /etc/ssl/rehearsal/{mail}.key\n"
                "smtpd_tls_security_level = may\nhome_mailbox = Maildir/\ninet_protocols = ipv4\n")
    with open(rootfs / "etc/postfix/master.cf", "a") as f:
        f.write("submission inet n       -       y       -       -       smtpd\n"
                "  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n")
    _write(rootfs, "etc/dovecot/conf.d/99-rehearsal.conf",
           f"mail_location = maildir:~/Maildir\nssl = required\nssl_cert = </etc/ssl/rehearsal/{mail}.crt\n"
           f"ssl_key = </etc/ssl/rehearsal/{mail}.key\nprotocols = imap\n")
    _write(rootfs, "etc/restic.pass", "rehearsal-backup-pass\n", 0o600)
    _write(rootfs, "etc/systemd/system/serial-getty@ttyS1.service", "")  # ttyS1 is the harness channel
    (rootfs / "etc/systemd/system/serial-getty@ttyS1.service").unlink()
    (rootfs / "etc/systemd/system/serial-getty@ttyS1.service").symlink_to("/dev/null")
    share = rootfs / "usr/local/share/rehearsal"
    share.mkdir(parents=True, exist_ok=True)
    for f in ("interfaces", "nftables.conf"):
        shutil.copy(SERVER_DIR / f, share / f)
    for src, dst in (("firstboot.sh", "usr/local/sbin/hwagent-firstboot"), ("vmctl.sh", "usr/local/sbin/hwagent-vmctl")):
        _write(rootfs, dst, (SERVER_DIR / src).read_text(), 0o755)
    for unit in ("hwagent-firstboot.service", "hwagent-vmctl.service"):
        shutil.copy(SERVER_DIR / unit, rootfs / "etc/systemd/system" / unit)
    # the agent, as the package installs it: /opt/hwagent venv, the shipped unit, the config
    stage = rootfs / "tmp/hwagent-wheels"
    shutil.copytree(wheels, stage)
    chroot(rootfs, ["python3", "-m", "venv", "/opt/hwagent"], blog)
    wheel = next(wheels.glob("hwagent-*.whl")).name
    chroot(rootfs, ["/opt/hwagent/bin/python", "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check",
                    "--find-links", "/tmp/hwagent-wheels", f"/tmp/hwagent-wheels/{wheel}"], blog)
    shutil.rmtree(stage)
    (rootfs / "usr/local/bin/agent").symlink_to("/opt/hwagent/bin/agent")
    for unit in sorted((REPO / "systemd").glob("*.service")) + sorted((REPO / "systemd").glob("*.timer")):
        shutil.copy(unit, rootfs / "etc/systemd/system" / unit.name)
    _write(rootfs, "etc/hwagent/config.toml", agent_cfg)
    _write(rootfs, "etc/default/hwagent", f"HWAGENT_STATUS_URL=http://{STATUS_GUEST_ADDR}\n")
    # the host credential is made by the status service of each run (`hwstatus credential add web1
    # --role host`) and installed by the test after boot; until then heartbeats are refused
    _write(rootfs, "etc/hwagent/status.token", "not-installed-yet\n", 0o600)
    chroot(rootfs, ["useradd", "-m", "-s", "/bin/bash", "alice"], blog)
    _run(["chroot", str(rootfs), "chpasswd"], input=b"alice:alice-imap-pass\n")
    # heartbeats as shipped: hwagent-heartbeat.service (`--every 15`), kept running by its timer
    chroot(rootfs, ["systemctl", "enable", "hwagent-firstboot.service", "hwagent-vmctl.service", "nftables.service",
                    "systemd-timesyncd.service", "hwagent.service", "hwagent-heartbeat.timer"], blog)


STATUS_GUEST_ADDR = "10.0.2.100:10068"  # guestfwd to the status service on the test host


def _esp_image(base_rootfs: Path, work: Path, root_uuid: str, kver: str, blog: Path) -> Path:
    """FAT32 ESP with a bootstrap GRUB at the removable-media path (the first boot replaces it)."""
    tmp = base_rootfs / "tmp/hwvm-esp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cfg = (f"search --no-floppy --fs-uuid --set=root {root_uuid}\n"
           f"linux /boot/vmlinuz-{kver} root=UUID={root_uuid} ro {KERNEL_CMDLINE}\n"
           f"initrd /boot/initrd.img-{kver}\nboot\n")
    (tmp / "grub.cfg").write_text(cfg)
    chroot(base_rootfs, ["grub-mkimage", "-O", "x86_64-efi", "-o", "/tmp/hwvm-esp/BOOTX64.EFI", "-p", "/EFI/BOOT",
                         "part_gpt", "fat", "ext2", "normal", "linux", "search", "search_fs_uuid", "configfile",
                         "echo", "gzio", "all_video", "efi_gop"], blog)
    chroot(base_rootfs, ["mkfs.vfat", "-F", "32", "-i", ESP_SERIAL, "-n", "ESP", "-C", "/tmp/hwvm-esp/esp.img",
                         str(ESP_MB * 1024)], blog)
    chroot(base_rootfs, ["mmd", "-i", "/tmp/hwvm-esp/esp.img", "::/EFI", "::/EFI/BOOT"], blog)
    chroot(base_rootfs, ["mcopy", "-i", "/tmp/hwvm-esp/esp.img", "/tmp/hwvm-esp/BOOTX64.EFI", "/tmp/hwvm-esp/grub.cfg",
                         "::/EFI/BOOT/"], blog)
    out = work / "esp.img"
    shutil.move(str(tmp / "esp.img"), out)
    shutil.rmtree(tmp)
    return out


def _gpt_disk(base_rootfs: Path, disk: Path, esp: Path, root: Path, blog: Path) -> None:
    """GPT: partition 1 ESP (EF00), partition 2 root (8300), written with sgdisk and dd (no loop)."""
    tmp = base_rootfs / "tmp/hwvm-disk.img"
    with open(tmp, "wb") as f:
        f.truncate(DISK_BYTES)
    esp_end = 2048 + ESP_MB * 2048 - 1
    chroot(base_rootfs, ["sgdisk", "-n", f"1:2048:{esp_end}", "-t", "1:EF00", "-c", "1:EFI system partition",
                         "-n", f"2:{esp_end + 1}:0", "-t", "2:8300", "-c", "2:root", "/tmp/hwvm-disk.img"], blog)
    shutil.move(str(tmp), disk)
    _run(["dd", f"if={esp}", f"of={disk}", "bs=1M", f"seek={2048 * 512 >> 20}", "conv=notrunc,sparse", "status=none"])
    _run(["dd", f"if={root}", f"of={disk}", "bs=1M", f"seek={(esp_end + 1) * 512 >> 20}", "conv=notrunc,sparse", "status=none"])


def server_disk_key(base: Path) -> str:
    # server_machine.py: the first boot's hardware is the old board's (the agent's state remembers it)
    return _digest(base.name, _source_key(), _tree_digest([SERVER_DIR, Path(__file__), HERE / "server_machine.py"]), 1)


def build_server_disk(cache: Path, force: bool = False) -> Path:
    """The installed server's disks and the old board's NVRAM, after its first boot (cached)."""
    from tests.vm.image import COLLECTOR_INTERVALS, build_app, rate_rule_overrides  # noqa: PLC0415

    sbase = build_server_base(cache, force=False)
    app = build_app(cache, build_base(cache))
    key = server_disk_key(sbase)
    out = cache / f"server-disk-{key}"
    if (out / "done").exists() and not force:
        return out
    t0 = time.time()
    shutil.rmtree(out, ignore_errors=True)
    work = out / "build"
    work.mkdir(parents=True)
    blog = out / "build.log"
    log(f"server disks -> {out}")
    make_pki(out / "pki")
    rootfs = work / "rootfs"
    _run(["cp", "-a", "--reflink=auto", str(sbase / "rootfs"), str(rootfs)])
    reg = json.loads((app / "registry.json").read_text())
    rules = json.loads((app / "rules.json").read_text())
    cfg = GUEST_CONFIG_SERVER + "".join(
        f"\n[collectors.{name}]\ninterval_seconds = {COLLECTOR_INTERVALS.get(name, 2)}\n" for name in reg["collectors"])
    cfg += rate_rule_overrides(rules)
    configure_rootfs(rootfs, out / "pki", app / "wheels", cfg, blog)
    kver = sorted(p.name[len("vmlinuz-"):] for p in (rootfs / "boot").glob("vmlinuz-*"))[-1]
    root_img = work / "root.img"
    root_bytes = DISK_BYTES - (2048 + ESP_MB * 2048) * 512 - (1 << 20)
    _run(["mkfs.ext4", "-q", "-F", "-U", ROOT_UUID, "-L", "root", "-d", str(rootfs), str(root_img), f"{root_bytes >> 10}K"])
    esp = _esp_image(sbase / "rootfs", work, ROOT_UUID, kver, blog)
    _gpt_disk(sbase / "rootfs", out / "disk0.img", esp, root_img, blog)
    backup = out / "backup.img"
    _run(["mkfs.ext4", "-q", "-F", "-L", "backup", str(backup), f"{BACKUP_BYTES >> 10}K"])
    shutil.copy(OVMF_VARS, out / "vars.fd")
    shutil.rmtree(work)
    (out / "kver").write_text(kver)
    # first boot on the old board: grub-install with EFI variables, data, first backup, power off
    from tests.vm.server_machine import OLD_BOARD, ServerMachine  # noqa: PLC0415

    m = ServerMachine(out, out / "firstboot", OLD_BOARD, overlay=False)
    try:
        m.start(wait_ready=False)
        m.wait_serial(r"HWAGENT-FIRSTBOOT: done", 900)
        rc = m.wait_exit(300)
    finally:
        m.stop()
    if rc != 0 or "HWAGENT-FIRSTBOOT: done" not in m.console():
        raise RuntimeError(f"first boot of the server ended rc={rc}; see {m.dir}")
    shutil.copy(m.vars, out / "vars.fd")  # the old board's NVRAM, now with the "debian" entry
    shutil.copy(m.serial_path, out / "firstboot-serial.log")
    shutil.rmtree(m.dir)
    info = {"kver": kver, "app": app.name, "base": sbase.name, "build_seconds": round(time.time() - t0, 1)}
    (out / "done").write_text(json.dumps(info, indent=1))
    log(f"server disks built in {info['build_seconds']} s")
    _prune(cache, "server-disk-", out, 2)
    return out


def main(argv: list[str]) -> int:
    out = build_server_disk(cache_dir(), force="--force" in argv)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
