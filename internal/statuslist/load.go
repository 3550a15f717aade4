package statuslist

import (
	"context"
	"fmt"

	"healthcode/internal/code"
	"healthcode/internal/fetch"
)

// LoadTimeout bounds fetching a list over HTTP.
const LoadTimeout = fetch.Timeout

// Load reads a signed status list from src, a file path or an http(s) URL, and
// parses it.
func Load(ctx context.Context, src string, keys code.KeyResolver) (*List, error) {
	data, err := fetch.Read(ctx, src, MediaType, MaxSignedSize)
	if err != nil {
		return nil, fmt.Errorf("load status list %s: %w", src, err)
	}
	l, err := Parse(data, keys)
	if err != nil {
		return nil, fmt.Errorf("load status list %s: %w", src, err)
	}
	return l, nil
}
