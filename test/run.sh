#!/usr/bin/env bash
# The whole test suite: sets up what it needs (test/setup.sh), then checks the
# formatting, vets, lints (staticcheck) and tests everything. Never -short:
# the end-to-end tests are the point.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

staticcheck_version=v0.8.2
staticcheck="${XDG_CACHE_HOME:-$HOME/.cache}/opsroom-test/bin/staticcheck-$staticcheck_version/staticcheck"
if [ ! -x "$staticcheck" ]; then
	say "installing staticcheck $staticcheck_version"
	GOBIN="$(dirname "$staticcheck")" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi

say "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "not gofmt-formatted:" $unformatted >&2; exit 1; }
go vet -tags goolm ./...
"$staticcheck" -tags goolm ./...
say "go test"
go test -tags goolm -count=1 -timeout 75m "$@" ./...

# The store's unit tests ran on both SQLite and PostgreSQL above; the
# end-to-end tests ran on SQLite. A subset of them again on PostgreSQL (about
# a minute): foundation, update, watcher and encryption.
postgres_e2e='^(TestStatusFollowsTheContainerThroughStopRemoveAndStart|TestRestartRestartsTheContainer|TestSenderNotAllowedIsRefusedAndNothingRuns|TestRestartOfOpsroomDoesNotReplayCommands'
postgres_e2e+='|TestUpdateDeploysTheNewCommitInOneLiveMessage|TestOneJobPerServiceAndInterruptedUpdatesAreSaidSo'
postgres_e2e+='|TestKillAlertsOnceAndRecoveryOnce|TestAlertsAreNeitherRepeatedNorLostAcrossARestartOfOpsroom'
postgres_e2e+='|TestEncryptedRoomWorksAsAPlainOneAndAcrossARestart|TestASecondOpsroomOnTheSameDatabaseIsRefusedOrStandsBy)$'
say "end-to-end subset on PostgreSQL (OPSROOM_TEST_STORE=postgres)"
OPSROOM_TEST_STORE=postgres go test -tags goolm -count=1 -timeout 15m -run "$postgres_e2e" "$@" ./e2e

# Each fuzz target for a bounded time (its seeds already ran above). New
# interesting inputs are minimized briefly: minimizing a 60 kB seed for the
# default minute would take most of the target's time.
for target in ops.FuzzQuote ops.FuzzRecipes commands.FuzzCommand; do
	pkg=${target%%.*} fn=${target#*.}
	say "fuzz $fn (30 s)"
	go test -tags goolm -run '^$' -fuzz "^$fn\$" -fuzztime 30s -fuzzminimizetime 5s "./$pkg"
done
