# An SMTP server receiving what Parley sends (outbound mail tests): aiosmtpd from the Debian
# package python3-aiosmtpd running tests/mail/smtp_sink.py, storing each message as a file under
# $PARLEY_TEST_SMTP_DIR/<recipient>/. Behaviour by recipient: see the sink's docstring.
SERVICE_PLUGINS+=(smtp)

packages_smtp() {
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || echo python3-aiosmtpd
}

start_smtp() {
  [ -z "${PARLEY_TEST_SMTP_PORT:-}" ] || return 0
  local port; port=$(free_port)
  local dir="$SERVICES_DIR/smtp"
  mkdir -p "$dir/mail"
  local sink; sink="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/mail" && pwd)/smtp_sink.py"
  # Mail to imap-USER@ goes into Dovecot's mailbox of USER (when Dovecot runs: real mail that
  # the IMAP connector then imports).
  /usr/bin/python3 "$sink" "$port" "$dir/mail" "${PARLEY_TEST_IMAP_MAILDIR:-}" >"$dir/sink.log" 2>&1 </dev/null &
  echo $! >"$dir/sink.pid"
  local ready=""
  for _ in $(seq 1 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; then
      ready=1; break
    fi
    sleep 0.1
  done
  [ -n "$ready" ] || { cat "$dir/sink.log" >&2; return 1; }
  export PARLEY_TEST_SMTP_PORT="$port"
  export PARLEY_TEST_SMTP_DIR="$dir/mail"
  echo "services: SMTP sink (aiosmtpd) on 127.0.0.1:$port ($dir/mail)" >&2
}

stop_smtp() {
  local dir="$1/smtp"
  [ -s "$dir/sink.pid" ] || return 0
  local pid; pid=$(cat "$dir/sink.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

exports_smtp() {
  echo PARLEY_TEST_SMTP_PORT PARLEY_TEST_SMTP_DIR
}
