#!/usr/bin/env bash
# The whole test suite: sets up what it needs (test/setup.sh), then checks the
# formatting, vets, lints (staticcheck) and runs every test (test/suite: the
# unit packages, the end-to-end tests in parallel processes, a subset again on
# PostgreSQL), then each fuzz target briefly. Never -short: the end-to-end
# tests are the point. Prints each phase's time at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

phases=()
phase_start=$SECONDS
phase() { # phase NAME: the phase before it ends here
	[ -z "${phase_name:-}" ] || phases+=("$(printf '%-28s %4d s' "$phase_name" $((SECONDS - phase_start)))")
	phase_name=$1 phase_start=$SECONDS
	[ -z "$1" ] || printf '\n== %s\n' "$1"
}
print_phases() {
	phase ""
	printf '\n== phases\n'
	printf '%s\n' "${phases[@]}"
	printf '%-28s %4d s\n' total "$SECONDS"
}
trap print_phases EXIT

phase "set-up (test/setup.sh)"
source test/setup.sh

staticcheck_version=v0.8.2
staticcheck="${XDG_CACHE_HOME:-$HOME/.cache}/opsroom-test/bin/staticcheck-$staticcheck_version/staticcheck"
if [ ! -x "$staticcheck" ]; then
	say "installing staticcheck $staticcheck_version"
	GOBIN="$(dirname "$staticcheck")" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi

phase "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "not gofmt-formatted:" $unformatted >&2; exit 1; }
go vet -tags goolm ./...
"$staticcheck" -tags goolm ./...

# Every test: the unit packages in one go test process, the end-to-end tests
# in OPSROOM_TEST_SHARDS processes balanced by test/durations.txt, and the
# PostgreSQL subset (test/postgres-e2e.txt) in one more, side by side.
phase "tests (test/suite)"
go run ./test/suite -shards "${OPSROOM_TEST_SHARDS:-4}" -out "${OPSROOM_TEST_RESULTS:-test-results}" "$@"

# Each fuzz target (every func Fuzz* of a _test.go file) for a bounded time;
# its seeds and committed corpus already ran above. New interesting inputs are
# minimized briefly: minimizing a 60 kB seed for the default minute would take
# most of the target's time.
phase "fuzz"
fuzztime=${OPSROOM_FUZZTIME:-5s}
for file in $(git ls-files '*_test.go'); do
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -c6-); do
		say "fuzz $(dirname "$file").$fn ($fuzztime)"
		go test -tags goolm -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "./$(dirname "$file")"
	done
done
