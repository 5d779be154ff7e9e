package sdk_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	sdk "matchlock.dev/go/sdk"
)

// fakeConfig launches this test binary as the fake engine, recording into a fresh file.
func fakeConfig(t *testing.T) (sdk.Config, string) {
	t.Helper()
	record := filepath.Join(t.TempDir(), "record.jsonl")
	return sdk.Config{LaunchCommand: []string{"/usr/bin/env", "SDK_FAKE_ENGINE=1", "FAKE_RECORD=" + record, os.Args[0]}}, record
}

// newFakeClient starts a client on the fake engine; the client is closed at cleanup.
func newFakeClient(t *testing.T) (*sdk.Client, string) {
	t.Helper()
	cfg, record := fakeConfig(t)
	c, err := sdk.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(0) })
	return c, record
}

type recorded struct {
	argv        []string
	messages    []map[string]interface{}
	hookReplies []string
}

// readRecord parses what the fake engine received. Close the client first so the file is
// complete (the engine has exited).
func readRecord(t *testing.T, path string) recorded {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open record: %v", err)
	}
	defer f.Close()
	var r recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]interface{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("record line %q: %v", sc.Text(), err)
		}
		switch {
		case m["argv"] != nil:
			for _, a := range m["argv"].([]interface{}) {
				r.argv = append(r.argv, a.(string))
			}
		case m["hook_reply"] != nil:
			r.hookReplies = append(r.hookReplies, m["hook_reply"].(string))
		default:
			r.messages = append(r.messages, m)
		}
	}
	return r
}

func (r recorded) byMethod(method string) []map[string]interface{} {
	var out []map[string]interface{}
	for _, m := range r.messages {
		if m["method"] == method {
			out = append(out, m)
		}
	}
	return out
}

// assertJSON compares got (any JSON-able value) with the JSON text want, ignoring key order.
func assertJSON(t *testing.T, got interface{}, want string) {
	t.Helper()
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var g, w interface{}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", raw, want)
	}
}
