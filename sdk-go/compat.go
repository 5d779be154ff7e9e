package sdk

import "context"

// The original SDK's lifecycle and volume calls take no context; these keep its signatures so
// code written for it compiles unchanged. Each runs the ...Context variant with
// context.Background(): use that variant to bound or cancel the call.

// Create validates opts, boots the sandbox and returns its id (see CreateContext).
func (c *Client) Create(opts CreateOptions) (string, error) {
	return c.CreateContext(context.Background(), opts)
}

// Launch is Create with the image's ENTRYPOINT/CMD started detached (see LaunchContext).
func (c *Client) Launch(b *SandboxBuilder) (string, error) {
	return c.LaunchContext(context.Background(), b)
}

// Remove deletes the state of this client's stopped sandbox (see RemoveContext).
func (c *Client) Remove() error {
	return c.RemoveContext(context.Background())
}

// VolumeCreate creates a named volume of sizeMB (see VolumeCreateContext).
func (c *Client) VolumeCreate(name string, sizeMB int) (*VolumeInfo, error) {
	return c.VolumeCreateContext(context.Background(), name, sizeMB)
}

// VolumeList lists named volumes (see VolumeListContext).
func (c *Client) VolumeList() ([]VolumeInfo, error) {
	return c.VolumeListContext(context.Background())
}

// VolumeRemove deletes a named volume (see VolumeRemoveContext).
func (c *Client) VolumeRemove(name string) error {
	return c.VolumeRemoveContext(context.Background(), name)
}
