#!/bin/sh
# First boot of the rehearsal server on its first ("old") board, run once by hwagent-firstboot.service.
set -eux
say() { echo "HWAGENT-FIRSTBOOT: $*" > /dev/ttyS0; }
say start
# the boot loader, the Debian way: EFI variables exist now, so grub-install writes the "debian"
# entry into this board's NVRAM; --force-extra-removable also replaces the bootstrap loader at
# EFI/BOOT/BOOTX64.EFI (as debconf grub2/force_efi_extra_removable does)
grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian --force-extra-removable
update-grub
efibootmgr -v > /dev/ttyS0
# the network config names the NIC this board has (as the installer wrote it)
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n1)
say "nic $nic $(cat /sys/class/net/$nic/address)"
sed "s/@NIC@/$nic/g" /usr/local/share/rehearsal/interfaces > /etc/network/interfaces
sed "s/@NIC@/$nic/g" /usr/local/share/rehearsal/nftables.conf > /etc/nftables.conf
ifup "$nic"; nft -f /etc/nftables.conf
# the customer data: a database with rows and its dump, a Maildir
runuser -u postgres -- psql -v ON_ERROR_STOP=1 -c "CREATE ROLE shop LOGIN PASSWORD 'shop'" -c "CREATE DATABASE shop OWNER shop"
runuser -u postgres -- psql -v ON_ERROR_STOP=1 -d shop -c "CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL)" \
  -c "INSERT INTO orders VALUES (1, 'dom-web1-basic'), (2, 'mailbox-10g'), (3, 'tls-cert-renewal')" -c "ALTER TABLE orders OWNER TO shop"
mkdir -p /var/backups/db
runuser -u postgres -- pg_dump shop > /var/backups/db/shop.sql
for d in cur new tmp; do install -d -o alice -g alice -m 700 /home/alice/Maildir/$d; done
cat > /home/alice/Maildir/cur/1700000000.M1P1.web1:2,S <<MAIL
From: billing@example.test
To: alice@example.test
Subject: Invoice 2026-11
Date: Sun, 30 Nov 2026 10:00:00 +0000

Your invoice is attached.
MAIL
chown -R alice:alice /home/alice/Maildir
# the first backup, to the restic repository on the second disk
export RESTIC_REPOSITORY=/srv/backup/restic RESTIC_PASSWORD_FILE=/etc/restic.pass
restic init
restic backup --tag rehearsal /var/backups/db /home/alice/Maildir /etc
restic snapshots
systemctl enable hwagent.service
# the agent starts its history on the first real boot (its state of this boot would remember
# devices by the build's timing, not the host's)
systemctl stop hwagent.service
rm -rf /var/lib/hwagent/*
touch /var/lib/hwagent-firstboot.done
sync
say done
systemctl poweroff
