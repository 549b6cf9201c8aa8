#!/usr/bin/env bash
# The whole test suite: sets up what it needs (test/setup.sh), then vets and
# tests everything. Never -short: the end-to-end tests are the point.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/setup.sh

say "go vet"
go vet -tags goolm ./...
say "go test"
go test -tags goolm -count=1 -timeout 40m "$@" ./...

# Each fuzz target for a bounded time (its seeds already ran above). New
# interesting inputs are minimized briefly: minimizing a 60 kB seed for the
# default minute would take most of the target's time.
for target in ops.FuzzQuote ops.FuzzRecipes commands.FuzzCommand; do
	pkg=${target%%.*} fn=${target#*.}
	say "fuzz $fn (30 s)"
	go test -tags goolm -run '^$' -fuzz "^$fn\$" -fuzztime 30s -fuzzminimizetime 5s "./$pkg"
done
