#!/usr/bin/env bash
# The random chaos soak (TestChaosSoak in e2e/chaos_test.go) for DURATION
# (default 30m): two opsroom instances on PostgreSQL, three hosts, eight
# services; a fault every 10-60 s (OPSROOM_CHAOS_GAP=MIN-MAX to change it),
# the fault kinds in rounds of every kind once in a seeded random order
# (OPSROOM_CHAOS_SEED=N repeats a run), while a client sends commands; then
# the checker's report (counts, and latency per fault kind), also written to
# chaos-report.md. A run too short for a round (about 7 minutes at the
# default gaps) fails, naming the fault kinds it did not exercise. CI runs
# the fixed schedule instead (every kind once, about 3 minutes): the same
# test without OPSROOM_CHAOS. Sets up the same world as the tests.
#
#   bash test/chaos.sh 30m
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

duration=${1:-30m}
say "chaos soak of $duration (load: $(uptime))"
OPSROOM_CHAOS=$duration OPSROOM_CHAOS_REPORT=${OPSROOM_CHAOS_REPORT:-$PWD/chaos-report.md} \
	go test -tags goolm -count=1 -v -run '^TestChaosSoak$' -timeout 0 ./e2e
