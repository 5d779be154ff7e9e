// Package sdk drives matchlock sandboxes from Go.
//
// A Client spawns one `matchlock rpc` engine process and speaks JSON-RPC 2.0 with it over
// the engine's stdin/stdout; one client owns at most one sandbox. Every method that talks to
// the engine takes a context.Context: cancelling it sends `cancel` for that request and the
// method returns an error wrapping ctx.Err().
//
//	client, err := sdk.NewClient(sdk.DefaultConfig())
//	if err != nil { ... }
//	defer client.Close(0)
//	vmID, err := client.Launch(sdk.New("alpine:latest").WithMemory(1024))
//	res, err := client.Exec(ctx, "echo hello")
//
// Concurrency: all methods of Client, Process and the value returned by Start are safe for
// concurrent use by multiple goroutines. Calls on one client are multiplexed on its engine
// and may run at the same time (several Exec calls overlap in the sandbox).
//
// Callbacks (ExecStream writers, ExecOptions.OnStdout/OnStderr, LogStream writers) run on
// the goroutine that reads the engine's output, in order: keep them short and never call
// the same client from inside them. Event callbacks (OnEvent) and VFS hooks run on their own
// goroutines and may call the client.
//
// If the program dies, the engine's stdin closes and the engine stops the sandbox: nothing
// is left running.
package sdk
