#!/usr/bin/env bash
# Start the local PostgreSQL and MariaDB that integration tests use, if installed and not
# running. Prints what it found; the tests themselves decide whether a missing one fails.
set -uo pipefail

if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || echo "PostgreSQL is not available"
else
  echo "PostgreSQL is not installed"
fi

if command -v mariadb-admin >/dev/null 2>&1; then
  if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -u root status >/dev/null 2>&1; then
    echo "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  fi
  for _ in $(seq 1 30); do mariadb-admin --protocol=tcp -h 127.0.0.1 -u root status >/dev/null 2>&1 && break; sleep 1; done
  mariadb-admin --protocol=tcp -h 127.0.0.1 -u root status || echo "MariaDB is not available"
else
  echo "MariaDB is not installed"
fi
if command -v redis-server >/dev/null 2>&1; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/b2brec-redis.log || true
  fi
  for _ in $(seq 1 15); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  redis-cli -h 127.0.0.1 -p 6379 ping || echo "Redis is not available"
else
  echo "Redis is not installed"
fi
exit 0
