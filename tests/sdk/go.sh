#!/usr/bin/env bash
# The Go SDK's tests (run by tests/sdk/run.sh): proves the module is consumable from a fresh
# module (go mod init + replace), checks formatting and `go vet`, runs the unit tests (fake
# engine) and then the end-to-end tests against the real engine, whose traffic goes through
# MATCHLOCK_TEST_LAUNCH (the recorder). Standard library only: no module download happens.
#
# needs: MATCHLOCK_BIN, MATCHLOCK_HOME, MATCHLOCK_TEST_IMAGE, MATCHLOCK_TEST_LAUNCH; go >= 1.19
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
sdk="$root/sdk-go"

for var in MATCHLOCK_BIN MATCHLOCK_HOME MATCHLOCK_TEST_IMAGE MATCHLOCK_TEST_LAUNCH; do
  if [ -z "${!var:-}" ]; then
    echo "tests/sdk/go.sh: $var is not set (tests/sdk/run.sh exports it)" >&2
    exit 2
  fi
done
# Go's own installer puts it in /usr/local/go/bin, which is not always on PATH.
command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"; } || true
command -v go >/dev/null || { echo "tests/sdk/go.sh: go is not on PATH" >&2; exit 2; }

# Never fetch a toolchain or a module: everything needed is local.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off
export MATCHLOCK_BIN MATCHLOCK_HOME MATCHLOCK_TEST_IMAGE MATCHLOCK_TEST_LAUNCH

echo "go-sdk: consumer module against $sdk"
consumer="$root/build/sdk-go/consumer"
rm -rf "$consumer" && mkdir -p "$consumer"
(
  cd "$consumer"
  go mod init example.com/consumer >/dev/null 2>&1
  go mod edit -require matchlock.dev/go/sdk@v0.0.0 -replace "matchlock.dev/go/sdk=$sdk"
  cat >main.go <<'GO'
package main

import (
	"errors"
	"fmt"
	"os"

	sdk "matchlock.dev/go/sdk"
)

func main() {
	err := sdk.New("alpine:latest").WithCPUs(-1).Validate()
	var verr *sdk.ValidationError
	if !errors.As(err, &verr) || verr.Option != "WithCPUs" {
		fmt.Println("unexpected validation result:", err)
		os.Exit(1)
	}
	fmt.Println("matchlock go sdk", sdk.Version)
}
GO
  go vet ./...
  go build -o consumer .
  ./consumer
)

cd "$sdk"
echo "go-sdk: gofmt and go vet"
unformatted=$(gofmt -l . "$root/examples/go")
if [ -n "$unformatted" ]; then
  echo "not gofmt-clean: $unformatted" >&2
  exit 1
fi
go vet ./...
go vet -tags e2e ./...
(cd "$root/examples/go/agent" && go vet ./...)
# The module promises Go 1.19 (Debian 12): build it with that toolchain when it is installed.
if [ -x /usr/lib/go-1.19/bin/go ]; then
  echo "go-sdk: building and vetting with $(/usr/lib/go-1.19/bin/go version)"
  GOTOOLCHAIN= /usr/lib/go-1.19/bin/go vet -tags e2e ./...
  GOTOOLCHAIN= /usr/lib/go-1.19/bin/go test -count=1 -timeout 5m ./...
fi

echo "go-sdk: unit tests"
go test -count=1 -timeout 5m ./...

echo "go-sdk: end-to-end tests against $MATCHLOCK_BIN"
go test -tags e2e -count=1 -timeout 6m -run 'E2E|Example' ./...
