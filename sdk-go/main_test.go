package sdk_test

import (
	"os"
	"testing"
)

// afterAll holds cleanups of package-wide fixtures (the shared e2e sandbox).
var afterAll []func()

// TestMain doubles as the fake engine: the unit tests launch this test binary with
// SDK_FAKE_ENGINE=1 in its environment instead of `matchlock rpc`.
func TestMain(m *testing.M) {
	if os.Getenv("SDK_FAKE_ENGINE") != "" {
		os.Exit(runFakeEngine())
	}
	code := m.Run()
	for i := len(afterAll) - 1; i >= 0; i-- {
		afterAll[i]()
	}
	os.Exit(code)
}
