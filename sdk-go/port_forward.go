package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// PortForward forwards host ports to the sandbox; specs are "[LOCAL:]REMOTE" ("8080",
// "18081:81"), bound on 127.0.0.1. It replaces the previous set of forwards.
func (c *Client) PortForward(ctx context.Context, specs ...string) ([]PortForwardBinding, error) {
	return c.PortForwardWithAddresses(ctx, nil, specs...)
}

// PortForwardWithAddresses is PortForward bound on each of addresses.
func (c *Client) PortForwardWithAddresses(ctx context.Context, addresses []string, specs ...string) ([]PortForwardBinding, error) {
	forwards, err := ParsePortForwards(specs)
	if err != nil {
		return nil, err
	}
	return c.portForward(ctx, addresses, forwards)
}

// ParsePortForwards parses "[LOCAL:]REMOTE" specs.
func ParsePortForwards(specs []string) ([]PortForward, error) {
	if len(specs) == 0 {
		return nil, invalid("PortForward", "at least one [LOCAL:]REMOTE spec is required")
	}
	forwards := make([]PortForward, 0, len(specs))
	for _, spec := range specs {
		parts := strings.Split(strings.TrimSpace(spec), ":")
		if len(parts) > 2 {
			return nil, invalid("PortForward", "spec %q is not [LOCAL:]REMOTE", spec)
		}
		ports := make([]int, len(parts))
		for i, part := range parts {
			port, err := strconv.Atoi(part)
			if err != nil || !validPort(port) {
				return nil, invalid("PortForward", "spec %q: port %q must be 1-65535", spec, part)
			}
			ports[i] = port
		}
		pf := PortForward{LocalPort: ports[0], RemotePort: ports[0]}
		if len(ports) == 2 {
			pf.RemotePort = ports[1]
		}
		forwards = append(forwards, pf)
	}
	return forwards, nil
}

func (c *Client) portForward(ctx context.Context, addresses []string, forwards []PortForward) ([]PortForwardBinding, error) {
	if len(addresses) == 0 {
		addresses = []string{"127.0.0.1"}
	}
	raw, err := c.eng.call(ctx, "port_forward", map[string]interface{}{"forwards": forwards, "addresses": addresses}, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Bindings []PortForwardBinding `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("port_forward: unexpected result: %w", err)
	}
	return res.Bindings, nil
}
