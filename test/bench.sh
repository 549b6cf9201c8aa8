#!/usr/bin/env bash
# The benchmarks: the unit benchmarks, the time from `docker kill` to the
# alert in the room, with the docker event stream and with probing only
# (median and max over 10 kills each), then the fleet benchmark, then
# opsroom's memory over a soak of OPSROOM_SOAK (default 10m; 0 skips it).
# Sets up the same world as the tests.
#
# The fleet benchmark (BenchmarkFleet in e2e/fleetbench_test.go), for each
# size in OPSROOM_FLEET (default "200 1000": 20 hosts of 10 services and 50
# hosts of 20; HOSTSxSERVICES such as "3x2" for a quick try; "" or 0 skips
# it): hosts behind Toxiproxy, 25 ms each way, in front of one sshd, the same
# real FROM scratch containers on each, one config of every service. In one
# run it reports `!status all` (command to reply, server timestamps) beside
# the transport floor it measures in between (each host's batched inspect on
# every host at once over open connections), the reply's size, `!status
# SERVICE` beside one pooled exec, kill → alert, sshd's sessions per host per
# watcher cycle, opsroom's RSS, idle CPU and goroutines, and the time to the
# first full probe. Each size takes about two minutes plus the world's set-up.
# The README's Benchmarks section says what each figure means and the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

say "go test -bench"
go test -tags goolm -run '^$' -bench . -skip 'WatchMemory|Fleet' -benchtime 10x -benchmem "$@" ./...

fleet=${OPSROOM_FLEET-200 1000}
if [ -n "$fleet" ] && [ "$fleet" != 0 ]; then
	say "the fleet benchmark: $fleet (load: $(uptime))"
	OPSROOM_FLEET=$fleet go test -tags goolm -run '^$' -bench Fleet -benchtime 1x -timeout 0 ./e2e
fi

soak=${OPSROOM_SOAK:-10m}
if [ "$soak" != 0 ]; then
	say "memory over a soak of $soak"
	OPSROOM_SOAK=$soak go test -tags goolm -run '^$' -bench WatchMemory -benchtime 1x -timeout 0 ./e2e
fi
