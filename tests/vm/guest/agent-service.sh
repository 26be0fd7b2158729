#!/bin/sh
# start | stop | restart the agent daemon the way hwagent.service runs it (`agent run`, config
# from /etc/hwagent/config.toml, state in /var/lib/hwagent); log in /run/hwagent.log.
PATH=/opt/hwagent/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
PIDFILE=/run/hwagent.pid
start() {
  echo "--- start $(cut -d' ' -f1 /proc/uptime)" >> /run/hwagent.log
  setsid agent run < /dev/null >> /run/hwagent.log 2>&1 &
  echo $! > $PIDFILE
}
stop() {
  [ -f $PIDFILE ] || return 0
  pid=$(cat $PIDFILE); kill -TERM "$pid" 2>/dev/null
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null; rm -f $PIDFILE
}
case "$1" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
