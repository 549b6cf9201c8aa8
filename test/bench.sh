#!/usr/bin/env bash
# The benchmarks: the unit benchmarks, the time from `docker kill` to the
# alert in the room, with the docker event stream and with probing only
# (median and max over 10 kills each), then opsroom's memory over a soak of
# OPSROOM_SOAK (default 10m; 0 skips it). Sets up the same world as the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

say "go test -bench"
go test -tags goolm -run '^$' -bench . -skip WatchMemory -benchtime 10x -benchmem "$@" ./...

soak=${OPSROOM_SOAK:-10m}
if [ "$soak" != 0 ]; then
	say "memory over a soak of $soak"
	OPSROOM_SOAK=$soak go test -tags goolm -run '^$' -bench WatchMemory -benchtime 1x -timeout 0 ./e2e
fi
