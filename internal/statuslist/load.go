package statuslist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"healthcode/internal/code"
)

// LoadTimeout bounds fetching a list over HTTP.
const LoadTimeout = 30 * time.Second

// Load reads a signed status list from src, a file path or an http(s) URL,
// and parses it with the trusted keys.
func Load(ctx context.Context, src string, keys code.KeyResolver) (*List, error) {
	var data []byte
	var err error
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		data, err = fetch(ctx, src)
	} else {
		data, err = readFile(src)
	}
	if err != nil {
		return nil, fmt.Errorf("load status list %s: %w", src, err)
	}
	l, err := Parse(data, keys)
	if err != nil {
		return nil, fmt.Errorf("load status list %s: %w", src, err)
	}
	return l, nil
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", MediaType)
	client := &http.Client{
		Timeout: LoadTimeout,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if via[0].URL.Scheme == "https" && r.URL.Scheme != "https" {
				return fmt.Errorf("refusing a redirect from https to %s", r.URL.Scheme)
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return readLimited(resp.Body)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSignedSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSignedSize {
		return nil, fmt.Errorf("larger than the limit of %d bytes", MaxSignedSize)
	}
	return data, nil
}
