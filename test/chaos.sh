#!/usr/bin/env bash
# The chaos soak (TestChaosSoak in e2e/chaos_test.go) for DURATION (default
# 30m): two opsroom instances on PostgreSQL, three hosts, eight services,
# a fault every 10-60 s (OPSROOM_CHAOS_GAP=MIN-MAX to change it; seeded:
# OPSROOM_CHAOS_SEED=N repeats a run) while a client sends commands; then the
# checker's counts table, also written to chaos-report.md. CI runs a
# 3-minute version as part of the end-to-end suite. Sets up the same world as
# the tests.
#
#   bash test/chaos.sh 30m
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

duration=${1:-30m}
say "chaos soak of $duration (load: $(uptime))"
OPSROOM_CHAOS=$duration OPSROOM_CHAOS_REPORT=${OPSROOM_CHAOS_REPORT:-$PWD/chaos-report.md} \
	go test -tags goolm -count=1 -v -run '^TestChaosSoak$' -timeout 0 ./e2e
