package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "matchlock.dev/go/sdk"
)

func TestVersionConstantMatchesRepositoryVersionFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "VERSION"))
	if err != nil {
		t.Fatalf("read ../VERSION: %v", err)
	}
	if got := strings.TrimSpace(string(raw)); got != sdk.Version {
		t.Errorf("sdk.Version = %q, VERSION file says %q", sdk.Version, got)
	}
}

func TestEngineNotFoundNamesAllThreeSources(t *testing.T) {
	t.Setenv("MATCHLOCK_BIN", "")
	t.Setenv("PATH", t.TempDir())
	_, err := sdk.NewClient(sdk.Config{})
	if !errors.Is(err, sdk.ErrEngineNotFound) {
		t.Fatalf("want ErrEngineNotFound, got %v", err)
	}
	for _, part := range []string{"Config.BinaryPath", "MATCHLOCK_BIN", "PATH"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %s", err, part)
		}
	}
	_, err = sdk.NewClient(sdk.Config{BinaryPath: "/nonexistent/matchlock"})
	if !errors.Is(err, sdk.ErrEngineNotFound) || !strings.Contains(err.Error(), "/nonexistent/matchlock") {
		t.Errorf("explicit missing binary: got %v", err)
	}
}

func TestDefaultConfigReadsMatchlockBin(t *testing.T) {
	t.Setenv("MATCHLOCK_BIN", "/opt/matchlock")
	if got := sdk.DefaultConfig().BinaryPath; got != "/opt/matchlock" {
		t.Errorf("BinaryPath = %q", got)
	}
}

func TestExecRequestShapesAndIDs(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	res, err := c.ExecWithDir(ctx, "pwd", "/workspace")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "pwd" || res.Stderr != "err" || res.ExitCode != 0 || res.DurationMS != 1 {
		t.Errorf("result %+v", res)
	}
	if _, err := c.Exec(ctx, "echo hi"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(0); err != nil {
		t.Fatal(err)
	}
	r := readRecord(t, record)
	execs := r.byMethod("exec")
	if len(execs) != 2 {
		t.Fatalf("want 2 exec requests, got %d", len(execs))
	}
	assertJSON(t, execs[0], `{"jsonrpc":"2.0","method":"exec","params":{"command":"pwd","working_dir":"/workspace"},"id":1}`)
	assertJSON(t, execs[1], `{"jsonrpc":"2.0","method":"exec","params":{"command":"echo hi"},"id":2}`)
	assertJSON(t, r.byMethod("close")[0], `{"jsonrpc":"2.0","method":"close","params":{"timeout_seconds":2},"id":3}`)
}

func TestExecStreamAndCallbacks(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	res, err := c.ExecStreamWithDir(ctx, "build", "/src", &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "out1 out2" || errOut.String() != "err1" || res.ExitCode != 5 || res.DurationMS != 9 {
		t.Errorf("stream: out=%q err=%q res=%+v", out.String(), errOut.String(), res)
	}
	var chunks []string
	buffered, err := c.ExecWithOptions(ctx, "build", &sdk.ExecOptions{
		User: "1000", Env: map[string]string{"A": "1"},
		OnStdout: func(b []byte) { chunks = append(chunks, "o:"+string(b)) },
		OnStderr: func(b []byte) { chunks = append(chunks, "e:"+string(b)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(chunks, "|") != "o:out1 |e:err1|o:out2" {
		t.Errorf("callbacks saw %q", chunks)
	}
	if buffered.Stdout != "out1 out2" || buffered.Stderr != "err1" || buffered.ExitCode != 5 {
		t.Errorf("buffered result %+v", buffered)
	}
	c.Close(0)
	streams := readRecord(t, record).byMethod("exec_stream")
	assertJSON(t, streams[0]["params"], `{"command":"build","working_dir":"/src"}`)
	assertJSON(t, streams[1]["params"], `{"command":"build","user":"1000","env":{"A":"1"}}`)
}

func TestExecPipeSendsStdinAfterReadyKeyedByRequestID(t *testing.T) {
	c, record := newFakeClient(t)
	var out, errOut bytes.Buffer
	res, err := c.ExecPipe(context.Background(), "cat", strings.NewReader("hello"), &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello" || errOut.String() != "e" || res.ExitCode != 7 || res.DurationMS != 33 {
		t.Errorf("out=%q err=%q res=%+v", out.String(), errOut.String(), res)
	}
	c.Close(0)
	r := readRecord(t, record)
	assertJSON(t, r.byMethod("exec_pipe")[0], `{"jsonrpc":"2.0","method":"exec_pipe","params":{"command":"cat"},"id":1}`)
	assertJSON(t, r.byMethod("exec_pipe.stdin")[0], `{"jsonrpc":"2.0","method":"exec_pipe.stdin","params":{"id":1,"data":"aGVsbG8="}}`)
	assertJSON(t, r.byMethod("exec_pipe.stdin_eof")[0], `{"jsonrpc":"2.0","method":"exec_pipe.stdin_eof","params":{"id":1}}`)
}

func TestExecInteractiveShapesAndResize(t *testing.T) {
	c, record := newFakeClient(t)
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{50, 140}
	var out bytes.Buffer
	// "resize-me" makes the fake engine finish only after it got both EOF and the resize.
	res, err := c.ExecInteractive(context.Background(), "resize-me", &sdk.ExecInteractiveOptions{
		Rows: 30, Cols: 100, Stdin: strings.NewReader("exit\n"), Stdout: &out, Resize: resize})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 || !strings.Contains(out.String(), "exit\n") || !strings.Contains(out.String(), "[resize 50 140]") {
		t.Errorf("res=%+v out=%q", res, out.String())
	}
	c.Close(0)
	r := readRecord(t, record)
	assertJSON(t, r.byMethod("exec_tty")[0]["params"], `{"command":"resize-me","rows":30,"cols":100}`)
	assertJSON(t, r.byMethod("exec_tty.resize")[0], `{"jsonrpc":"2.0","method":"exec_tty.resize","params":{"id":1,"rows":50,"cols":140}}`)
	assertJSON(t, r.byMethod("exec_tty.stdin")[0], `{"jsonrpc":"2.0","method":"exec_tty.stdin","params":{"id":1,"data":"ZXhpdAo="}}`)
	assertJSON(t, r.byMethod("exec_tty.stdin_eof")[0]["params"], `{"id":1}`)
}

func TestExecInteractiveDefaultsTo24x80(t *testing.T) {
	c, record := newFakeClient(t)
	if _, err := c.ExecInteractive(context.Background(), "sh", nil); err != nil {
		t.Fatal(err)
	}
	c.Close(0)
	assertJSON(t, readRecord(t, record).byMethod("exec_tty")[0]["params"], `{"command":"sh","rows":24,"cols":80}`)
}

func TestStartProcessStdinStdoutWait(t *testing.T) {
	c, _ := newFakeClient(t)
	p, err := c.Start(context.Background(), "cat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p.Stdin, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := p.Stdin.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(p.Stdout)
	if err != nil || string(out) != "abc" {
		t.Errorf("stdout %q err %v", out, err)
	}
	errOut, _ := io.ReadAll(p.Stderr)
	if string(errOut) != "e" {
		t.Errorf("stderr %q", errOut)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 7 {
		t.Errorf("wait %+v %v", res, err)
	}
	if _, err := p.Stdin.Write([]byte("late")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after exit: %v", err)
	}
}

func TestStartWithCallbacksAndKill(t *testing.T) {
	c, record := newFakeClient(t)
	p, err := c.Start(context.Background(), "hang", &sdk.ExecOptions{OnStdout: func([]byte) {}, OnStderr: func([]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Stdout != nil || p.Stderr != nil {
		t.Error("readers must be nil when callbacks are given")
	}
	p.Kill()
	_, err = p.Wait()
	var rpcErr *sdk.RPCError
	if !errors.As(err, &rpcErr) || !rpcErr.IsCancelled() {
		t.Fatalf("want cancelled RPCError, got %v", err)
	}
	c.Close(0)
	assertJSON(t, readRecord(t, record).byMethod("cancel")[0], `{"jsonrpc":"2.0","method":"cancel","params":{"id":1},"id":2}`)
}

func TestContextCancellationSendsCancel(t *testing.T) {
	c, record := newFakeClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// The first output chunk proves the request is in flight in the engine.
		var once sync.Once
		_, err := c.ExecWithOptions(ctx, "hang", &sdk.ExecOptions{OnStdout: func([]byte) { once.Do(func() { close(started) }) }})
		done <- err
	}()
	<-started
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	c.Close(0)
	r := readRecord(t, record)
	hang := r.byMethod("exec_stream")[0]
	cancelMsg := r.byMethod("cancel")[0]
	if cancelMsg["params"].(map[string]interface{})["id"] != hang["id"] {
		t.Errorf("cancel %v does not target exec %v", cancelMsg, hang["id"])
	}
}

func TestEngineDeathFailsAllPendingCallsWithStderr(t *testing.T) {
	c, _ := newFakeClient(t)
	ctx := context.Background()
	const waiting = 3
	errs := make(chan error, waiting)
	for i := 0; i < waiting; i++ {
		go func() {
			_, err := c.Exec(ctx, "hang")
			errs <- err
		}()
	}
	_, err := c.Exec(ctx, "die")
	for _, e := range []error{err, <-errs, <-errs, <-errs} {
		var ee *sdk.EngineError
		if !errors.As(e, &ee) || !errors.Is(e, sdk.ErrEngineExited) {
			t.Fatalf("want EngineError wrapping ErrEngineExited, got %v", e)
		}
		if !strings.Contains(ee.Stderr, "fatal: engine exploded") || ee.ExitStatus != "exit status 3" {
			t.Errorf("stderr %q status %q", ee.Stderr, ee.ExitStatus)
		}
		if !strings.Contains(e.Error(), "fatal: engine exploded") {
			t.Errorf("message lacks the stderr line: %v", e)
		}
	}
	if _, err := c.Exec(ctx, "after"); !errors.Is(err, sdk.ErrEngineExited) {
		t.Errorf("call after death: %v", err)
	}
}

func TestConcurrentCallsOnOneClient(t *testing.T) {
	c, _ := newFakeClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := fmt.Sprintf("echo %d", i)
			res, err := c.Exec(context.Background(), cmd)
			if err != nil || res.Stdout != cmd {
				errs <- fmt.Errorf("%s: %v %+v", cmd, err, res)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseIsIdempotentAndLaterCallsFail(t *testing.T) {
	c, _ := newFakeClient(t)
	if err := c.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(0); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Exec(context.Background(), "x"); !errors.Is(err, sdk.ErrClientClosed) {
		t.Errorf("Exec after Close: %v", err)
	}
}

func TestRPCErrorHelpers(t *testing.T) {
	c, _ := newFakeClient(t)
	_, err := c.CreateContext(context.Background(), sdk.CreateOptions{Image: "fail-image"})
	var rpcErr *sdk.RPCError
	if !errors.As(err, &rpcErr) || !rpcErr.IsVMError() || rpcErr.IsExecError() || rpcErr.IsFileError() {
		t.Fatalf("got %v", err)
	}
	if err.Error() != "matchlock RPC error [-32000]: image not found" {
		t.Errorf("message %q", err)
	}
	if c.VMID() != "" {
		t.Errorf("VMID after failed create: %q", c.VMID())
	}
	_, err = c.SetTimeout(context.Background(), -1)
	var verr *sdk.ValidationError
	if !errors.As(err, &verr) || verr.Option != "SetTimeout" {
		t.Errorf("SetTimeout(-1): %v", err)
	}
}

func TestFileMethodsShapes(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	if err := c.WriteFileMode(ctx, "/workspace/a.sh", []byte("hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile(ctx, "/etc/hostname")
	if err != nil || string(got) != "file:/etc/hostname" {
		t.Errorf("ReadFile %q %v", got, err)
	}
	files, err := c.ListFiles(ctx, "/empty")
	if err != nil || files == nil || len(files) != 0 {
		t.Errorf("ListFiles of {} result: %v %v", files, err)
	}
	fi, err := c.Stat(ctx, "/workspace/dir")
	if err != nil || fi == nil || !fi.IsDir || fi.Size != 4096 || fi.ModTime.Year() != 2026 || os.FileMode(fi.Mode).Perm() != 0o755 {
		t.Errorf("Stat %+v %v", fi, err)
	}
	missing, err := c.Stat(ctx, "/workspace/missing")
	if err != nil || missing != nil {
		t.Errorf("Stat missing %+v %v", missing, err)
	}
	if ok, err := c.Exists(ctx, "/workspace/missing"); ok || err != nil {
		t.Errorf("Exists missing: %v %v", ok, err)
	}
	if err := c.Mkdir(ctx, "/workspace/d", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "/workspace/e", &sdk.MkdirOptions{Mode: 0o700, NoParents: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveFile(ctx, "/workspace/d", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "/workspace/a", "/workspace/b"); err != nil {
		t.Fatal(err)
	}
	c.Close(0)
	r := readRecord(t, record)
	assertJSON(t, r.byMethod("write_file")[0]["params"], `{"path":"/workspace/a.sh","content":"aGVsbG8=","mode":493}`)
	assertJSON(t, r.byMethod("read_file")[0]["params"], `{"path":"/etc/hostname"}`)
	assertJSON(t, r.byMethod("stat_file")[0]["params"], `{"path":"/workspace/dir"}`)
	assertJSON(t, r.byMethod("make_dir")[0]["params"], `{"path":"/workspace/d","mode":493,"parents":true}`)
	assertJSON(t, r.byMethod("make_dir")[1]["params"], `{"path":"/workspace/e","mode":448,"parents":false}`)
	assertJSON(t, r.byMethod("remove_file")[0]["params"], `{"path":"/workspace/d","recursive":true}`)
	assertJSON(t, r.byMethod("rename_file")[0]["params"], `{"old_path":"/workspace/a","new_path":"/workspace/b"}`)
}

func TestPortForwardSpecsAndShapes(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	bindings, err := c.PortForwardWithAddresses(ctx, []string{"127.0.0.1"}, "8080", "18081:81")
	if err != nil {
		t.Fatal(err)
	}
	if len(bindings) != 2 || bindings[1] != (sdk.PortForwardBinding{Address: "127.0.0.1", LocalPort: 18081, RemotePort: 81}) {
		t.Errorf("bindings %+v", bindings)
	}
	for _, bad := range []string{"0", "x", "1:2:3", "70000", ""} {
		var verr *sdk.ValidationError
		if _, err := c.PortForward(ctx, bad); !errors.As(err, &verr) {
			t.Errorf("spec %q: want ValidationError, got %v", bad, err)
		}
	}
	c.Close(0)
	pf := readRecord(t, record).byMethod("port_forward")
	if len(pf) != 1 {
		t.Fatalf("want 1 port_forward (bad specs must not be sent), got %d", len(pf))
	}
	assertJSON(t, pf[0]["params"], `{"forwards":[{"local_port":8080,"remote_port":8080},{"local_port":18081,"remote_port":81}],"addresses":["127.0.0.1"]}`)
}

func TestCreateReturnsIDWhenPortForwardFails(t *testing.T) {
	c, _ := newFakeClient(t)
	id, err := c.CreateContext(context.Background(), sdk.New("img").WithPortForward(1, 80).Options())
	if id != "vm-0000abcd" || err == nil {
		t.Errorf("id %q err %v", id, err)
	}
	if c.VMID() != "vm-0000abcd" {
		t.Errorf("VMID %q", c.VMID())
	}
}

func TestAllowListNormalization(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	up, err := c.AllowListAdd(ctx, "a.com, b.com", "a.com", " ")
	if err != nil || strings.Join(up.Added, ",") != "a.com,b.com" {
		t.Errorf("add %+v %v", up, err)
	}
	del, err := c.AllowListDelete(ctx, "a.com")
	if err != nil || len(del.Removed) != 1 || del.AllowedHosts != nil {
		t.Errorf("delete %+v %v", del, err)
	}
	var verr *sdk.ValidationError
	if _, err := c.AllowListAdd(ctx, " , "); !errors.As(err, &verr) {
		t.Errorf("empty hosts: %v", err)
	}
	c.Close(0)
	assertJSON(t, readRecord(t, record).byMethod("allow_list_add")[0]["params"], `{"hosts":["a.com","b.com"]}`)
}

func TestLogAndLogStream(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	text, err := c.Log(ctx)
	if err != nil || text != "log line\n" {
		t.Errorf("Log %q %v", text, err)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	got := make(chan string, 1)
	w := writerFunc(func(p []byte) { got <- string(p); cancel() })
	err = c.LogStream(streamCtx, w)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("LogStream end: %v", err)
	}
	if s := <-got; s != "first\n" {
		t.Errorf("stream data %q", s)
	}
	c.Close(0)
	r := readRecord(t, record)
	assertJSON(t, r.byMethod("log")[0], `{"jsonrpc":"2.0","method":"log","id":1}`)
	assertJSON(t, r.byMethod("cancel")[0]["params"], `{"id":2}`)
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestVersionSetTimeoutListSandboxes(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil || v.Version != "0.1.0" || v.Commit != "abc1234" {
		t.Errorf("Version %+v %v", v, err)
	}
	at, err := c.SetTimeout(ctx, 60)
	if err != nil || at == nil || at.Year() != 2030 {
		t.Errorf("SetTimeout %v %v", at, err)
	}
	cleared, err := c.SetTimeout(ctx, 0)
	if err != nil || cleared != nil {
		t.Errorf("SetTimeout(0) %v %v", cleared, err)
	}
	c.Close(0)
	assertJSON(t, readRecord(t, record).byMethod("set_timeout")[0]["params"], `{"timeout_seconds":60}`)

	cfg, listRecord := fakeConfig(t)
	boxes, err := sdk.ListSandboxes(ctx, cfg)
	if err != nil || len(boxes) != 1 || boxes[0].ID != "vm-0000abcd" || boxes[0].PID != 42 || boxes[0].CreatedAt.Year() != 2026 {
		t.Errorf("ListSandboxes %+v %v", boxes, err)
	}
	r := readRecord(t, listRecord)
	assertJSON(t, r.byMethod("list_sandboxes")[0], `{"jsonrpc":"2.0","method":"list_sandboxes","id":1}`)
	if len(r.byMethod("close")) != 1 {
		t.Error("ListSandboxes must close its engine")
	}
}

func TestAttachAppendsFlagAndOnlyDetachesOnClose(t *testing.T) {
	cfg, record := fakeConfig(t)
	c, err := sdk.Attach(context.Background(), cfg, "vm-12345678")
	if err != nil {
		t.Fatal(err)
	}
	if c.VMID() != "vm-12345678" {
		t.Errorf("VMID %q", c.VMID())
	}
	if err := c.Close(0); err != nil {
		t.Fatal(err)
	}
	r := readRecord(t, record)
	if strings.Join(r.argv, " ") != "--attach vm-12345678" {
		t.Errorf("engine argv %q", r.argv)
	}
	if len(r.byMethod("close")) != 0 {
		t.Error("Close of an attached client must not stop the sandbox")
	}

	cfg, record = fakeConfig(t)
	c, err = sdk.Attach(context.Background(), cfg, "vm-12345678")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(0); err != nil {
		t.Fatal(err)
	}
	if len(readRecord(t, record).byMethod("close")) != 1 {
		t.Error("Kill must send close")
	}

	cfg, _ = fakeConfig(t)
	_, err = sdk.Attach(context.Background(), cfg, "vm-missing")
	var ee *sdk.EngineError
	if !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "no such sandbox") {
		t.Errorf("attach to a missing sandbox: %v", err)
	}
}

func TestVolumeCommandsReportMissingCLI(t *testing.T) {
	dir := t.TempDir()
	fakeBin := filepath.Join(dir, "matchlock")
	script := "#!/bin/sh\nif [ \"$1\" = rm ]; then echo \"$@\" > \"$0.rm\"; exit 0; fi\necho 'matchlock: unknown command \"'$1'\"' >&2\nexit 2\n"
	if err := os.WriteFile(fakeBin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := fakeConfig(t)
	cfg.BinaryPath = fakeBin
	c, err := sdk.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(0)
	ctx := context.Background()
	_, err = c.VolumeCreateContext(ctx, "cache", 10)
	if !errors.Is(err, sdk.ErrNotSupported) || !strings.Contains(err.Error(), "volume") {
		t.Errorf("VolumeCreate: %v", err)
	}
	if _, err := c.VolumeListContext(ctx); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("VolumeList: %v", err)
	}
	if err := c.VolumeRemoveContext(ctx, "cache"); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("VolumeRemove: %v", err)
	}
	if err := c.RemoveContext(ctx); err != nil {
		t.Errorf("Remove without a sandbox: %v", err)
	}
	if _, err := c.CreateContext(ctx, sdk.CreateOptions{Image: "img"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fakeBin + ".rm"); strings.TrimSpace(string(got)) != "rm vm-0000abcd" {
		t.Errorf("Remove ran %q", got)
	}
}
