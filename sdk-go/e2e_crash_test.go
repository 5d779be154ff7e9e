//go:build e2e

package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	sdk "matchlock.dev/go/sdk"
)

// engineGone returns a launch-command prefix and a channel closed when every process that
// inherited the wrapper's FIFO descriptor has exited (the engine, or the recorder in front
// of it): a wait with a cause instead of polling.
func engineGone(t *testing.T) ([]string, <-chan struct{}) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "alive.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		f, err := os.Open(fifo) // returns once the wrapper opened the write end
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, f) // EOF: the last holder of the write end exited
		f.Close()
	}()
	wrapper := []string{"/bin/sh", "-c", `echo "wrapper pid $$" >&2; exec 9>"$0"; exec "$@"`, fifo}
	return wrapper, gone
}

func TestE2ECrashedProgramLeavesNoSandboxRunning(t *testing.T) {
	env := requireE2E(t)
	dir := t.TempDir()
	sdkDir, _ := os.Getwd()
	src, err := os.ReadFile(filepath.Join("testdata", "crashprog", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module crashprog\n\ngo 1.19\n\nrequire matchlock.dev/go/sdk v0.0.0\n\nreplace matchlock.dev/go/sdk => " + sdkDir + "\n"
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644)
	build := exec.Command("go", "build", "-o", "crashprog", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build crash program: %v\n%s", err, out)
	}
	for _, mode := range []string{"exit", "kill"} {
		t.Run(mode, func(t *testing.T) {
			wrapper, gone := engineGone(t)
			launch, _ := json.Marshal(append(append(wrapper, env.launch...), env.bin, "rpc"))
			cmd := exec.Command(filepath.Join(dir, "crashprog"), mode)
			cmd.Env = append(os.Environ(), "CRASH_LAUNCH="+string(launch))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			id := strings.TrimSpace(string(out))
			if !strings.HasPrefix(id, "vm-") {
				t.Fatalf("crash program did not create a sandbox: %q %v", out, err)
			}
			if err == nil {
				t.Fatal("crash program exited cleanly")
			}
			<-gone
			if running := env.runningSandboxes(t); strings.Contains(running, id) {
				t.Errorf("sandbox %s still running after its program died (%s)", id, mode)
			}
		})
	}
}

func TestE2EEngineKilledMidCall(t *testing.T) {
	env := requireE2E(t)
	wrapper, gone := engineGone(t)
	// No recorder here: the wrapper execs into the engine itself, so $$ is the engine's pid.
	c, err := sdk.NewClient(sdk.Config{BinaryPath: env.bin, LaunchCommand: append(wrapper, env.bin, "rpc")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(0)
	ctx := context.Background()
	id, err := c.CreateContext(ctx, sdk.New(env.image).Options())
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(c.EngineStderr())
	pid := 0
	for i := 0; i+2 < len(fields); i++ {
		if fields[i] == "wrapper" && fields[i+1] == "pid" {
			pid, _ = strconv.Atoi(fields[i+2])
		}
	}
	if pid <= 0 {
		t.Fatalf("engine pid not found in stderr %q", c.EngineStderr())
	}
	var once sync.Once
	_, err = c.ExecWithOptions(ctx, "echo started; exec sleep 63", &sdk.ExecOptions{OnStdout: func([]byte) {
		once.Do(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}})
	var ee *sdk.EngineError
	if !errors.As(err, &ee) || !errors.Is(err, sdk.ErrEngineExited) {
		t.Fatalf("want EngineError, got %v", err)
	}
	if ee.ExitStatus != "signal: killed" || !strings.Contains(ee.Stderr, "wrapper pid") {
		t.Errorf("status %q stderr %q", ee.ExitStatus, ee.Stderr)
	}
	if _, err := c.Exec(ctx, "true"); !errors.Is(err, sdk.ErrEngineExited) {
		t.Errorf("call after engine death: %v", err)
	}
	<-gone
	if running := env.runningSandboxes(t); strings.Contains(running, id) {
		t.Errorf("sandbox %s still running after its engine was killed", id)
	}
}
