package sdk

import (
	"encoding/json"
	"sync"
)

// Event is an `event` notification from the engine: a file operation in the workspace
// (Type "file") or an intercepted HTTP request (Type "network").
type Event struct {
	Type string
	// Timestamp is as sent: Unix milliseconds for file and network events of this engine.
	Timestamp int64
	File      *FileEvent
	Network   *NetworkEvent
	// Raw is the notification's params, for fields this SDK does not know.
	Raw json.RawMessage
}

// FileEvent describes one workspace operation.
type FileEvent struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	Mode uint32 `json:"mode"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

// NetworkEvent describes one intercepted HTTP request.
type NetworkEvent struct {
	Method        string `json:"method"`
	URL           string `json:"url"`
	Host          string `json:"host"`
	StatusCode    int    `json:"status_code"`
	RequestBytes  int64  `json:"request_bytes"`
	ResponseBytes int64  `json:"response_bytes"`
	DurationMS    int64  `json:"duration_ms"`
	Blocked       bool   `json:"blocked"`
	BlockReason   string `json:"block_reason,omitempty"`
}

// OnEvent registers fn for every event; it returns a function that unregisters it.
// Callbacks run in order on one goroutine of the client (not the engine reader), so they
// may call the client.
func (c *Client) OnEvent(fn func(Event)) (unregister func()) {
	return c.events.subscribe(fn)
}

// eventDispatcher decouples event callbacks from the engine reader with an unbounded queue,
// so a slow callback never stalls replies.
type eventDispatcher struct {
	client *Client

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []json.RawMessage
	stopped  bool
	nextSub  int
	handlers map[int]func(Event)
}

func newEventDispatcher(c *Client) *eventDispatcher {
	d := &eventDispatcher{client: c, handlers: map[int]func(Event){}}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

func (d *eventDispatcher) subscribe(fn func(Event)) func() {
	d.mu.Lock()
	d.nextSub++
	id := d.nextSub
	d.handlers[id] = fn
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.handlers, id)
		d.mu.Unlock()
	}
}

func (d *eventDispatcher) push(params json.RawMessage) {
	d.mu.Lock()
	if !d.stopped {
		d.queue = append(d.queue, append(json.RawMessage(nil), params...))
		d.cond.Signal()
	}
	d.mu.Unlock()
}

// stop ends the dispatcher once the queued events were delivered. It does not wait for
// that: a callback that blocks must not keep Close from returning.
func (d *eventDispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	d.cond.Signal()
	d.mu.Unlock()
}

func (d *eventDispatcher) run() {
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.stopped {
			d.cond.Wait()
		}
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		raw := d.queue[0]
		d.queue = d.queue[1:]
		handlers := make([]func(Event), 0, len(d.handlers))
		for i := 1; i <= d.nextSub; i++ {
			if h, ok := d.handlers[i]; ok {
				handlers = append(handlers, h)
			}
		}
		d.mu.Unlock()
		d.deliver(raw, handlers)
	}
}

func (d *eventDispatcher) deliver(raw json.RawMessage, handlers []func(Event)) {
	var wire struct {
		Type      string        `json:"type"`
		Timestamp int64         `json:"timestamp"`
		File      *FileEvent    `json:"file"`
		Network   *NetworkEvent `json:"network"`
	}
	if json.Unmarshal(raw, &wire) != nil {
		return
	}
	ev := Event{Type: wire.Type, Timestamp: wire.Timestamp, File: wire.File, Network: wire.Network, Raw: raw}
	if ev.File != nil && d.client != nil {
		f := ev.File
		d.client.runAfterHooks(VFSHookEvent{Op: f.Op, Path: f.Path, Size: f.Size, Mode: f.Mode, UID: f.UID, GID: f.GID})
	}
	for _, h := range handlers {
		h(ev)
	}
}
