//go:build e2e

package sdk_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	sdk "matchlock.dev/go/sdk"
)

// End-to-end tests against the real engine: `go test -tags e2e` with MATCHLOCK_BIN,
// MATCHLOCK_HOME, MATCHLOCK_TEST_IMAGE and MATCHLOCK_TEST_LAUNCH set (tests/sdk/go.sh).

type e2eEnv struct {
	bin, image string
	launch     []string // argv prefix that records the traffic
}

func requireE2E(t *testing.T) e2eEnv {
	t.Helper()
	var env e2eEnv
	env.bin, env.image = os.Getenv("MATCHLOCK_BIN"), os.Getenv("MATCHLOCK_TEST_IMAGE")
	raw := os.Getenv("MATCHLOCK_TEST_LAUNCH")
	if env.bin == "" || env.image == "" || raw == "" || os.Getenv("MATCHLOCK_HOME") == "" {
		t.Fatal("e2e tests need MATCHLOCK_BIN, MATCHLOCK_HOME, MATCHLOCK_TEST_IMAGE and MATCHLOCK_TEST_LAUNCH")
	}
	if err := json.Unmarshal([]byte(raw), &env.launch); err != nil {
		t.Fatalf("MATCHLOCK_TEST_LAUNCH is not a JSON array: %v", err)
	}
	return env
}

// config launches the engine through the traffic recorder.
func (e e2eEnv) config() sdk.Config {
	argv := append(append([]string(nil), e.launch...), e.bin, "rpc")
	return sdk.Config{BinaryPath: e.bin, LaunchCommand: argv}
}

func (e e2eEnv) runningSandboxes(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(e.bin, "list", "--running", "-q").Output()
	if err != nil {
		t.Fatalf("matchlock list: %v", err)
	}
	return string(out)
}

// The shared sandbox: one boot for most e2e tests of this package.
var (
	sharedOnce   sync.Once
	sharedClient *sdk.Client
	sharedErr    error
	sharedHooked = make(chan sdk.VFSHookEvent, 64)
)

func shared(t *testing.T) *sdk.Client {
	t.Helper()
	env := requireE2E(t)
	sharedOnce.Do(func() {
		c, err := sdk.NewClient(env.config())
		if err != nil {
			sharedErr = err
			return
		}
		afterAll = append(afterAll, func() { _ = c.Close(0) })
		_, sharedErr = c.CreateContext(context.Background(), sdk.New(env.image).
			WithEnv("GREETING", "hello").
			WithNetworkInterception().
			WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{
				{Name: "deny-blocked", Phase: sdk.VFSHookPhaseBefore, Ops: []string{sdk.VFSHookOpCreate},
					Path: "/workspace/blocked*", Action: sdk.VFSHookActionBlock},
				{Name: "audit", Phase: sdk.VFSHookPhaseAfter, Ops: []string{sdk.VFSHookOpWrite}, Path: "/workspace/hooked/*",
					Hook: func(_ context.Context, ev sdk.VFSHookEvent) error {
						select {
						case sharedHooked <- ev:
						default:
						}
						return nil
					}},
			}}).Options())
		sharedClient = c
	})
	if sharedErr != nil {
		t.Fatalf("shared sandbox: %v", sharedErr)
	}
	return sharedClient
}

// mustExec runs a command that must succeed and returns its stdout.
func mustExec(t *testing.T, c *sdk.Client, command string) string {
	t.Helper()
	res, err := c.Exec(context.Background(), command)
	if err != nil {
		t.Fatalf("exec %q: %v", command, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exec %q: exit %d, stderr %q", command, res.ExitCode, res.Stderr)
	}
	return res.Stdout
}

// failExtension fails the test on err, saying so when the engine lacks the contract
// extension being tested (so such failures are easy to tell apart).
func failExtension(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), "-32601") || strings.Contains(err.Error(), "not supported yet")) {
		t.Fatalf("%s: engine lacks this contract extension: %v", what, err)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
