#!/bin/bash
# A/B: the venue's throughput without and with the console's book page open, same run
# (scripts/bench_console.py: measures once the page is open, prints CPU per process).
# The box it runs on matters: on 2 shared cores Chromium and the console take CPU from the venue.
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
exec "${PY:-.venv/bin/python}" scripts/bench_console.py "$@"
