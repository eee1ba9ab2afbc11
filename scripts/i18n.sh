#!/usr/bin/env bash
# The translation workflow: extract every marked message (Python T()/N_(), the pages' t()) into
# i18n/gridgov.pot with Babel, then list the ids that have no Chinese yet (tests/test_i18n.py fails on them).
#   scripts/i18n.sh            extract + check
# Translate by adding entries to the right i18n/locales/zh_CN/<area>.po (msgid = the English, {fields} kept).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python; [ -x "$py" ] || py=python3
cat > /tmp/gridgov-babel.cfg <<'CFG'
[python: **.py]
[javascript: **/static/*.js]
[jinja2: **/templates/*.html]
CFG
"$py" -m babel.messages.frontend extract -F /tmp/gridgov-babel.cfg -k T -k N_ -k t --no-location --sort-output \
  -o i18n/gridgov.pot analytics api cases cli config etl gis i18n store web >/dev/null
"$py" -m i18n.check
