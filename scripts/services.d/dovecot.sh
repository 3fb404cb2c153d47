# Dovecot IMAP for the email-in tests (sourced by scripts/services.sh): a private instance with
# its own config, a passwd-file holding one test user, Maildir under $SERVICES_DIR/dovecot,
# plaintext login on a free 127.0.0.1 port. Any other user name logs in with the same password
# and gets its own Maildir, so concurrent tests never share a mailbox. Run as the unprivileged `dovecot` user when we are
# root (Dovecot runs fine unprivileged when every service uses that one user).
# Exports PARLEY_TEST_IMAP_PORT, PARLEY_TEST_IMAP_USER, PARLEY_TEST_IMAP_PASSWORD.
SERVICE_PLUGINS+=(dovecot)

packages_dovecot() {
  [ -n "${PARLEY_TEST_IMAP_PORT:-}" ] && return 0
  [ -x /usr/sbin/dovecot ] || echo dovecot-imapd
}

exports_dovecot() {
  echo PARLEY_TEST_IMAP_PORT PARLEY_TEST_IMAP_USER PARLEY_TEST_IMAP_PASSWORD PARLEY_TEST_IMAP_MAILDIR
}

start_dovecot() {
  [ -z "${PARLEY_TEST_IMAP_PORT:-}" ] || return 0
  local dir="$SERVICES_DIR/dovecot" port user group
  port=$(free_port)
  mkdir -p "$dir/run" "$dir/state" "$dir/mail"
  if [ "$(id -u)" -eq 0 ]; then user=dovecot; group=dovecot; else user=$(id -un); group=$(id -gn); fi
  printf 'parley:{PLAIN}parley-imap-password::::::\n' >"$dir/passwd"
  cat >"$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = $user
default_internal_group = $group
default_login_user = $user
first_valid_uid = 0
mail_location = maildir:$dir/mail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
# Any other user name with the test password: each test takes a mailbox of its own.
passdb {
  driver = static
  args = password=parley-imap-password
}
userdb {
  driver = static
  args = uid=$user gid=$group home=$dir/mail/%u
}
service imap-login {
  chroot =
  user = $user
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  chroot =
}
service submission-login {
  chroot =
}
service imap {
  user = $user
}
service auth {
  user = $user
}
service auth-worker {
  user = $user
}
service anvil {
  chroot =
  user = $user
}
service log {
  user = $user
}
service stats {
  user = $user
}
service dict {
  user = $user
}
service dict-async {
  user = $user
}
service config {
  user = $user
}
service dns-client {
  user = $user
}
service director {
  user = $user
}
service imap-urlauth-login {
  chroot =
}
CONF
  [ "$(id -u)" -ne 0 ] || chown -R "$user:$group" "$dir"
  local run=(); [ "$(id -u)" -ne 0 ] || run=(runuser -u "$user" --)
  "${run[@]}" /usr/sbin/dovecot -c "$dir/dovecot.conf" \
    || { cat "$dir/dovecot.log" >&2 2>/dev/null; return 1; }
  local ready=""
  for _ in $(seq 1 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; then
      ready=1; break
    fi
    sleep 0.1
  done
  [ -n "$ready" ] || { cat "$dir/dovecot.log" >&2; return 1; }
  export PARLEY_TEST_IMAP_PORT=$port PARLEY_TEST_IMAP_USER=parley PARLEY_TEST_IMAP_PASSWORD=parley-imap-password
  # Where each user's Maildir is: the SMTP sink delivers mail for imap-USER@ there.
  export PARLEY_TEST_IMAP_MAILDIR="$dir/mail"
  echo "services: Dovecot IMAP on 127.0.0.1:$port ($dir)" >&2
}

stop_dovecot() {
  local dir="$1/dovecot"
  [ -f "$dir/dovecot.conf" ] || return 0
  local pid
  pid=$(cat "$dir/run/master.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  # SIGTERM to the master stops every Dovecot process it started.
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
