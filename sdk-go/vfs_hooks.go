package sdk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// VFS hook phases, actions and operations.
const (
	VFSHookPhaseBefore = "before"
	VFSHookPhaseAfter  = "after"

	VFSHookActionAllow = "allow"
	VFSHookActionBlock = "block"

	VFSHookOpStat      = "stat"
	VFSHookOpReadDir   = "readdir"
	VFSHookOpOpen      = "open"
	VFSHookOpCreate    = "create"
	VFSHookOpMkdir     = "mkdir"
	VFSHookOpChmod     = "chmod"
	VFSHookOpRemove    = "remove"
	VFSHookOpRemoveAll = "remove_all"
	VFSHookOpRename    = "rename"
	VFSHookOpSymlink   = "symlink"
	VFSHookOpReadlink  = "readlink"
	VFSHookOpRead      = "read"
	VFSHookOpWrite     = "write"
	VFSHookOpClose     = "close"
	VFSHookOpSync      = "sync"
	VFSHookOpTruncate  = "truncate"
)

// VFSInterceptionConfig configures file interception on the workspace.
type VFSInterceptionConfig struct {
	// EmitEvents makes the engine send a file event after every workspace operation.
	EmitEvents bool          `json:"emit_events,omitempty"`
	Rules      []VFSHookRule `json:"rules,omitempty"`
}

// VFSHookRule is a rule evaluated by the engine (no callback set) or, with exactly one of
// the callbacks set, a hook run in this process:
//   - Hook / DangerousHook: phase "after"; run for each matching file event.
//   - ActionHook / MutateHook: phase "before" (or empty); run before this client's own
//     WriteFile (op write), ReadFile (read) and ListFiles (readdir) calls only.
type VFSHookRule struct {
	Name      string   `json:"name,omitempty"`
	Phase     string   `json:"phase,omitempty"`
	Ops       []string `json:"ops,omitempty"`
	Path      string   `json:"path,omitempty"` // filepath.Match glob on the guest path
	Action    string   `json:"action,omitempty"`
	TimeoutMS int      `json:"timeout_ms,omitempty"`

	// Hook is suppressed while another safe hook run is active (no recursion).
	Hook VFSHookFunc `json:"-"`
	// DangerousHook gets the client and always runs, even re-entrantly.
	DangerousHook VFSDangerousHookFunc `json:"-"`
	// MutateHook returns replacement bytes for WriteFile (nil keeps the content).
	MutateHook VFSMutateHookFunc `json:"-"`
	// ActionHook returns VFSHookActionAllow or VFSHookActionBlock.
	ActionHook VFSActionHookFunc `json:"-"`
}

// VFSHookEvent is a file event seen by an after-hook.
type VFSHookEvent struct {
	Op   string
	Path string
	Size int64
	Mode uint32
	UID  int
	GID  int
}

// VFSMutateRequest is given to a MutateHook before WriteFile.
type VFSMutateRequest struct {
	Path string
	Size int
	Mode uint32
	UID  int
	GID  int
}

// VFSActionRequest is given to an ActionHook before an SDK file call.
type VFSActionRequest struct {
	Op   string
	Path string
	Size int
	Mode uint32
	UID  int
	GID  int
}

type (
	VFSHookFunc          func(ctx context.Context, event VFSHookEvent) error
	VFSDangerousHookFunc func(ctx context.Context, client *Client, event VFSHookEvent) error
	VFSMutateHookFunc    func(ctx context.Context, req VFSMutateRequest) ([]byte, error)
	VFSActionHookFunc    func(ctx context.Context, req VFSActionRequest) string
)

// vfsMatcher selects operations and paths for a local hook.
type vfsMatcher struct {
	name string
	ops  map[string]bool
	path string
}

func newVFSMatcher(rule VFSHookRule) vfsMatcher {
	m := vfsMatcher{name: rule.Name, path: rule.Path}
	for _, op := range rule.Ops {
		if op = strings.ToLower(strings.TrimSpace(op)); op != "" {
			if m.ops == nil {
				m.ops = map[string]bool{}
			}
			m.ops[op] = true
		}
	}
	return m
}

func (m vfsMatcher) matches(op, path string) bool {
	if m.ops != nil && !m.ops[strings.ToLower(op)] {
		return false
	}
	if m.path == "" {
		return true
	}
	ok, err := filepath.Match(m.path, path)
	return err == nil && ok
}

type afterHook struct {
	vfsMatcher
	timeout   time.Duration
	dangerous bool
	run       func(ctx context.Context, c *Client, ev VFSHookEvent) error
}

type mutateHook struct {
	vfsMatcher
	run VFSMutateHookFunc
}

type actionHook struct {
	vfsMatcher
	run VFSActionHookFunc
}

// compiledVFS is the result of splitting a VFSInterceptionConfig into wire and local parts.
type compiledVFS struct {
	wire   *VFSInterceptionConfig // nil: send no interception object
	after  []afterHook
	mutate []mutateHook
	action []actionHook
}

func compileVFSHooks(cfg *VFSInterceptionConfig) (compiledVFS, error) {
	var out compiledVFS
	if cfg == nil {
		return out, nil
	}
	wire := &VFSInterceptionConfig{EmitEvents: cfg.EmitEvents}
	for i, rule := range cfg.Rules {
		label := rule.Name
		if label == "" {
			label = fmt.Sprintf("rules[%d]", i)
		}
		callbacks := 0
		for _, set := range []bool{rule.Hook != nil, rule.DangerousHook != nil, rule.MutateHook != nil, rule.ActionHook != nil} {
			if set {
				callbacks++
			}
		}
		action := strings.ToLower(strings.TrimSpace(rule.Action))
		phase := strings.ToLower(strings.TrimSpace(rule.Phase))
		if callbacks > 1 {
			return out, invalid("WithVFSInterception", "%s sets more than one callback", label)
		}
		if callbacks == 0 {
			if action == "mutate_write" {
				return out, invalid("WithVFSInterception", "%s: action mutate_write needs a MutateHook", label)
			}
			wire.Rules = append(wire.Rules, stripCallbacks(rule))
			continue
		}
		if action != "" && action != VFSHookActionAllow {
			return out, invalid("WithVFSInterception", "%s: callback hooks cannot set action=%q", label, rule.Action)
		}
		m := newVFSMatcher(rule)
		timeout := time.Duration(rule.TimeoutMS) * time.Millisecond
		switch {
		case rule.Hook != nil || rule.DangerousHook != nil:
			if phase != VFSHookPhaseAfter {
				return out, invalid("WithVFSInterception", "%s: Hook and DangerousHook need phase=after", label)
			}
			h := afterHook{vfsMatcher: m, timeout: timeout}
			if rule.Hook != nil {
				fn := rule.Hook
				h.run = func(ctx context.Context, _ *Client, ev VFSHookEvent) error { return fn(ctx, ev) }
			} else {
				h.dangerous = true
				h.run = rule.DangerousHook
			}
			out.after = append(out.after, h)
		case rule.ActionHook != nil:
			if phase != "" && phase != VFSHookPhaseBefore {
				return out, invalid("WithVFSInterception", "%s: ActionHook needs phase=before", label)
			}
			out.action = append(out.action, actionHook{vfsMatcher: m, run: rule.ActionHook})
		default:
			if phase != "" && phase != VFSHookPhaseBefore {
				return out, invalid("WithVFSInterception", "%s: MutateHook needs phase=before", label)
			}
			out.mutate = append(out.mutate, mutateHook{vfsMatcher: m, run: rule.MutateHook})
		}
	}
	if len(out.after) > 0 {
		wire.EmitEvents = true // local after-hooks feed on the engine's file events
	}
	if len(wire.Rules) > 0 || wire.EmitEvents {
		out.wire = wire
	}
	return out, nil
}

func stripCallbacks(rule VFSHookRule) VFSHookRule {
	rule.Hook, rule.DangerousHook, rule.MutateHook, rule.ActionHook = nil, nil, nil, nil
	rule.Ops = append([]string(nil), rule.Ops...)
	return rule
}

// vfsHookState holds a client's local hooks; swapped whole on Create and Close.
type vfsHookState struct {
	mu         sync.RWMutex
	hooks      compiledVFS
	safeActive int32 // 1 while a safe after-hook run is in progress
}

func (s *vfsHookState) set(h compiledVFS) {
	s.mu.Lock()
	s.hooks = h
	s.mu.Unlock()
}

func (s *vfsHookState) get() compiledVFS {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hooks
}

// runAfterHooks starts the hooks matching a file event. Safe hooks run as one batch and are
// skipped while an earlier batch runs, so a hook's own file activity cannot retrigger it.
func (c *Client) runAfterHooks(ev VFSHookEvent) {
	var safe []afterHook
	for _, h := range c.vfs.get().after {
		if !h.matches(ev.Op, ev.Path) {
			continue
		}
		if h.dangerous {
			go c.runAfterHook(h, ev)
			continue
		}
		safe = append(safe, h)
	}
	if len(safe) == 0 || !atomic.CompareAndSwapInt32(&c.vfs.safeActive, 0, 1) {
		return
	}
	go func() {
		defer atomic.StoreInt32(&c.vfs.safeActive, 0)
		for _, h := range safe {
			c.runAfterHook(h, ev)
		}
	}()
}

func (c *Client) runAfterHook(h afterHook, ev VFSHookEvent) {
	ctx := context.Background()
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	_ = h.run(ctx, c, ev) // an after-hook cannot undo the operation; its error has nowhere to go
}

// checkActionHooks runs the local action hooks for an SDK file call.
func (c *Client) checkActionHooks(ctx context.Context, op, path string, size int, mode uint32) error {
	for _, h := range c.vfs.get().action {
		if !h.matches(op, path) {
			continue
		}
		decision := strings.ToLower(strings.TrimSpace(h.run(ctx, VFSActionRequest{
			Op: op, Path: path, Size: size, Mode: mode, UID: os.Geteuid(), GID: os.Getegid(),
		})))
		switch decision {
		case "", VFSHookActionAllow:
		case VFSHookActionBlock:
			return fmt.Errorf("%w: op=%s path=%s hook=%q", ErrVFSHookBlocked, op, path, h.name)
		default:
			return fmt.Errorf("VFS hook %q returned invalid action %q", h.name, decision)
		}
	}
	return nil
}

// applyMutateHooks lets local mutate hooks rewrite WriteFile content.
func (c *Client) applyMutateHooks(ctx context.Context, path string, content []byte, mode uint32) ([]byte, error) {
	for _, h := range c.vfs.get().mutate {
		if !h.matches(VFSHookOpWrite, path) {
			continue
		}
		replaced, err := h.run(ctx, VFSMutateRequest{
			Path: path, Size: len(content), Mode: mode, UID: os.Geteuid(), GID: os.Getegid(),
		})
		if err != nil {
			return nil, fmt.Errorf("VFS mutate hook %q: %w", h.name, err)
		}
		if replaced != nil {
			content = replaced
		}
	}
	return content, nil
}
