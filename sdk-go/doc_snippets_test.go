//go:build e2e

package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	sdk "matchlock.dev/go/sdk"
)

// The bodies of these functions are quoted verbatim by docs/sdk-go.md (each after a
// `<!-- snippet: NAME -->` marker); TestDocSnippetsMatchSource keeps the two identical and
// TestE2EDocSnippets runs them. `ctx` and `client` are those of the quick start.

func snippetExec(ctx context.Context, client *sdk.Client) error {
	res, err := client.Exec(ctx, "echo hello; exit 3")
	if err != nil {
		return err // the command could not run at all
	}
	fmt.Println(res.ExitCode, res.Stdout) // 3 hello — a non-zero exit is not an error

	res, err = client.ExecWithOptions(ctx, "pwd; echo $MODE", &sdk.ExecOptions{
		WorkingDir: "/tmp",
		Env:        map[string]string{"MODE": "fast"},
	})
	if err != nil {
		return err
	}
	fmt.Print(res.Stdout) // /tmp, fast
	return nil
}

func snippetStreaming(ctx context.Context, client *sdk.Client) error {
	// Writers get the output as it comes.
	var out bytes.Buffer
	if _, err := client.ExecStream(ctx, "for i in 1 2 3; do echo $i; done", &out, os.Stderr); err != nil {
		return err
	}
	// Or callbacks, while the buffered result is still returned.
	res, err := client.ExecWithOptions(ctx, "echo progress; echo done", &sdk.ExecOptions{
		OnStdout: func(chunk []byte) { fmt.Printf("live: %s", chunk) },
	})
	if err != nil {
		return err
	}
	fmt.Print(out.String(), res.Stdout)
	return nil
}

func snippetPipes(ctx context.Context, client *sdk.Client) error {
	var out bytes.Buffer
	res, err := client.ExecPipe(ctx, "tr a-z A-Z", strings.NewReader("shout\n"), &out, nil)
	if err != nil {
		return err
	}
	fmt.Println(res.ExitCode, out.String()) // 0 SHOUT
	return nil
}

func snippetProcess(ctx context.Context, client *sdk.Client) error {
	proc, err := client.Start(ctx, "cat -n", nil)
	if err != nil {
		return err
	}
	io.WriteString(proc.Stdin, "first line\n")
	proc.Stdin.Close() // end-of-file for the command
	output, _ := io.ReadAll(proc.Stdout)
	res, err := proc.Wait()
	if err != nil {
		return err
	}
	fmt.Printf("exit %d: %s", res.ExitCode, output)

	server, err := client.Start(ctx, "sleep 300", nil)
	if err != nil {
		return err
	}
	server.Kill()          // cancels it: the process group in the guest is killed
	_, err = server.Wait() // an *sdk.RPCError with IsCancelled()
	fmt.Println("killed:", err != nil)
	return nil
}

func snippetTTY(ctx context.Context, client *sdk.Client) error {
	var screen bytes.Buffer
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{40, 120} // e.g. from SIGWINCH
	res, err := client.ExecInteractive(ctx, "read name; echo hi $name", &sdk.ExecInteractiveOptions{
		Rows: 24, Cols: 80,
		Stdin:  strings.NewReader("agent\n"),
		Stdout: &screen, // stdout and stderr merged, as on a terminal
		Resize: resize,
	})
	if err != nil {
		return err
	}
	fmt.Println(res.ExitCode, strings.Contains(screen.String(), "hi agent"))
	return nil
}

func snippetFiles(ctx context.Context, client *sdk.Client) error {
	if err := client.WriteFile(ctx, "/tmp/docs/hello.txt", []byte("hi\n")); err != nil {
		return err // parent directories are created
	}
	if err := client.WriteFileMode(ctx, "/tmp/docs/run.sh", []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		return err
	}
	data, err := client.ReadFile(ctx, "/tmp/docs/hello.txt")
	if err != nil {
		return err
	}
	files, err := client.ListFiles(ctx, "/tmp/docs")
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Println(f.Name, f.Size, os.FileMode(f.Mode)) // Mode has Go's type bits
	}
	fmt.Print(string(data))
	return nil
}

func snippetFileHelpers(ctx context.Context, client *sdk.Client) error {
	if err := client.Mkdir(ctx, "/tmp/docs2/a/b", nil); err != nil { // 0755, parents
		return err
	}
	if err := client.WriteFile(ctx, "/tmp/docs2/a/x.txt", []byte("x")); err != nil {
		return err
	}
	if err := client.Rename(ctx, "/tmp/docs2/a/x.txt", "/tmp/docs2/y.txt"); err != nil {
		return err
	}
	info, err := client.Stat(ctx, "/tmp/docs2/y.txt") // nil when missing
	if err != nil {
		return err
	}
	fmt.Println(info.Size, info.IsDir, info.ModTime)
	if err := client.RemoveFile(ctx, "/tmp/docs2", true); err != nil {
		return err
	}
	exists, err := client.Exists(ctx, "/tmp/docs2")
	fmt.Println("exists:", exists)
	return err
}

func snippetErrors(ctx context.Context, client *sdk.Client) error {
	_, err := client.ReadFile(ctx, "/no/such/file")
	var rpcErr *sdk.RPCError
	if errors.As(err, &rpcErr) && rpcErr.IsFileError() {
		fmt.Println("file error:", rpcErr.Message)
	}
	var engineErr *sdk.EngineError
	if errors.As(err, &engineErr) { // the engine died: its stderr says why
		fmt.Println(engineErr.ExitStatus, engineErr.Stderr)
	}
	return nil
}

func snippetCancel(ctx context.Context, client *sdk.Client) error {
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := client.Exec(short, "sleep 30") // `cancel` is sent; the guest process is killed
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Println("timed out")
	}
	return nil
}

func snippetNetwork(ctx context.Context, client *sdk.Client) error {
	bindings, err := client.PortForward(ctx, "18080:8080") // host 18080 -> guest 8080
	if err != nil {
		return err
	}
	fmt.Println(bindings[0].Address, bindings[0].LocalPort)
	update, err := client.AllowListAdd(ctx, "api.github.com") // needs interception on
	if err != nil {
		return err
	}
	fmt.Println(update.AllowedHosts)
	_, err = client.AllowListDelete(ctx, "api.github.com")
	return err
}

func snippetEvents(ctx context.Context, client *sdk.Client) error {
	seen := make(chan sdk.Event, 100)
	stop := client.OnEvent(func(ev sdk.Event) {
		select {
		case seen <- ev:
		default:
		}
	})
	defer stop()
	if _, err := client.Exec(ctx, "echo note > /workspace/notes.txt"); err != nil {
		return err
	}
	for ev := range seen {
		if ev.File != nil && ev.File.Path == "/workspace/notes.txt" {
			fmt.Println(ev.File.Op, ev.File.Path)
			break
		}
	}
	return nil
}

func snippetLogs(ctx context.Context, client *sdk.Client) error {
	text, err := client.Log(ctx)
	if err != nil {
		return err
	}
	fmt.Println(len(text) > 0)
	follow, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	err = client.LogStream(follow, os.Stdout) // until the context ends
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

func snippetEngine(ctx context.Context, client *sdk.Client) error {
	v, err := client.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Println(v.Version, sdk.Version)
	expires, err := client.SetTimeout(ctx, 600) // the sandbox closes itself in 10 minutes
	if err != nil {
		return err
	}
	fmt.Println(expires)
	sandboxes, err := sdk.ListSandboxes(ctx, sdk.DefaultConfig())
	for _, s := range sandboxes {
		fmt.Println(s.ID, s.State, s.Image)
	}
	return err
}

// The snippets below create sandboxes of their own: `client` is a fresh, unused client.

func snippetBuilder(ctx context.Context, client *sdk.Client, image string) error {
	sandbox := sdk.New(image).
		WithCPUs(2).
		WithMemory(1024).
		WithEnv("MODE", "test").
		AllowHost("api.openai.com", "*.github.com").
		AddSecret("OPENAI_API_KEY", "sk-real-key", "api.openai.com").
		WithDNSServers("1.1.1.1").
		MountOverlay("/workspace/src", os.TempDir()).
		WithPortForward(18081, 8080)
	if err := sandbox.Validate(); err != nil {
		return err // a *sdk.ValidationError naming the verb, before any engine is involved
	}
	fmt.Printf("%+v\n", sandbox.Options().Secrets[0].Hosts)
	return nil
}

func snippetHooks(ctx context.Context, client *sdk.Client, image string) error {
	audited := make(chan string, 10)
	sandbox := sdk.New(image).WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{
		// Evaluated by the engine: creating these files fails in the guest (EPERM).
		{Name: "no-env", Phase: sdk.VFSHookPhaseBefore, Ops: []string{sdk.VFSHookOpCreate},
			Path: "/workspace/.env*", Action: sdk.VFSHookActionBlock},
		// Run here, after each matching operation in the workspace.
		{Name: "audit", Phase: sdk.VFSHookPhaseAfter, Ops: []string{sdk.VFSHookOpWrite}, Path: "/workspace/*",
			Hook: func(ctx context.Context, ev sdk.VFSHookEvent) error {
				audited <- ev.Path
				return nil
			}},
		// Run here, before this client's own WriteFile calls.
		{Name: "stamp", Ops: []string{sdk.VFSHookOpWrite}, Path: "/workspace/*.md",
			MutateHook: func(ctx context.Context, req sdk.VFSMutateRequest) ([]byte, error) {
				return []byte("# generated\n"), nil
			}},
	}})
	if _, err := client.Launch(sandbox); err != nil {
		return err
	}
	res, err := client.Exec(ctx, "echo x > /workspace/.env; echo $?; echo y > /workspace/ok.txt")
	if err != nil {
		return err
	}
	fmt.Print(res.Stdout, <-audited, "\n") // 1 (blocked), then /workspace/ok.txt
	return client.WriteFile(ctx, "/workspace/readme.md", []byte("anything"))
}
