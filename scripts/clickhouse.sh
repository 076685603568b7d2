#!/usr/bin/env bash
# A private ClickHouse server for meter: installed from the OS packages if missing, listening on 127.0.0.1 only,
# with its own config, data and logs in one folder, stopped by PID. No systemd needed.
#
#   scripts/clickhouse.sh start [DIR]    install if needed, start, wait until it answers; prints the --db URL
#   scripts/clickhouse.sh stop [DIR]     stop the server started in DIR
#   scripts/clickhouse.sh status [DIR]   exit 0 and print the URL when it answers
#
# DIR defaults to .clickhouse/ in the repository. Ports: METER_CH_HTTP_PORT (default 18123, the port meter uses)
# and METER_CH_TCP_PORT (default 19000, for clickhouse-client). The `default` user has no password and is only
# reachable from this machine. METER_CH_NO_INSTALL=1 makes start fail (exit 3) with how to install it instead of
# installing (the tests set it: `npm test` never asks for root).
set -euo pipefail

cmd=${1:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$repo/.clickhouse}
http_port=${METER_CH_HTTP_PORT:-18123}
tcp_port=${METER_CH_TCP_PORT:-19000}
start_timeout=${METER_CH_START_TIMEOUT:-60}

usage() {
  echo "usage: $0 start|stop|status [DIR]" >&2
  exit 2
}

for p in "$http_port" "$tcp_port"; do
  [[ $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || { echo "clickhouse.sh: bad port \"$p\"" >&2; exit 2; }
done

url() { echo "clickhouse://127.0.0.1:$http_port/meter"; }

answers() {
  local out
  if command -v curl >/dev/null 2>&1; then
    out=$(curl -fsS --max-time 2 "http://127.0.0.1:$http_port/?query=SELECT%201" 2>/dev/null) || return 1
  else
    # No curl: a raw HTTP request through bash's /dev/tcp.
    out=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$http_port && printf 'GET /?query=SELECT%%201 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3" 2>/dev/null | tail -n 1) || return 1
  fi
  [[ $(printf '%s' "$out" | tr -d '\r\n') == 1 ]]
}

# The PID in DIR's pid file when that process is alive.
running_pid() {
  local pid
  [[ -f $dir/clickhouse.pid ]] || return 1
  pid=$(tr -dc '0-9' <"$dir/clickhouse.pid")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

install_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 && return 0
  [[ -x /usr/sbin/clickhouse-server ]] && return 0
  if [[ -n ${METER_CH_NO_INSTALL:-} ]]; then
    echo "clickhouse.sh: ClickHouse is not installed. Install it once with \`bash scripts/clickhouse.sh start\` (Debian's" \
      "clickhouse-server package, through sudo), or \`sudo apt-get install clickhouse-server clickhouse-client\`, or see" \
      "https://clickhouse.com/docs/install; or set METER_CH_HTTP_PORT to the HTTP port of a running server" >&2
    exit 3
  fi
  echo "clickhouse.sh: installing clickhouse-server and clickhouse-client from the OS packages" >&2
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" apt-get install -y -q clickhouse-server clickhouse-client >&2
}

server_bin() {
  if command -v clickhouse-server >/dev/null 2>&1; then command -v clickhouse-server; else echo /usr/sbin/clickhouse-server; fi
}

write_config() {
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh: a private server for meter. Edits are overwritten on the next start. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh. The default user has no password: it is reachable from this machine only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

start() {
  local pid
  if pid=$(running_pid); then
    if answers; then
      echo "clickhouse.sh: already running (pid $pid, data in $dir)" >&2
      url
      return 0
    fi
  elif answers; then
    # Something else (another DIR, a CI service) already serves this port: use it.
    echo "clickhouse.sh: a ClickHouse server already answers on 127.0.0.1:$http_port (not started from $dir)" >&2
    url
    return 0
  fi
  install_clickhouse
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -z ${pid:-} ]]; then
    write_config
    # Detached from this shell (setsid), so it outlives the caller; output goes to its own log folder.
    setsid "$(server_bin)" --config-file="$dir/config.xml" >>"$dir/log/stdout.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/clickhouse.pid"
  fi
  local waited=0
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clickhouse.sh: the server exited during start; last log lines:" >&2
      tail -n 20 "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log" 2>/dev/null >&2 || true
      rm -f "$dir/clickhouse.pid"
      return 1
    fi
    if ((waited >= start_timeout * 5)); then
      echo "clickhouse.sh: no answer on 127.0.0.1:$http_port after ${start_timeout}s (pid $pid, logs in $dir/log)" >&2
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  echo "clickhouse.sh: ClickHouse running (pid $pid, data in $dir); use --db $(url)" >&2
  url
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    echo "clickhouse.sh: not running (no live pid in $dir/clickhouse.pid)" >&2
    rm -f "$dir/clickhouse.pid"
    return 0
  fi
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 150)); then
      echo "clickhouse.sh: pid $pid did not stop in 30 s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  rm -f "$dir/clickhouse.pid"
  echo "clickhouse.sh: stopped (pid $pid)" >&2
}

status() {
  if answers; then
    url
    return 0
  fi
  echo "clickhouse.sh: not answering on 127.0.0.1:$http_port" >&2
  return 1
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
