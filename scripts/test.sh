#!/usr/bin/env bash
# Command 2 of the README: install what the tests need, start a throwaway PostGIS, run ruff, mypy and pytest.
# With CI=true a PostGIS that cannot be installed or started fails the run instead of skipping its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || need_apt+=(postgresql-15-postgis-3)
command -v ogrinfo >/dev/null 2>&1 || need_apt+=(gdal-bin)  # GDAL's own OAPIF client reads our OGC API
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # the pages' tests drive Debian's Chromium
fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk" || need_apt+=(fonts-wqy-microhei)  # Chinese in screenshots
[ -e /usr/share/zoneinfo/Asia/Shanghai ] || need_apt+=(tzdata)  # the OGC tests run a server on China time
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need_apt[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: missing ${need_apt[*]} and cannot apt-get install (not root); their tests will be skipped (PostGIS) or fail" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"

pgdir=$(mktemp -d /tmp/gridgov-pg.XXXXXX)
chmod 755 "$pgdir"  # the cluster runs as the postgres user, who must reach its data directory
port=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
cleanup() { scripts/pg-throwaway.sh stop "$pgdir/data" || true; rm -rf "$pgdir"; }
trap cleanup EXIT
if url=$(scripts/pg-throwaway.sh start "$pgdir/data" "$port"); then
  export GRIDGOV_TEST_POSTGRES_URL="$url"
  echo "PostGIS for the tests: $url"
elif [ "${CI:-}" = "true" ]; then
  echo "error: could not start PostgreSQL+PostGIS, and CI=true forbids skipping its tests" >&2
  exit 1
else
  echo "warning: no PostGIS; its tests will be skipped" >&2
fi

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
# The slowest tests are listed at the end, so a suite creeping towards its 30-minute budget shows where.
echo "== pytest"; .venv/bin/python -m pytest -q --durations=25 "$@"
