package sdk_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
)

// The fake engine answers the protocol with fixed, recognisable results and appends every
// line it receives to $FAKE_RECORD, so tests can pin the exact requests the SDK sends.
// Special commands: "hang" (answer only when cancelled), "die" (stderr + exit 3),
// "emit" (a file event before the result).

type fakeEngine struct {
	out    *bufio.Writer
	outMu  sync.Mutex
	record *os.File
	hangs  map[float64]bool
	pipes  map[float64]*fakePipe
}

type fakePipe struct {
	method string
	stdin  []byte
	hang   bool
	// awaitResize: command "resize-me" finishes only after both EOF and a resize arrived.
	awaitResize, resized, eof bool
}

func runFakeEngine() int {
	rec, err := os.OpenFile(os.Getenv("FAKE_RECORD"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake engine:", err)
		return 2
	}
	defer rec.Close()
	argv, _ := json.Marshal(map[string]interface{}{"argv": os.Args[1:]})
	rec.Write(append(argv, '\n'))
	for i, arg := range os.Args {
		if arg == "--attach" && i+1 < len(os.Args) && os.Args[i+1] == "vm-missing" {
			fmt.Fprintln(os.Stderr, "matchlock: rpc --attach: no such sandbox: vm-missing")
			return 1
		}
	}
	f := &fakeEngine{out: bufio.NewWriter(os.Stdout), record: rec, hangs: map[float64]bool{}, pipes: map[float64]*fakePipe{}}
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			rec.Write(line)
			if code, exit := f.handle(line); exit {
				return code
			}
		}
		if err != nil {
			return 0
		}
	}
}

func (f *fakeEngine) send(msg map[string]interface{}) {
	msg["jsonrpc"] = "2.0"
	line, _ := json.Marshal(msg)
	f.outMu.Lock()
	f.out.Write(append(line, '\n'))
	f.out.Flush()
	f.outMu.Unlock()
}

func (f *fakeEngine) reply(id interface{}, result interface{}) {
	f.send(map[string]interface{}{"id": id, "result": result})
}

func (f *fakeEngine) fail(id interface{}, code int, message string) {
	f.send(map[string]interface{}{"id": id, "error": map[string]interface{}{"code": code, "message": message}})
}

func (f *fakeEngine) notify(method string, params map[string]interface{}) {
	f.send(map[string]interface{}{"method": method, "params": params})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (f *fakeEngine) handle(line []byte) (int, bool) {
	var req struct {
		Method string                 `json:"method"`
		Params map[string]interface{} `json:"params"`
		ID     interface{}            `json:"id"`
	}
	if json.Unmarshal(line, &req) != nil {
		return 0, false
	}
	p := req.Params
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch req.Method {
	case "create":
		if str("image") == "fail-image" {
			f.fail(req.ID, -32000, "image not found")
			return 0, false
		}
		if net, ok := p["network"].(map[string]interface{}); ok {
			if icp, ok := net["interception"].(map[string]interface{}); ok {
				if sock, _ := icp["callback_socket"].(string); sock != "" {
					f.callHook(sock, icp)
				}
			}
		}
		f.reply(req.ID, map[string]interface{}{"id": "vm-0000abcd"})
	case "exec":
		switch str("command") {
		case "hang":
			f.hangs[req.ID.(float64)] = true
		case "die":
			fmt.Fprintln(os.Stderr, "starting up")
			fmt.Fprintln(os.Stderr, "fatal: engine exploded")
			return 3, true
		case "emit-network":
			f.notify("event", map[string]interface{}{"type": "network", "timestamp": 1718000000456,
				"network": map[string]interface{}{"method": "GET", "url": "https://x.com/a", "host": "x.com", "status_code": 403,
					"request_bytes": 0, "response_bytes": 17, "duration_ms": 3, "blocked": true, "block_reason": "host not allowed"}})
			f.reply(req.ID, map[string]interface{}{"exit_code": 0, "stdout": "", "stderr": "", "duration_ms": 1})
		case "emit":
			f.notify("event", map[string]interface{}{"type": "file", "timestamp": 1718000000123,
				"file": map[string]interface{}{"op": "write", "path": "/workspace/a.txt", "size": 5, "mode": 420}})
			f.reply(req.ID, map[string]interface{}{"exit_code": 0, "stdout": "", "stderr": "", "duration_ms": 1})
		default:
			f.reply(req.ID, map[string]interface{}{"exit_code": 0, "stdout": b64(str("command")), "stderr": b64("err"), "duration_ms": 1})
		}
	case "exec_stream":
		if str("command") == "hang" {
			f.notify("exec_stream.stdout", map[string]interface{}{"id": req.ID, "data": b64("started")})
			f.hangs[req.ID.(float64)] = true
			return 0, false
		}
		f.notify("exec_stream.stdout", map[string]interface{}{"id": req.ID, "data": b64("out1 ")})
		f.notify("exec_stream.stderr", map[string]interface{}{"id": req.ID, "data": b64("err1")})
		f.notify("exec_stream.stdout", map[string]interface{}{"id": req.ID, "data": b64("out2")})
		f.reply(req.ID, map[string]interface{}{"exit_code": 5, "duration_ms": 9})
	case "exec_pipe", "exec_tty":
		id := req.ID.(float64)
		f.pipes[id] = &fakePipe{method: req.Method, hang: str("command") == "hang", awaitResize: str("command") == "resize-me"}
		f.notify(req.Method+".ready", map[string]interface{}{"id": req.ID})
	case "exec_pipe.stdin", "exec_tty.stdin":
		if pipe := f.pipes[p["id"].(float64)]; pipe != nil {
			data, _ := base64.StdEncoding.DecodeString(str("data"))
			pipe.stdin = append(pipe.stdin, data...)
		}
	case "exec_tty.resize":
		id := p["id"].(float64)
		if pipe := f.pipes[id]; pipe != nil {
			pipe.stdin = append(pipe.stdin, fmt.Sprintf("[resize %v %v]", p["rows"], p["cols"])...)
			pipe.resized = true
			f.maybeFinish(id, pipe)
		}
	case "exec_pipe.stdin_eof", "exec_tty.stdin_eof":
		id := p["id"].(float64)
		if pipe := f.pipes[id]; pipe != nil && !pipe.hang {
			pipe.eof = true
			f.maybeFinish(id, pipe)
		}
	case "cancel":
		target := p["id"].(float64)
		_, hanging := f.hangs[target]
		pipe := f.pipes[target]
		f.reply(req.ID, map[string]interface{}{"cancelled": hanging || pipe != nil})
		if hanging || pipe != nil {
			delete(f.hangs, target)
			delete(f.pipes, target)
			f.fail(target, -32003, "context canceled")
		}
	case "close":
		f.reply(req.ID, map[string]interface{}{})
	case "port_forward":
		var bindings []interface{}
		for _, fw := range p["forwards"].([]interface{}) {
			m := fw.(map[string]interface{})
			if m["local_port"].(float64) == 1 {
				f.fail(req.ID, -32000, "bind local port-forward listener 127.0.0.1:1: permission denied")
				return 0, false
			}
			for _, addr := range p["addresses"].([]interface{}) {
				bindings = append(bindings, map[string]interface{}{"address": addr, "local_port": m["local_port"], "remote_port": m["remote_port"]})
			}
		}
		f.reply(req.ID, map[string]interface{}{"bindings": bindings})
	case "allow_list_add":
		f.reply(req.ID, map[string]interface{}{"added": p["hosts"], "allowed_hosts": p["hosts"]})
	case "allow_list_delete":
		f.reply(req.ID, map[string]interface{}{"removed": p["hosts"], "allowed_hosts": nil})
	case "write_file", "make_dir", "remove_file", "rename_file":
		f.reply(req.ID, map[string]interface{}{})
	case "read_file":
		f.reply(req.ID, map[string]interface{}{"content": b64("file:" + str("path"))})
	case "list_files":
		f.reply(req.ID, map[string]interface{}{})
	case "stat_file":
		if strings.HasSuffix(str("path"), "missing") {
			f.reply(req.ID, map[string]interface{}{"exists": false})
			return 0, false
		}
		f.reply(req.ID, map[string]interface{}{"exists": true, "name": "dir", "size": 4096, "mode": 2147484141,
			"mod_time": "2026-01-02T03:04:05Z", "is_dir": true, "is_symlink": false})
	case "set_timeout":
		if p["timeout_seconds"].(float64) == 0 {
			f.reply(req.ID, map[string]interface{}{"expires_at": nil})
		} else {
			f.reply(req.ID, map[string]interface{}{"expires_at": "2030-01-01T00:00:00Z"})
		}
	case "version":
		f.reply(req.ID, map[string]interface{}{"version": "0.1.0", "commit": "abc1234"})
	case "list_sandboxes":
		f.reply(req.ID, map[string]interface{}{"sandboxes": []interface{}{map[string]interface{}{
			"id": "vm-0000abcd", "state": "running", "image": "busybox", "pid": 42, "created_at": "2026-01-02T03:04:05Z"}}})
	case "log":
		f.reply(req.ID, map[string]interface{}{"content": b64("log line\n")})
	case "log_stream":
		f.notify("log_stream.data", map[string]interface{}{"id": req.ID, "data": b64("first\n")})
		f.hangs[req.ID.(float64)] = true
	default:
		if req.ID != nil {
			f.fail(req.ID, -32601, "Method not found")
		}
	}
	return 0, false
}

func (f *fakeEngine) maybeFinish(id float64, pipe *fakePipe) {
	if !pipe.eof || (pipe.awaitResize && !pipe.resized) {
		return
	}
	delete(f.pipes, id)
	f.notify(pipe.method+".stdout", map[string]interface{}{"id": id, "data": base64.StdEncoding.EncodeToString(pipe.stdin)})
	if pipe.method == "exec_pipe" {
		f.notify("exec_pipe.stderr", map[string]interface{}{"id": id, "data": b64("e")})
	}
	f.reply(id, map[string]interface{}{"exit_code": 7, "duration_ms": 33})
}

// callHook plays the engine's side of a network-hook callback for every callback rule and
// records the SDK's raw reply lines.
func (f *fakeEngine) callHook(socket string, interception map[string]interface{}) {
	rules, _ := interception["rules"].([]interface{})
	for _, r := range rules {
		id, _ := r.(map[string]interface{})["callback_id"].(string)
		if id == "" {
			continue
		}
		conn, err := net.Dial("unix", socket)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake engine: dial hook:", err)
			continue
		}
		req, _ := json.Marshal(map[string]interface{}{"callback_id": id, "phase": "before", "host": "api.example.com",
			"method": "GET", "path": "/v1/models", "query": map[string]string{"limit": "5"},
			"request_headers": map[string][]string{"Accept": {"*/*"}}})
		conn.Write(append(req, '\n'))
		reply, _ := bufio.NewReader(conn).ReadBytes('\n')
		conn.Close()
		rec, _ := json.Marshal(map[string]interface{}{"hook_reply": string(reply)})
		f.record.Write(append(rec, '\n'))
	}
}
