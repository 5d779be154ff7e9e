package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// networkHookServer answers the engine's network-hook callbacks: for each call the engine
// connects to the Unix socket, writes one JSON request line and reads one JSON reply line.
type networkHookServer struct {
	dir      string
	socket   string
	listener net.Listener
	hooks    map[string]networkHook
	wg       sync.WaitGroup
}

type hookCallbackRequest struct {
	CallbackID      string              `json:"callback_id"`
	Phase           string              `json:"phase"`
	Host            string              `json:"host,omitempty"`
	Method          string              `json:"method,omitempty"`
	Path            string              `json:"path,omitempty"`
	Query           map[string]string   `json:"query,omitempty"`
	RequestHeaders  map[string][]string `json:"request_headers,omitempty"`
	StatusCode      int                 `json:"status_code,omitempty"`
	ResponseHeaders map[string][]string `json:"response_headers,omitempty"`
	IsSSE           bool                `json:"is_sse,omitempty"`
}

type hookRequestMutation struct {
	Headers map[string][]string `json:"headers"`
	Query   map[string]string   `json:"query"`
	Path    string              `json:"path,omitempty"`
}

type hookResponseMutation struct {
	Headers          map[string][]string    `json:"headers"`
	BodyReplacements []NetworkBodyTransform `json:"body_replacements,omitempty"`
	SetBodyBase64    *string                `json:"set_body_base64,omitempty"`
}

type hookCallbackResponse struct {
	Action   string                `json:"action,omitempty"`
	Request  *hookRequestMutation  `json:"request,omitempty"`
	Response *hookResponseMutation `json:"response,omitempty"`
	Error    string                `json:"error,omitempty"`
}

func startNetworkHookServer(hooks map[string]networkHook) (*networkHookServer, error) {
	dir, err := os.MkdirTemp("", "matchlock-network-hook-")
	if err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, "hook.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &networkHookServer{dir: dir, socket: socket, listener: ln, hooks: hooks}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *networkHookServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			return // listener closed by stop
		}
		go s.serve(conn)
	}
}

func (s *networkHookServer) serve(conn net.Conn) {
	defer conn.Close()
	var req hookCallbackRequest
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		writeHookReply(conn, hookCallbackResponse{Error: "bad callback request: " + err.Error()})
		return
	}
	writeHookReply(conn, s.answer(req))
}

func (s *networkHookServer) answer(req hookCallbackRequest) hookCallbackResponse {
	hook, ok := s.hooks[req.CallbackID]
	if !ok {
		return hookCallbackResponse{Error: "network hook callback not found"}
	}
	if hook.phase != "" && !strings.EqualFold(hook.phase, req.Phase) {
		return hookCallbackResponse{Error: "network hook phase mismatch"}
	}
	ctx := context.Background()
	if hook.timeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(hook.timeoutMS)*time.Millisecond)
		defer cancel()
	}
	result, err := hook.run(ctx, NetworkHookRequest{
		Phase: req.Phase, Host: req.Host, Method: req.Method, Path: req.Path,
		Query: req.Query, RequestHeaders: req.RequestHeaders, StatusCode: req.StatusCode,
		ResponseHeaders: req.ResponseHeaders, IsSSE: req.IsSSE,
	})
	if err != nil {
		return hookCallbackResponse{Error: err.Error()}
	}
	return encodeHookResult(result)
}

func encodeHookResult(result *NetworkHookResult) hookCallbackResponse {
	var resp hookCallbackResponse
	if result == nil {
		return resp
	}
	resp.Action = result.Action
	if m := result.Request; m != nil {
		resp.Request = &hookRequestMutation{Headers: m.Headers, Query: m.Query, Path: m.Path}
	}
	if m := result.Response; m != nil {
		resp.Response = &hookResponseMutation{Headers: m.Headers, BodyReplacements: m.BodyReplacements}
		if m.SetBody != nil {
			body := base64.StdEncoding.EncodeToString(m.SetBody)
			resp.Response.SetBodyBase64 = &body
		}
	}
	return resp
}

func writeHookReply(conn net.Conn, resp hookCallbackResponse) {
	line, _ := json.Marshal(resp)
	_, _ = conn.Write(append(line, '\n'))
}

// stop closes the socket and removes its directory; callbacks in flight finish on their own.
func (s *networkHookServer) stop() {
	if s == nil {
		return
	}
	_ = s.listener.Close()
	s.wg.Wait()
	_ = os.RemoveAll(s.dir)
}
