#!/bin/bash
# A/B: loadgen venue target without and with the console's book page open.
# The box it ran on matters: on 2 shared cores Chromium and the console take CPU from the venue.
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
PY=${PY:-.venv/bin/python}
HASH=$($PY -c "from venue.fix.auth import hash_password; print(hash_password('benchpw'))")
TOML=/tmp/console-bench.toml
{ cat fix_config/venue.toml; printf '\n[console.operators]\nalice = "%s"\n' "$HASH"; } > $TOML
ARGS="--targets venue --orders 20000 --latency-orders 200 --open-orders 200 --warmup 1000"
for round in ${ROUNDS:-1 2}; do
  echo "== round $round: without console"
  VENUE_REFERENCE_CONFIG=$TOML $PY scripts/loadgen.py $ARGS 2>&1 | grep -iE "throughput|orders/s" | head -5
  echo "== round $round: with console, book page open"
  VENUE_CONSOLE_PORT=18780 VENUE_REFERENCE_CONFIG=$TOML $PY scripts/loadgen.py $ARGS > /tmp/console-bench-with.log 2>&1 &
  LG=$!
  $PY scripts/console_watch.py --port 18780 --operator alice --password benchpw > /tmp/console-watch.log 2>&1 &
  W=$!
  wait $LG
  kill -TERM $W; wait $W
  grep -iE "throughput|orders/s" /tmp/console-bench-with.log | head -5
  cat /tmp/console-watch.log
done
