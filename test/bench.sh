#!/usr/bin/env bash
# The benchmarks: the unit benchmarks, and the time from `docker kill` to the
# alert in the room, with the docker event stream and with probing only
# (median and max over 10 kills each). Sets up the same world as the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

say "go test -bench"
go test -tags goolm -run '^$' -bench . -benchtime 10x -benchmem "$@" ./...
