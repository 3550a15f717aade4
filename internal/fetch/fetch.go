// Package fetch reads a signed document (a trust list, a status list) from a
// file or an http(s) URL, with a size limit and a timeout, and never follows
// a redirect from https to http.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Timeout bounds fetching over HTTP.
const Timeout = 30 * time.Second

// Read returns the document at src, a file path or an http(s) URL, asking
// for mediaType and refusing more than limit bytes.
func Read(ctx context.Context, src, mediaType string, limit int) ([]byte, error) {
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		return get(ctx, src, mediaType, limit)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, limit)
}

// ReadIfChanged is Read for a document fetched before with the entity tag
// etag ("" the first time): it reports changed false, and no data, when the
// document is the same, and returns the new tag otherwise. Over HTTP it asks
// with If-None-Match; a file's tag is the SHA-256 of its contents.
func ReadIfChanged(ctx context.Context, src, mediaType string, limit int, etag string) (data []byte, newTag string, changed bool, err error) {
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		resp, err := do(ctx, src, mediaType, etag)
		if err != nil {
			return nil, "", false, err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNotModified:
			return nil, etag, false, nil
		case http.StatusOK:
		default:
			return nil, "", false, fmt.Errorf("GET %s: %s", src, resp.Status)
		}
		data, err := readLimited(resp.Body, limit)
		if err != nil {
			return nil, "", false, err
		}
		tag := resp.Header.Get("ETag")
		if tag == "" {
			tag = contentTag(data)
		}
		return data, tag, tag != etag, nil
	}
	data, err = Read(ctx, src, mediaType, limit)
	if err != nil {
		return nil, "", false, err
	}
	tag := contentTag(data)
	if tag == etag {
		return nil, etag, false, nil
	}
	return data, tag, true, nil
}

func contentTag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

func get(ctx context.Context, url, mediaType string, limit int) ([]byte, error) {
	resp, err := do(ctx, url, mediaType, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return readLimited(resp.Body, limit)
}

func do(ctx context.Context, url, mediaType, etag string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", mediaType)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	client := &http.Client{
		Timeout: Timeout,
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
	return client.Do(req)
}

func readLimited(r io.Reader, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("larger than the limit of %d bytes", limit)
	}
	return data, nil
}
