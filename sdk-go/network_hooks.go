package sdk

import (
	"context"
	"fmt"
	"strings"
)

// Network hook phases and actions.
const (
	NetworkHookPhaseBefore = "before"
	NetworkHookPhaseAfter  = "after"

	NetworkHookActionAllow  = "allow"
	NetworkHookActionBlock  = "block"
	NetworkHookActionMutate = "mutate"
)

// NetworkInterceptionConfig holds HTTP(S) interception rules run by the engine's proxy.
type NetworkInterceptionConfig struct {
	Rules []NetworkHookRule `json:"rules,omitempty"`
}

// NetworkBodyTransform is a literal response-body replacement (per `data:` line for SSE).
type NetworkBodyTransform struct {
	Find    string `json:"find"`
	Replace string `json:"replace,omitempty"`
}

// NetworkHookRule is evaluated by the engine; with Hook set, the engine asks this process
// (over a Unix socket the client serves) what to do with each matching request.
type NetworkHookRule struct {
	Name    string   `json:"name,omitempty"`
	Phase   string   `json:"phase,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	Methods []string `json:"methods,omitempty"`
	Path    string   `json:"path,omitempty"`
	Action  string   `json:"action,omitempty"`

	SetHeaders    map[string]string `json:"set_headers,omitempty"`
	DeleteHeaders []string          `json:"delete_headers,omitempty"`
	SetQuery      map[string]string `json:"set_query,omitempty"`
	DeleteQuery   []string          `json:"delete_query,omitempty"`
	RewritePath   string            `json:"rewrite_path,omitempty"`

	SetResponseHeaders    map[string]string      `json:"set_response_headers,omitempty"`
	DeleteResponseHeaders []string               `json:"delete_response_headers,omitempty"`
	BodyReplacements      []NetworkBodyTransform `json:"body_replacements,omitempty"`
	TimeoutMS             int                    `json:"timeout_ms,omitempty"`

	// Hook runs in this process for each matching request; its context carries TimeoutMS.
	// Note: this engine denies the request when the hook fails or times out.
	Hook NetworkHookFunc `json:"-"`
}

// NetworkHookRequest describes the intercepted request (and response, after phase).
type NetworkHookRequest struct {
	Phase           string
	Host            string
	Method          string
	Path            string
	Query           map[string]string
	RequestHeaders  map[string][]string
	StatusCode      int
	ResponseHeaders map[string][]string
	IsSSE           bool
}

// NetworkHookResult is a hook's decision. A nil result allows the request unchanged.
type NetworkHookResult struct {
	Action   string
	Request  *NetworkHookRequestMutation
	Response *NetworkHookResponseMutation
}

// NetworkHookRequestMutation changes the outgoing request. Non-nil maps replace all headers
// or query values (an empty map clears them).
type NetworkHookRequestMutation struct {
	Headers map[string][]string
	Query   map[string]string
	Path    string
}

// NetworkHookResponseMutation changes the response. SetBody non-nil replaces the body.
type NetworkHookResponseMutation struct {
	Headers          map[string][]string
	BodyReplacements []NetworkBodyTransform
	SetBody          []byte
}

// NetworkHookFunc decides on one intercepted request.
type NetworkHookFunc func(ctx context.Context, req NetworkHookRequest) (*NetworkHookResult, error)

// wireNetworkRule is a rule as sent in `create`.
type wireNetworkRule struct {
	NetworkHookRule
	CallbackID string `json:"callback_id,omitempty"`
}

type wireNetworkInterception struct {
	CallbackSocket string            `json:"callback_socket,omitempty"`
	Rules          []wireNetworkRule `json:"rules,omitempty"`
}

type networkHook struct {
	id    string
	name  string
	phase string
	run   NetworkHookFunc
	// timeoutMS bounds the hook's context.
	timeoutMS int
}

// compileNetworkHooks returns the wire rules (nil when there are none) and the local hooks
// keyed by callback id ("network_hook_<1-based rule index>").
func compileNetworkHooks(cfg *NetworkInterceptionConfig) (*wireNetworkInterception, map[string]networkHook, error) {
	if cfg == nil || len(cfg.Rules) == 0 {
		return nil, nil, nil
	}
	wire := &wireNetworkInterception{}
	var local map[string]networkHook
	for i, rule := range cfg.Rules {
		w := wireNetworkRule{NetworkHookRule: rule}
		w.Hook = nil
		if rule.Hook != nil {
			action := strings.ToLower(strings.TrimSpace(rule.Action))
			if action != "" && action != NetworkHookActionAllow {
				return nil, nil, invalid("WithNetworkInterception", "rule %q: callback hooks cannot set action=%q", rule.Name, rule.Action)
			}
			id := fmt.Sprintf("network_hook_%d", i+1)
			w.CallbackID = id
			if local == nil {
				local = map[string]networkHook{}
			}
			local[id] = networkHook{
				id: id, name: rule.Name, run: rule.Hook, timeoutMS: rule.TimeoutMS,
				phase: strings.ToLower(strings.TrimSpace(rule.Phase)),
			}
		}
		wire.Rules = append(wire.Rules, w)
	}
	return wire, local, nil
}
