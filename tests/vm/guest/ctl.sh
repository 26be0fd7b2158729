#!/bin/sh
# Command channel on the second serial port: the host writes "<token> <shell command>" per line;
# the output follows, ended by "__HWVM_DONE__ <token> <exit code>".
exec </dev/ttyS1 >/dev/ttyS1 2>&1
while IFS=' ' read -r token line; do
  sh -c "$line"
  echo "__HWVM_DONE__ $token $?"
done
