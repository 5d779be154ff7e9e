package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	sdk "matchlock.dev/go/sdk"
)

// createParams runs Create (or Launch) against the fake engine and returns the params sent.
func createParams(t *testing.T, b *sdk.SandboxBuilder, launch bool) map[string]interface{} {
	t.Helper()
	c, record := newFakeClient(t)
	var err error
	if launch {
		_, err = c.LaunchContext(context.Background(), b)
	} else {
		_, err = c.CreateContext(context.Background(), b.Options())
	}
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c.Close(0)
	creates := readRecord(t, record).byMethod("create")
	if len(creates) != 1 {
		t.Fatalf("want one create, got %d", len(creates))
	}
	return creates[0]["params"].(map[string]interface{})
}

func TestCreateParamsMinimal(t *testing.T) {
	assertJSON(t, createParams(t, sdk.New("alpine:latest"), false),
		`{"image":"alpine:latest","resources":{"cpus":1,"memory_mb":512,"disk_size_mb":5120,"timeout_seconds":300}}`)
}

func TestCreateParamsEveryBuilderVerb(t *testing.T) {
	b := sdk.New("python:3.12").
		WithPrivileged().WithCPUs(1.5).WithMemory(1024).WithDiskSize(2048).WithTimeout(60).
		WithWorkspace("/workspace").
		MountMemory("/workspace/tmp").
		MountHostDir("/workspace/rw", "/host/rw").
		MountHostDirReadonly("/workspace/ro", "/host/ro").
		MountOverlay("/workspace/ov", "/host/ov").
		WithEnv("A", "1").WithEnvMap(map[string]string{"B": "2"}).
		AllowHost("api.openai.com").AddHost("api.internal", "10.0.0.10").
		AddSecret("KEY", "sk-123", "api.openai.com").
		WithDNSServers("1.1.1.1").WithHostname("sandbox").WithNetworkMTU(1200).
		AllowPrivateIPs().
		WithUser("1000:1000").WithEntrypoint("python").
		WithImageConfig(&sdk.ImageConfig{WorkingDir: "/app", Cmd: []string{"app.py"}, Env: map[string]string{"K": "V"}})
	assertJSON(t, createParams(t, b, true), `{
		"image":"python:3.12","privileged":true,"launch_entrypoint":true,
		"resources":{"cpus":1.5,"memory_mb":1024,"disk_size_mb":2048,"timeout_seconds":60},
		"network":{"allowed_hosts":["api.openai.com"],"block_private_ips":false,
			"add_hosts":[{"host":"api.internal","ip":"10.0.0.10"}],
			"secrets":{"KEY":{"value":"sk-123","hosts":["api.openai.com"]}},
			"dns_servers":["1.1.1.1"],"hostname":"sandbox","mtu":1200},
		"vfs":{"workspace":"/workspace","mounts":{
			"/workspace/tmp":{"type":"memory"},
			"/workspace/rw":{"type":"host_fs","host_path":"/host/rw"},
			"/workspace/ro":{"type":"host_fs","host_path":"/host/ro","readonly":true},
			"/workspace/ov":{"type":"overlay","host_path":"/host/ov"}}},
		"env":{"A":"1","B":"2"},
		"image_config":{"user":"1000:1000","working_dir":"/app","entrypoint":["python"],"cmd":["app.py"],"env":{"K":"V"}}}`)
}

func TestCreateParamsNetworkForms(t *testing.T) {
	cases := []struct {
		name    string
		builder *sdk.SandboxBuilder
		network string
	}{
		{"reference example", sdk.New("i").AllowHost("api.openai.com").AddHost("api.internal", "10.0.0.10").
			WithDNSServers("1.1.1.1").WithHostname("sandbox").WithNetworkMTU(1200),
			`{"allowed_hosts":["api.openai.com"],"add_hosts":[{"host":"api.internal","ip":"10.0.0.10"}],"block_private_ips":true,"dns_servers":["1.1.1.1"],"hostname":"sandbox","mtu":1200}`},
		{"forced interception only", sdk.New("i").WithNetworkInterception(),
			`{"allowed_hosts":[],"block_private_ips":true,"intercept":true}`},
		{"explicit block", sdk.New("i").BlockPrivateIPs(), `{"allowed_hosts":[],"block_private_ips":true}`},
		{"no network", sdk.New("i").WithNoNetwork().WithHostname("h").WithDNSServers("9.9.9.9").AddHost("x", "10.0.0.1"),
			`{"no_network":true,"hostname":"h","dns_servers":["9.9.9.9"],"add_hosts":[{"host":"x","ip":"10.0.0.1"}]}`},
		{"unset override", sdk.New("i").AllowPrivateIPs().UnsetBlockPrivateIPs(), ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params := createParams(t, tc.builder, false)
			if tc.network == "" {
				if _, ok := params["network"]; ok {
					t.Errorf("network sent: %v", params["network"])
				}
				return
			}
			assertJSON(t, params["network"], tc.network)
		})
	}
}

func TestVFSHookCompile(t *testing.T) {
	after := func(context.Context, sdk.VFSHookEvent) error { return nil }
	params := createParams(t, sdk.New("i").WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{
		{Name: "audit", Phase: "after", Ops: []string{"write"}, Hook: after},
	}}), false)
	assertJSON(t, params["vfs"], `{"interception":{"emit_events":true}}`)

	params = createParams(t, sdk.New("i").WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{
		{Name: "deny", Phase: "before", Ops: []string{"create"}, Path: "/workspace/blocked*", Action: "block"},
		{Name: "local", ActionHook: func(context.Context, sdk.VFSActionRequest) string { return "allow" }},
		{Name: "mut", MutateHook: func(context.Context, sdk.VFSMutateRequest) ([]byte, error) { return nil, nil }},
	}}), false)
	assertJSON(t, params["vfs"], `{"interception":{"rules":[{"name":"deny","phase":"before","ops":["create"],"path":"/workspace/blocked*","action":"block"}]}}`)

	bad := []sdk.VFSHookRule{
		{Name: "two", Phase: "after", Hook: after, DangerousHook: func(context.Context, *sdk.Client, sdk.VFSHookEvent) error { return nil }},
		{Name: "before-hook", Phase: "before", Hook: after},
		{Name: "mw", Action: "mutate_write"},
		{Name: "blocking-hook", Phase: "after", Action: "block", Hook: after},
		{Name: "after-action", Phase: "after", ActionHook: func(context.Context, sdk.VFSActionRequest) string { return "" }},
	}
	for _, rule := range bad {
		err := sdk.New("i").WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{rule}}).Validate()
		var verr *sdk.ValidationError
		if !errors.As(err, &verr) || verr.Option != "WithVFSInterception" || !strings.Contains(err.Error(), rule.Name) {
			t.Errorf("rule %s: got %v", rule.Name, err)
		}
	}
}

func TestValidationErrorsNameTheOptionAndSendNothing(t *testing.T) {
	cases := map[string]*sdk.SandboxBuilder{
		"New":             sdk.New(" "),
		"WithCPUs":        sdk.New("i").WithCPUs(math.NaN()),
		"WithMemory":      sdk.New("i").WithMemory(-1),
		"WithNetworkMTU":  sdk.New("i").WithNetworkMTU(-5),
		"WithNoNetwork":   sdk.New("i").WithNoNetwork().AllowHost("x.com"),
		"AddHost":         sdk.New("i").AddHost("bad:host", "10.0.0.1"),
		"AddSecret":       sdk.New("i").AddSecret("", "v"),
		"WithPortForward": sdk.New("i").WithPortForward(0, 80),
		"Mount":           sdk.New("i").Mount("/workspace/x", sdk.MountConfig{Type: "nfs"}),
		"WithNetworkInterception": sdk.New("i").WithNetworkInterception(&sdk.NetworkInterceptionConfig{Rules: []sdk.NetworkHookRule{
			{Name: "r", Action: "block", Hook: func(context.Context, sdk.NetworkHookRequest) (*sdk.NetworkHookResult, error) { return nil, nil }}}}),
	}
	for option, b := range cases {
		t.Run(option, func(t *testing.T) {
			c, record := newFakeClient(t)
			_, err := c.CreateContext(context.Background(), b.Options())
			var verr *sdk.ValidationError
			if !errors.As(err, &verr) || verr.Option != option {
				t.Fatalf("want ValidationError for %s, got %v", option, err)
			}
			c.Close(0)
			if n := len(readRecord(t, record).byMethod("create")); n != 0 {
				t.Errorf("create was sent %d times", n)
			}
		})
	}
}

func TestOptionsReturnsADeepCopy(t *testing.T) {
	b := sdk.New("i").AllowHost("a").WithEnv("K", "1").AddSecret("S", "v", "h").WithEntrypoint("sh")
	o := b.Options()
	o.AllowedHosts[0], o.Env["K"], o.Secrets[0].Hosts[0], o.ImageConfig.Entrypoint[0] = "x", "x", "x", "x"
	again := b.Options()
	if again.AllowedHosts[0] != "a" || again.Env["K"] != "1" || again.Secrets[0].Hosts[0] != "h" || again.ImageConfig.Entrypoint[0] != "sh" {
		t.Errorf("builder state changed through Options(): %+v", again)
	}
}

func TestLocalVFSHooksGuardSDKFileCalls(t *testing.T) {
	c, record := newFakeClient(t)
	ctx := context.Background()
	_, err := c.CreateContext(ctx, sdk.New("i").WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{
		{Name: "no-secrets", Ops: []string{"write", "read"}, Path: "/workspace/.env",
			ActionHook: func(_ context.Context, req sdk.VFSActionRequest) string { return sdk.VFSHookActionBlock }},
		{Name: "upper", Ops: []string{"write"}, Path: "/workspace/*.txt",
			MutateHook: func(_ context.Context, req sdk.VFSMutateRequest) ([]byte, error) { return []byte("MUTATED"), nil }},
	}}).Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(ctx, "/workspace/.env", []byte("x")); !errors.Is(err, sdk.ErrVFSHookBlocked) {
		t.Errorf("blocked write: %v", err)
	}
	if _, err := c.ReadFile(ctx, "/workspace/.env"); !errors.Is(err, sdk.ErrVFSHookBlocked) {
		t.Errorf("blocked read: %v", err)
	}
	if err := c.WriteFile(ctx, "/workspace/a.txt", []byte("orig")); err != nil {
		t.Fatal(err)
	}
	c.Close(0)
	writes := readRecord(t, record).byMethod("write_file")
	if len(writes) != 1 {
		t.Fatalf("want only the allowed write sent, got %d", len(writes))
	}
	assertJSON(t, writes[0]["params"], `{"path":"/workspace/a.txt","content":"TVVUQVRFRA==","mode":420}`)
}

func TestEventsReachOnEventAndAfterHooks(t *testing.T) {
	c, _ := newFakeClient(t)
	ctx := context.Background()
	hooked := make(chan sdk.VFSHookEvent, 1)
	_, err := c.CreateContext(ctx, sdk.New("i").WithVFSInterception(&sdk.VFSInterceptionConfig{Rules: []sdk.VFSHookRule{
		{Phase: "after", Ops: []string{"write"}, Path: "/workspace/*",
			Hook: func(_ context.Context, ev sdk.VFSHookEvent) error { hooked <- ev; return nil }},
		{Phase: "after", Ops: []string{"remove"}, Hook: func(context.Context, sdk.VFSHookEvent) error {
			t.Error("hook for another op ran")
			return nil
		}},
	}}).Options())
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan sdk.Event, 1)
	unregister := c.OnEvent(func(ev sdk.Event) { events <- ev })
	if _, err := c.Exec(ctx, "emit"); err != nil {
		t.Fatal(err)
	}
	ev := <-events
	if ev.Type != "file" || ev.File == nil || ev.File.Path != "/workspace/a.txt" || ev.File.Size != 5 || ev.Timestamp != 1718000000123 {
		t.Errorf("event %+v", ev)
	}
	if h := <-hooked; h.Op != "write" || h.Path != "/workspace/a.txt" || h.Mode != 420 {
		t.Errorf("hook event %+v", h)
	}
	unregister()
}

func TestNetworkHookCallbackServer(t *testing.T) {
	var mu sync.Mutex
	var seen []sdk.NetworkHookRequest
	hook := func(_ context.Context, req sdk.NetworkHookRequest) (*sdk.NetworkHookResult, error) {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		return &sdk.NetworkHookResult{
			Action:   sdk.NetworkHookActionMutate,
			Request:  &sdk.NetworkHookRequestMutation{Headers: map[string][]string{}, Query: map[string]string{}, Path: "/v2"},
			Response: &sdk.NetworkHookResponseMutation{SetBody: []byte{}},
		}, nil
	}
	c, record := newFakeClient(t)
	_, err := c.CreateContext(context.Background(), sdk.New("i").WithNetworkInterception(&sdk.NetworkInterceptionConfig{Rules: []sdk.NetworkHookRule{
		{Name: "static", Phase: "before", Hosts: []string{"x.com"}, Action: "block"},
		{Name: "dynamic", Phase: "before", TimeoutMS: 1500, Hook: hook},
	}}).Options())
	if err != nil {
		t.Fatal(err)
	}
	c.Close(0)
	r := readRecord(t, record)
	network := r.byMethod("create")[0]["params"].(map[string]interface{})["network"].(map[string]interface{})
	icp := network["interception"].(map[string]interface{})
	socket, _ := icp["callback_socket"].(string)
	if !strings.HasSuffix(socket, "/hook.sock") {
		t.Errorf("callback_socket %q", socket)
	}
	delete(icp, "callback_socket")
	assertJSON(t, network, `{"allowed_hosts":[],"block_private_ips":true,"intercept":true,"interception":{"rules":[
		{"name":"static","phase":"before","hosts":["x.com"],"action":"block"},
		{"name":"dynamic","phase":"before","timeout_ms":1500,"callback_id":"network_hook_2"}]}}`)
	if len(r.hookReplies) != 1 {
		t.Fatalf("want one callback answered, got %d", len(r.hookReplies))
	}
	var reply interface{}
	if err := json.Unmarshal([]byte(r.hookReplies[0]), &reply); err != nil {
		t.Fatalf("reply %q: %v", r.hookReplies[0], err)
	}
	assertJSON(t, reply, `{"action":"mutate","request":{"headers":{},"query":{},"path":"/v2"},"response":{"headers":null,"set_body_base64":""}}`)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].Host != "api.example.com" || seen[0].Query["limit"] != "5" || seen[0].RequestHeaders["Accept"][0] != "*/*" {
		t.Errorf("hook saw %+v", seen)
	}
}

func TestNetworkEventsReachOnEvent(t *testing.T) {
	c, _ := newFakeClient(t)
	events := make(chan sdk.Event, 1)
	c.OnEvent(func(ev sdk.Event) { events <- ev })
	if _, err := c.Exec(context.Background(), "emit-network"); err != nil {
		t.Fatal(err)
	}
	ev := <-events
	n := ev.Network
	if ev.Type != "network" || n == nil || !n.Blocked || n.BlockReason != "host not allowed" || n.StatusCode != 403 || n.Host != "x.com" || n.ResponseBytes != 17 {
		t.Errorf("event %+v network %+v", ev, n)
	}
	if !strings.Contains(string(ev.Raw), `"block_reason"`) {
		t.Errorf("raw params %s", ev.Raw)
	}
}
