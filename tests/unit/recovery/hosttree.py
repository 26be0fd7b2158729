"""A synthetic host tree for baseline and mainboard-swap tests: one board, two NICs, two SATA
disks in an md RAID1 with ESPs, fstab/crypttab, netplan and a legacy persistent-net rule that
names the onboard MAC. ``board_serial``, ``macs`` and ``efi`` vary to model a board swap."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.fakesys import FakeSys
from tests.support.replay import ReplayRunner

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "baseline"
OLD_MACS = {"eno1": "3c:ec:ef:00:00:01", "eno2": "3c:ec:ef:00:00:02"}
NEW_MACS = {"eno1": "3c:ec:ef:11:11:01", "eno2": "3c:ec:ef:11:11:02"}
MD_UUID_SYSFS = "3e1c2a7b:5d4f6e8a:9b0c1d2e:3f4a5b6c"


def build(root: Path, *, board_serial: str = "OLDBOARD0001", macs: dict[str, str] | None = None,
          netplan_mac: str | None = None, udev_mac: str | None = None, efi: str = "before", missing_fstab_uuid: bool = False,
          rich: bool = False, services_down: bool = False, network_up: bool = True) -> tuple[FakeSys, ReplayRunner]:
    """``rich``: the host also serves DNS/SSH/SMTP/HTTP(S) (listening sockets, addresses, routes),
    has ifupdown, nftables (``iifname "eno1"``, policy drop) and sysctl config naming ``eno1``, an
    AHCI controller, /etc/adjtime and an initramfs. ``efi``: before | after | pxe (new NVRAM: PXE
    first, EFI shell). ``network_up``: the addresses are configured (False: renamed NICs came
    up unconfigured). ``services_down``: nginx does not listen."""
    fs = FakeSys(root / "tree")
    fs.proc_basics(meminfo="MemTotal:       32780000 kB\nMemFree:        20000000 kB\n")
    dmi = {"board_vendor": "Supermicro", "board_name": "X11SCL-F", "board_serial": board_serial,
           "board_version": "1.02", "bios_vendor": "American Megatrends Inc.", "bios_version": "2.3",
           "bios_date": "03/11/2024", "sys_vendor": "Supermicro", "product_name": "SYS-5019C-M",
           "product_serial": "S0000000001", "product_uuid": "00000000-0000-0000-0000-3cecef000001",
           "chassis_serial": "C0000000001"}
    for k, v in dmi.items():
        fs.write(f"sys/class/dmi/id/{k}", v + "\n")
    cpu = "".join(f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz\nphysical id\t: 0\n"
                  f"microcode\t: 0xf8\nflags\t\t: fpu vme de vmx sse4_2 avx2\n\n" for i in range(4))
    fs.write("proc/cpuinfo", cpu)
    fs.write("proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.1.0-26-amd64 root=/dev/md0 ro quiet\n")
    fs.write("proc/sys/kernel/osrelease", "6.1.0-26-amd64\n")
    macs = macs or OLD_MACS
    for i, (name, mac) in enumerate(sorted(macs.items())):
        pci = f"0000:0{i + 1}:00.0"
        dev = f"sys/devices/pci0000:00/0000:00:1c.{i}/{pci}"
        fs.write(f"{dev}/vendor", "0x8086\n")
        fs.link(f"{dev}/driver", "../../../../bus/pci/drivers/igb")
        fs.write(f"{dev}/net/{name}/address", mac + "\n")
        fs.write(f"{dev}/net/{name}/operstate", "up\n" if i == 0 else "down\n")
        fs.write(f"{dev}/net/{name}/carrier", "1\n" if i == 0 else "0\n")
        fs.write(f"{dev}/net/{name}/speed", "1000\n" if i == 0 else "-1\n")
        fs.link(f"{dev}/net/{name}/device", "../../../" + pci)
        fs.link(f"sys/class/net/{name}", f"../../devices/pci0000:00/0000:00:1c.{i}/{pci}/net/{name}")
    fs.write("sys/bus/pci/drivers/igb/module", "")
    fs.write("sys/devices/virtual/net/lo/address", "00:00:00:00:00:00\n")
    fs.link("sys/class/net/lo", "../../devices/virtual/net/lo")
    fs.write("sys/devices/virtual/net/br0/address", "3c:ec:ef:00:00:01\n")
    fs.link("sys/class/net/br0", "../../devices/virtual/net/br0")
    disks = {"sda": ("8:0", "WDC WD5000AAKX-0", "WD-WCAYUS000001", "0x50014ee000000001"),
             "sdb": ("8:16", "WDC WD5000AAKX-0", "WD-WCAYUS000002", "0x50014ee000000002")}
    for name, (devnum, model, serial, wwn) in disks.items():
        fs.write(f"sys/block/{name}/dev", devnum + "\n")
        fs.write(f"sys/block/{name}/size", "976773168\n")
        fs.write(f"sys/block/{name}/device/model", model + "\n")
        fs.write(f"sys/block/{name}/queue/rotational", "1\n")
        for p in (1, 2):
            fs.write(f"sys/block/{name}/{name}{p}/partition", f"{p}\n")
        fs.write(f"run/udev/data/b{devnum}", f"E:ID_SERIAL_SHORT={serial}\nE:ID_WWN={wwn}\nE:ID_MODEL={model.replace(' ', '_')}\n")
        fs.link(f"dev/disk/by-id/ata-{model.replace(' ', '_')}_{serial}", f"../../{name}")
        fs.link(f"dev/disk/by-id/wwn-{wwn}", f"../../{name}")
    fs.write("sys/block/loop0/size", "0\n")
    fs.write("sys/block/md0/size", "936652431\n")
    fs.link("dev/disk/by-uuid/0b7c1f0e-root-4000-8000-000000000000", "../../md0")
    fs.link("dev/disk/by-uuid/7A3B-11C2", "../../sda1")
    fs.write("proc/mdstat", "Personalities : [raid1]\nmd0 : active raid1 sdb2[1] sda2[0]\n"
                            "      468326208 blocks super 1.2 [2/2] [UU]\n      bitmap: 1/4 pages [4KB], 65536KB chunk\n\n"
                            "unused devices: <none>\n")
    fs.write("etc/mdadm/mdadm.conf", f"ARRAY /dev/md/0 metadata=1.2 name=testhost:0 UUID={MD_UUID_SYSFS}\n")
    fs.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    swap_uuid = "9999dead-0000-4000-8000-000000000000" if missing_fstab_uuid else None
    fs.write("etc/fstab", "# <file system> <mount point> <type> <options> <dump> <pass>\n"
                          "UUID=0b7c1f0e-root-4000-8000-000000000000 / ext4 errors=remount-ro 0 1\n"
                          "UUID=7A3B-11C2 /boot/efi vfat umask=0077 0 1\n"
                          + (f"UUID={swap_uuid} none swap sw 0 0\n" if swap_uuid else "")
                          + "tmpfs /tmp tmpfs defaults 0 0\n")
    fs.write("etc/crypttab", "# <target name> <source device> <key file> <options>\n")
    fs.write("etc/netplan/01-netcfg.yaml",
             "network:\n  version: 2\n  ethernets:\n    uplink:\n      match:\n"
             f"        macaddress: {netplan_mac or OLD_MACS['eno1']}\n      set-name: eno1\n      dhcp4: true\n")
    fs.write("etc/udev/rules.d/70-persistent-net.rules",
             f'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="{udev_mac or OLD_MACS["eno2"]}", NAME="eno2"\n'
             '# SUBSYSTEM=="net", ATTR{address}=="de:ad:be:ef:00:00", NAME="old0"\n')
    fs.write("sys/firmware/efi/fw_platform_size", "64\n")
    fs.write("boot/grub/grub.cfg", "# grub\n")
    fs.write("boot/efi/EFI/debian/shimx64.efi", "")
    cmd = root / "commands"
    if cmd.exists():
        shutil.rmtree(cmd)
    shutil.copytree(FIXTURES / "commands", cmd)
    if efi in ("after", "pxe"):
        shutil.copytree(FIXTURES / f"commands-{efi}", cmd, dirs_exist_ok=True)
    if rich:
        _rich(fs, cmd, macs, services_down, network_up)
    return fs, ReplayRunner(cmd, strict=False)


def _rich(fs: FakeSys, cmd: Path, macs: dict[str, str], services_down: bool, network_up: bool) -> None:
    rich_commands(cmd, macs, services_down, network_up)
    _rich_tree(fs)


def rich_commands(cmd: Path, macs: dict[str, str], services_down: bool, network_up: bool) -> None:
    """Recorded ip/ss output for the rich host; after a swap generated from its names and MACs."""
    import json

    from agent.baseline_services import eui64

    shutil.copytree(FIXTURES / "commands-rich", cmd, dirs_exist_ok=True)
    if services_down:
        shutil.copytree(FIXTURES / "commands-services-down", cmd, dirs_exist_ok=True)
    if macs != OLD_MACS:  # the live state after the swap: generated from the names and MACs it has
        links = []
        for i, (name, mac) in enumerate(sorted(macs.items())):
            addrs = []
            if i == 0 and network_up:
                iid = eui64(mac).split(":")
                addrs = [{"family": "inet", "local": "203.0.113.10", "prefixlen": 24, "scope": "global", "label": name},
                         {"family": "inet6", "local": "2001:db8:10::10", "prefixlen": 64, "scope": "global"},
                         {"family": "inet6", "local": "2001:db8:10:0:" + ":".join(x.lstrip("0") or "0" for x in iid),
                          "prefixlen": 64, "scope": "global", "dynamic": True, "mngtmpaddr": True}]
            links.append({"ifindex": i + 2, "ifname": name, "address": mac, "addr_info": addrs})
        (cmd / "ip" / "-j_addr_show").write_text(json.dumps(links) + "\n")
        first = sorted(macs)[0]
        (cmd / "ip" / "-j_route_show_default").write_text(
            json.dumps([{"dst": "default", "gateway": "203.0.113.1", "dev": first}] if network_up else []) + "\n")
        (cmd / "ip" / "-j_-6_route_show_default").write_text(
            json.dumps([{"dst": "default", "gateway": "2001:db8:10::1", "dev": first}] if network_up else []) + "\n")


def _rich_tree(fs: FakeSys) -> None:
    for pid, unit in ((701, "named.service"), (640, "ssh.service"), (900, "postfix@-.service"), (811, "nginx.service"),
                      (812, "nginx.service"), (720, "mariadb.service")):
        fs.write(f"proc/{pid}/cgroup", f"0::/system.slice/{unit}\n")
    fs.write("etc/network/interfaces", "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
             "allow-hotplug eno1\niface eno1 inet static\n    address 203.0.113.10/24\n    gateway 203.0.113.1\n"
             "iface eno1 inet6 static\n    address 2001:db8:10::10/64\n")
    fs.write("etc/nftables.conf", "#!/usr/sbin/nft -f\nflush ruleset\n\ntable inet filter {\n"
             "    chain input {\n        type filter hook input priority filter; policy drop;\n"
             "        iif \"lo\" accept\n        ct state established,related accept\n"
             "        iifname \"eno1\" tcp dport { 22, 25, 53, 80, 443 } accept\n"
             "        iifname \"eno1\" udp dport 53 accept\n    }\n}\n")
    fs.write("etc/sysctl.d/90-eno1.conf", "net.ipv6.conf.eno1.accept_ra = 0\n")
    fs.write("etc/resolv.conf", "nameserver 203.0.113.53\nnameserver 2001:db8:53::53\n")
    fs.write("etc/adjtime", "0.000000 1764000000 0.000000\n1764000000\nUTC\n")
    fs.write("sys/bus/pci/devices/0000:00:17.0/class", "0x010601\n")
    fs.link("sys/bus/pci/devices/0000:00:17.0/driver", "../../../../bus/pci/drivers/ahci")
    fs.write("sys/bus/pci/drivers/ahci/module", "")
    fs.write("boot/initrd.img-6.1.0-26-amd64", "initramfs")
    fs.write("etc/nginx/sites-enabled/www", "server {\n    listen 80;\n    server_name www.example.org;\n"
             "    return 301 https://$host$request_uri;\n}\nserver {\n    listen 203.0.113.10:443 ssl http2;\n"
             "    server_name www.example.org;  # the customer's shop\n    ssl_certificate /etc/ssl/www.pem;\n"
             "    location / { root /srv/www; }\n}\nserver {\n    listen 80 default_server;\n    server_name _;\n}\n")
    fs.write("etc/bind/named.conf.local", '//\n// zones this server is primary for\n//\nzone "example.org" {\n'
             '    type master;\n    file "/var/lib/bind/db.example.org";\n};\nzone "example.net" {\n'
             '    type slave;\n    primaries { 198.51.100.53; };\n};\n')
    fs.write("etc/mailname", "mail.example.org\n")


def capture(tmp: Path, make_host, **kw):
    from agent import baseline as bl

    fs, runner = build(tmp, **kw)
    host = make_host(fs.root, runner=runner)
    return bl.capture(host), runner
