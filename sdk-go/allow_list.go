package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// AllowListAdd adds host patterns to a running intercepting sandbox's allow-list. Each
// argument may hold several comma-separated hosts.
func (c *Client) AllowListAdd(ctx context.Context, hosts ...string) (*AllowListUpdate, error) {
	return c.allowList(ctx, "allow_list_add", "AllowListAdd", hosts)
}

// AllowListDelete removes host patterns from the allow-list.
func (c *Client) AllowListDelete(ctx context.Context, hosts ...string) (*AllowListUpdate, error) {
	return c.allowList(ctx, "allow_list_delete", "AllowListDelete", hosts)
}

func (c *Client) allowList(ctx context.Context, method, verb string, hosts []string) (*AllowListUpdate, error) {
	var normalized []string
	seen := map[string]bool{}
	for _, arg := range hosts {
		for _, h := range strings.Split(arg, ",") {
			if h = strings.TrimSpace(h); h != "" && !seen[h] {
				seen[h] = true
				normalized = append(normalized, h)
			}
		}
	}
	if len(normalized) == 0 {
		return nil, invalid(verb, "allow-list hosts are required")
	}
	raw, err := c.eng.call(ctx, method, map[string]interface{}{"hosts": normalized}, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Added        []string `json:"added"`
		Removed      []string `json:"removed"`
		AllowedHosts []string `json:"allowed_hosts"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s: unexpected result: %w", method, err)
	}
	return &AllowListUpdate{Added: res.Added, Removed: res.Removed, AllowedHosts: res.AllowedHosts}, nil
}
