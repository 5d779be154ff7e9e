//go:build e2e

package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "matchlock.dev/go/sdk"
)

func TestE2EExec(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	if out := mustExec(t, c, "echo $GREETING; pwd"); out != "hello\n/\n" {
		t.Errorf("stdout %q", out)
	}
	res, err := c.ExecWithDir(ctx, "pwd; echo oops >&2; exit 3", "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Stdout != "/tmp\n" || res.Stderr != "oops\n" {
		t.Errorf("result %+v", res)
	}
	opts := &sdk.ExecOptions{Env: map[string]string{"ONLY_HERE": "yes"}, WorkingDir: "/etc"}
	res, err = c.ExecWithOptions(ctx, "echo $ONLY_HERE; pwd", opts)
	if err != nil || res.Stdout != "yes\n/etc\n" {
		t.Errorf("options: %+v %v", res, err)
	}
}

func TestE2EExecStreamAndCallbacks(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	res, err := c.ExecStream(ctx, "seq 1 1000; echo done >&2", &out, &errOut)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1000 || lines[999] != "1000" {
		t.Errorf("got %d lines", len(lines))
	}
	if errOut.String() != "done\n" {
		t.Errorf("stderr %q", errOut.String())
	}
	var seen bytes.Buffer
	buffered, err := c.ExecWithOptions(ctx, "echo one; echo two", &sdk.ExecOptions{OnStdout: func(b []byte) { seen.Write(b) }})
	if err != nil || buffered.Stdout != "one\ntwo\n" || seen.String() != buffered.Stdout {
		t.Errorf("callbacks %q result %+v %v", seen.String(), buffered, err)
	}
	res, err = c.ExecStreamWithDir(ctx, "pwd", "/usr", &out, nil)
	if err != nil || !strings.HasSuffix(out.String(), "/usr\n") {
		t.Errorf("with dir: %v %q", err, out.String())
	}
}

func TestE2EExecPipe(t *testing.T) {
	c := shared(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	var out, errOut bytes.Buffer
	res, err := c.ExecPipe(context.Background(), "cat; echo end >&2", bytes.NewReader(payload), &out, &errOut)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if !bytes.Equal(out.Bytes(), payload) || errOut.String() != "end\n" {
		t.Errorf("got %d bytes back, stderr %q", out.Len(), errOut.String())
	}
	res, err = c.ExecPipeWithDir(context.Background(), "pwd; wc -c", "/tmp", nil, &out, nil)
	if err != nil || !strings.HasSuffix(out.String(), "/tmp\n0\n") {
		t.Errorf("nil stdin: %v, output ends %q", err, tail(out.String(), 20))
	}
}

func TestE2EStartProcess(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	p, err := c.Start(ctx, "tr a-z A-Z; echo bye >&2; exit 4", nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p.Stdin, "shout\n")
	p.Stdin.Close()
	out, _ := io.ReadAll(p.Stdout)
	errOut, _ := io.ReadAll(p.Stderr)
	res, err := p.Wait()
	if err != nil || res.ExitCode != 4 || string(out) != "SHOUT\n" || string(errOut) != "bye\n" {
		t.Errorf("res %+v err %v out %q stderr %q", res, err, out, errOut)
	}

	started := make(chan struct{})
	var once sync.Once
	p, err = c.Start(ctx, "echo up; exec sleep 61", &sdk.ExecOptions{OnStdout: func([]byte) { once.Do(func() { close(started) }) }})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	p.Kill()
	_, err = p.Wait()
	var rpcErr *sdk.RPCError
	if !errors.As(err, &rpcErr) || !rpcErr.IsCancelled() {
		t.Fatalf("killed process: %v", err)
	}
	assertGoneInGuest(t, c, "sleep 61")
}

// assertGoneInGuest waits in the guest (bounded) until no process matches pattern.
func assertGoneInGuest(t *testing.T, c *sdk.Client, pattern string) {
	t.Helper()
	bracketed := "[" + pattern[:1] + "]" + pattern[1:] // keep grep from matching itself
	script := fmt.Sprintf(`for i in $(seq 100); do ps | grep -q %q || exit 0; sleep 0.1; done; ps; exit 1`, bracketed)
	res, err := c.Exec(context.Background(), script)
	if err != nil || res.ExitCode != 0 {
		t.Errorf("%q still running in the guest: %v %s", pattern, err, res.Stdout)
	}
}

func TestE2EExecInteractive(t *testing.T) {
	c := shared(t)
	var out bytes.Buffer
	resize := make(chan [2]uint16, 1)
	var once sync.Once
	// Resize only after the terminal reported its first size; the guest loop then waits
	// (bounded) until the new size arrived.
	watch := writerFunc(func(b []byte) {
		out.Write(b)
		if strings.Contains(out.String(), "30 100") {
			once.Do(func() { resize <- [2]uint16{50, 140} })
		}
	})
	cmd := `tty; stty size; for i in $(seq 100); do [ "$(stty size)" = "50 140" ] && break; sleep 0.1; done; stty size; read line; echo "got $line"`
	res, err := c.ExecInteractive(context.Background(), cmd, &sdk.ExecInteractiveOptions{
		Rows: 30, Cols: 100, Stdin: strings.NewReader("typed\n"), Stdout: watch, Resize: resize})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	for _, want := range []string{"/dev/pts/", "30 100", "50 140", "got typed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tty output %q lacks %q", out.String(), want)
		}
	}
}

func TestE2EFiles(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	payload := bytes.Repeat([]byte{0, 1, 2, 250, 251, 252}, 100<<10/6)
	if err := c.WriteFile(ctx, "/tmp/e2e/blob.bin", payload); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile(ctx, "/tmp/e2e/blob.bin")
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}
	if err := c.WriteFileMode(ctx, "/tmp/e2e/run.sh", []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out := mustExec(t, c, "/tmp/e2e/run.sh; chmod 600 /tmp/e2e/blob.bin"); out != "ran\n" {
		t.Errorf("script said %q", out)
	}
	files, err := c.ListFiles(ctx, "/tmp/e2e")
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{}
	for _, f := range files {
		modes[f.Name] = os.FileMode(f.Mode)
	}
	if modes["run.sh"].Perm() != 0o755 || modes["blob.bin"].Perm() != 0o600 || len(files) != 2 {
		t.Errorf("list %+v", files)
	}
	_, err = c.ReadFile(ctx, "/tmp/e2e/missing")
	var rpcErr *sdk.RPCError
	if !errors.As(err, &rpcErr) || !rpcErr.IsFileError() {
		t.Errorf("missing file: %v", err)
	}
}

func TestE2EFileExtensions(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	// Each method in its own subtest, prepared with shell commands, so one missing engine
	// extension does not hide the others.
	mustExec(t, c, "rm -rf /tmp/ext && mkdir -p /tmp/ext/full /tmp/ext/empty && echo x > /tmp/ext/full/f.txt && ln -s f.txt /tmp/ext/full/link")
	t.Run("Stat", func(t *testing.T) {
		fi, err := c.Stat(ctx, "/tmp/ext/full/f.txt")
		failExtension(t, "Stat", err)
		if fi == nil || fi.Size != 2 || fi.IsDir || fi.Name != "f.txt" || fi.ModTime.IsZero() {
			t.Errorf("file: %+v", fi)
		}
		if fi, err := c.Stat(ctx, "/tmp/ext/full"); err != nil || fi == nil || !fi.IsDir {
			t.Errorf("dir: %+v %v", fi, err)
		}
		if fi, err := c.Stat(ctx, "/tmp/ext/full/link"); err != nil || fi == nil || !fi.IsSymlink {
			t.Errorf("symlink: %+v %v", fi, err)
		}
		if fi, err := c.Stat(ctx, "/tmp/ext/nope/deeper"); err != nil || fi != nil {
			t.Errorf("missing: %+v %v", fi, err)
		}
	})
	t.Run("Mkdir", func(t *testing.T) {
		failExtension(t, "Mkdir", c.Mkdir(ctx, "/tmp/ext/made/a/b", nil))
		if out := mustExec(t, c, "stat -c %a /tmp/ext/made/a/b"); out != "755\n" {
			t.Errorf("mode %q", out)
		}
		if err := c.Mkdir(ctx, "/tmp/ext/nope/x", &sdk.MkdirOptions{NoParents: true}); err == nil {
			t.Error("mkdir without parents succeeded under a missing directory")
		}
	})
	t.Run("Rename", func(t *testing.T) {
		failExtension(t, "Rename", c.Rename(ctx, "/tmp/ext/full/f.txt", "/tmp/ext/g.txt"))
		if out := mustExec(t, c, "cat /tmp/ext/g.txt; test -e /tmp/ext/full/f.txt || echo gone"); out != "x\ngone\n" {
			t.Errorf("after rename: %q", out)
		}
	})
	t.Run("RemoveFile", func(t *testing.T) {
		failExtension(t, "RemoveFile", c.RemoveFile(ctx, "/tmp/ext/empty", false))
		if err := c.RemoveFile(ctx, "/tmp/ext/full", false); err == nil {
			t.Error("non-recursive remove of a non-empty directory succeeded")
		}
		if err := c.RemoveFile(ctx, "/tmp/ext", true); err != nil {
			t.Fatal(err)
		}
		if out := mustExec(t, c, "test -e /tmp/ext || echo gone"); out != "gone\n" {
			t.Errorf("tree still there: %q", out)
		}
	})
	t.Run("Exists", func(t *testing.T) {
		ok, err := c.Exists(ctx, "/etc/passwd")
		failExtension(t, "Exists", err)
		if !ok {
			t.Error("/etc/passwd does not exist")
		}
		if ok, err := c.Exists(ctx, "/tmp/ext-never"); ok || err != nil {
			t.Errorf("missing path: %v %v", ok, err)
		}
	})
}

func TestE2EPortForward(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	// httpd daemonizes once it is listening, so the exec returning means the port is open.
	mustExec(t, c, "mkdir -p /tmp/www && echo served > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
	defer mustExec(t, c, "killall httpd")
	port := freePort(t)
	bindings, err := c.PortForward(ctx, fmt.Sprintf("%d:8080", port))
	if err != nil {
		t.Fatal(err)
	}
	if len(bindings) != 1 || bindings[0].LocalPort != port || bindings[0].RemotePort != 8080 {
		t.Fatalf("bindings %+v", bindings)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "served\n" {
		t.Errorf("body %q", body)
	}
	if _, err := c.PortForwardWithAddresses(ctx, []string{"127.0.0.1"}, fmt.Sprintf("%d:8080", freePort(t))); err != nil {
		t.Errorf("with addresses: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestE2EAllowList(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	up, err := c.AllowListAdd(ctx, "example.com,example.org")
	if err != nil || len(up.Added) != 2 {
		t.Fatalf("add %+v %v", up, err)
	}
	del, err := c.AllowListDelete(ctx, "example.org")
	if err != nil || len(del.Removed) != 1 || strings.Contains(strings.Join(del.AllowedHosts, ","), "example.org") {
		t.Errorf("delete %+v %v", del, err)
	}
}

// Named volumes are CLI calls (`matchlock volume ... --json`), with the original's signatures.
func TestE2EVolumes(t *testing.T) {
	c := shared(t)
	info, err := c.VolumeCreate("sdk-go-vol", 16)
	if err != nil {
		t.Fatalf("VolumeCreate: %v", err)
	}
	if info.Name != "sdk-go-vol" || info.Size != "16.0 MB" || !strings.HasSuffix(info.Path, "/sdk-go-vol.ext4") {
		t.Errorf("VolumeCreate = %+v", info)
	}
	if st, err := os.Stat(info.Path); err != nil || !st.Mode().IsRegular() {
		t.Errorf("volume file %s: %v", info.Path, err)
	}
	has := func() bool {
		vols, err := c.VolumeList()
		if err != nil {
			t.Fatalf("VolumeList: %v", err)
		}
		for _, v := range vols {
			if v.Name == "sdk-go-vol" {
				return true
			}
		}
		return false
	}
	if !has() {
		t.Error("VolumeList misses sdk-go-vol")
	}
	if _, err := c.VolumeCreate("sdk-go-vol", 16); err == nil || !strings.Contains(err.Error(), "sdk-go-vol") {
		t.Errorf("duplicate VolumeCreate: %v", err)
	}
	if err := c.VolumeRemove("sdk-go-vol"); err != nil {
		t.Fatalf("VolumeRemove: %v", err)
	}
	if has() {
		t.Error("VolumeList still lists sdk-go-vol")
	}
	if _, err := os.Stat(info.Path); !os.IsNotExist(err) {
		t.Errorf("volume file left behind: %v", err)
	}
}

func TestE2ELog(t *testing.T) {
	env := requireE2E(t)
	c, err := sdk.NewClient(env.config())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(0)
	ctx := context.Background()
	// The entrypoint's output goes to the sandbox log.
	sb := sdk.New(env.image).WithEntrypoint("sh", "-c", "echo from-entrypoint; exec sleep 600")
	if _, err := c.LaunchContext(ctx, sb); err != nil {
		t.Fatal(err)
	}
	// LogStream follows the log until the entrypoint's line shows up; that is what ends it.
	var streamed bytes.Buffer
	follow, stop := context.WithCancel(ctx)
	err = c.LogStream(follow, writerFunc(func(b []byte) {
		streamed.Write(b)
		if strings.Contains(streamed.String(), "from-entrypoint") {
			stop()
		}
	}))
	failExtension(t, "LogStream", ignoreCancel(err))
	text, err := c.Log(ctx)
	failExtension(t, "Log", err)
	if !strings.Contains(text, "from-entrypoint\n") {
		t.Errorf("log %q", text)
	}
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func TestE2EEngineInfo(t *testing.T) {
	env := requireE2E(t)
	c := shared(t)
	ctx := context.Background()
	t.Run("Version", func(t *testing.T) {
		v, err := c.Version(ctx)
		failExtension(t, "Version", err)
		if v.Version != sdk.Version || v.Commit == "" {
			t.Errorf("engine %+v, sdk %q", v, sdk.Version)
		}
	})
	t.Run("ListSandboxes", func(t *testing.T) {
		boxes, err := sdk.ListSandboxes(ctx, env.config())
		failExtension(t, "ListSandboxes", err)
		found := false
		for _, b := range boxes {
			found = found || (b.ID == c.VMID() && b.State == "running" && b.Image == env.image)
		}
		if !found {
			t.Errorf("shared sandbox %s not listed running: %+v", c.VMID(), boxes)
		}
	})
	t.Run("SetTimeout", func(t *testing.T) {
		at, err := c.SetTimeout(ctx, 3600)
		failExtension(t, "SetTimeout", err)
		if at == nil || at.Before(time.Now()) {
			t.Errorf("expiry %v", at)
		}
		if cleared, err := c.SetTimeout(ctx, 0); err != nil || cleared != nil {
			t.Errorf("clear: %v %v", cleared, err)
		}
	})
}

func TestE2EAttach(t *testing.T) {
	env := requireE2E(t)
	c := shared(t)
	ctx := context.Background()
	a, err := sdk.Attach(ctx, env.config(), c.VMID())
	failExtension(t, "Attach", err)
	if out := mustExec(t, a, "echo attached"); out != "attached\n" {
		t.Errorf("attached exec %q", out)
	}
	if err := a.Close(0); err != nil {
		t.Fatal(err)
	}
	if out := mustExec(t, c, "echo still"); out != "still\n" {
		t.Errorf("owner after detach: %q", out)
	}
}

func TestE2EVFSBlockRuleAndAfterHook(t *testing.T) {
	c := shared(t)
	res, err := c.Exec(context.Background(), "echo x > /workspace/blocked.txt")
	if err != nil || res.ExitCode == 0 || !strings.Contains(res.Stderr, "not permitted") {
		t.Errorf("blocked create: %+v %v", res, err)
	}
	mustExec(t, c, "echo fine > /workspace/allowed.txt")
	mustExec(t, c, "mkdir -p /workspace/hooked && echo z > /workspace/hooked/f.txt")
	ev := waitFor(t, sharedHooked, "the after-hook for /workspace/hooked/f.txt",
		func(ev sdk.VFSHookEvent) bool { return ev.Path == "/workspace/hooked/f.txt" })
	if ev.Op != sdk.VFSHookOpWrite {
		t.Errorf("hook event %+v", ev)
	}
}

func TestE2EOnEvent(t *testing.T) {
	c := shared(t)
	events := make(chan sdk.Event, 256)
	unregister := c.OnEvent(func(ev sdk.Event) {
		select {
		case events <- ev:
		default:
		}
	})
	defer unregister()
	mustExec(t, c, "echo e > /workspace/event.txt")
	ev := waitFor(t, events, "a write event for /workspace/event.txt", func(ev sdk.Event) bool {
		return ev.Type == "file" && ev.File != nil && ev.File.Path == "/workspace/event.txt" && ev.File.Op == "write"
	})
	if ev.Timestamp == 0 || ev.File.Size != 2 {
		t.Errorf("event %+v %+v", ev, ev.File)
	}
}

func TestE2EContextCancel(t *testing.T) {
	c := shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := c.ExecWithOptions(ctx, "echo started; exec sleep 62", &sdk.ExecOptions{OnStdout: func([]byte) { once.Do(cancel) }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	assertGoneInGuest(t, c, "sleep 62")
	if out := mustExec(t, c, "echo alive"); out != "alive\n" {
		t.Errorf("client after cancel: %q", out)
	}
}

func TestE2EConcurrentCalls(t *testing.T) {
	c := shared(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			res, err := c.Exec(context.Background(), fmt.Sprintf("echo %d", i))
			if err != nil || res.Stdout != fmt.Sprintf("%d\n", i) {
				errs <- fmt.Errorf("exec %d: %v %+v", i, err, res)
			}
		}(i)
		go func(i int) {
			defer wg.Done()
			path := fmt.Sprintf("/tmp/concurrent-%d", i)
			if err := c.WriteFile(context.Background(), path, []byte(path)); err != nil {
				errs <- err
				return
			}
			if got, err := c.ReadFile(context.Background(), path); err != nil || string(got) != path {
				errs <- fmt.Errorf("read %s: %q %v", path, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// waitFor returns the first value from ch that matches; a generous bound turns a missing
// value into a failure instead of a hang.
func waitFor[T any](t *testing.T, ch <-chan T, what string, match func(T) bool) T {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case v := <-ch:
			if match(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}
