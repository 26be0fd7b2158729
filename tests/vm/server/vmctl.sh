#!/bin/sh
# Test-harness command channel on the second serial port (not part of the product): the host
# writes "<token> <shell command>" per line; the output follows, ended by "__HWVM_DONE__ <token> <rc>".
stty -F /dev/ttyS1 raw -echo 115200
echo "HWAGENT-VM: READY $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
exec </dev/ttyS1 >/dev/ttyS1 2>&1
while IFS=' ' read -r token line; do
  sh -c "$line" </dev/null
  echo "__HWVM_DONE__ $token $?"
done
