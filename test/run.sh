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
