package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// Log returns the sandbox's log (console and engine output) so far.
func (c *Client) Log(ctx context.Context) (string, error) {
	raw, err := c.eng.call(ctx, "log", nil, nil)
	if err != nil {
		return "", err
	}
	var res struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return "", fmt.Errorf("log: unexpected result: %w", err)
	}
	data, err := base64.StdEncoding.DecodeString(res.Content)
	return string(data), err
}

// LogStream writes the log to w, then follows it until ctx is done (it then returns an
// error wrapping ctx.Err()) or the engine ends the stream (nil).
func (c *Client) LogStream(ctx context.Context, w io.Writer) error {
	_, err := c.eng.call(ctx, "log_stream", nil, func(method string, params json.RawMessage) {
		if method != "log_stream.data" || w == nil {
			return
		}
		var chunk struct {
			Data string `json:"data"`
		}
		if json.Unmarshal(params, &chunk) != nil {
			return
		}
		if data, err := base64.StdEncoding.DecodeString(chunk.Data); err == nil {
			_, _ = w.Write(data)
		}
	})
	return err
}
