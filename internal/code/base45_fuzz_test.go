package code

import (
	"bytes"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/dasio/base45"
)

// heapAllocated returns the bytes allocated on the heap so far. Small
// objects are counted a span at a time, so two readings around one call
// are exact for large allocations and off by up to allocSlack for small
// ones: the fuzz targets use it to catch a small input that makes a decoder
// allocate megabytes.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// allocSlack is the error of two heapAllocated readings.
const allocSlack = 2 << 20

// FuzzDecodeBase45 checks base45 as codes use it: the encoder
// (github.com/dasio/base45) and our strict decoder. Whatever decodes
// re-encodes to the same text (so each text has one meaning) and agrees
// with the library's decoder; a rejection is a Malformed *VerifyError whose
// offset is a character of the text (shifted by base); and any bytes, once
// encoded, decode to themselves.
//
//	go test -run '^$' -fuzz '^FuzzDecodeBase45$' ./internal/code/
func FuzzDecodeBase45(f *testing.F) {
	for _, s := range []string{
		"", "00", "000", "0000", "BB8", "%69 VD92EX0", "UJCLQE7W581", "QED8WEX0", // RFC 9285 examples
		"FGW", "GGW", ":::", "::", "ZZ", "6BFOXN*TS0BI$ZDFRH", "6BFOXN*TS0BI$ZDFRH0", "abc", "A!B", "A\x00B",
		"\xff\xfe", strings.Repeat("0", 300), base45.EncodeToString([]byte("\x84\x47\xa2\x01\x27\x04\x42\x01\x02\xa0")),
	} {
		f.Add(s, 0)
	}
	f.Add("6BFOXN", len(Prefix))
	f.Fuzz(func(t *testing.T, s string, base int) {
		if base < 0 || base > 1<<20 {
			base = len(Prefix)
		}
		before := heapAllocated()
		got, err := decodeBase45(nil, s, base)
		if alloc := heapAllocated() - before; alloc > allocSlack+4*uint64(len(s)) {
			t.Errorf("decodeBase45 of %d characters allocated %d bytes", len(s), alloc)
		}
		// The text read as bytes: encoded, then decoded (after what dst
		// holds), it is itself.
		raw := []byte(s)
		if back, err := decodeBase45([]byte{1}, base45.EncodeToString(raw), 0); err != nil || !bytes.Equal(back[1:], raw) || back[0] != 1 {
			t.Fatalf("round trip of % x: % x, %v", raw, back, err)
		}
		lib, libErr := base45.DecodeString(s)
		if err != nil {
			if err.Reason != Malformed || err.Detail == "" || err.Offset < base || err.Offset >= base+len(s) {
				t.Fatalf("decodeBase45(%q, %d): error %+v", s, base, err)
			}
			// The library is laxer (see decodeBase45), but never reads
			// what we refuse as a canonical encoding.
			if libErr == nil && base45.EncodeToString(lib) == s {
				t.Fatalf("decodeBase45(%q) refuses (%s), but it is the encoding of % x", s, err.Detail, lib)
			}
			return
		}
		if n := len(s)/3*2 + len(s)%3/2; len(got) != n {
			t.Fatalf("decodeBase45(%q) = %d bytes, want %d", s, len(got), n)
		}
		if again := base45.EncodeToString(got); again != s {
			t.Fatalf("decodeBase45(%q) = % x, which encodes as %q", s, got, again)
		}
		if libErr != nil || !bytes.Equal(lib, got) {
			t.Fatalf("decodeBase45(%q) = % x, the library decodes % x, %v", s, got, lib, libErr)
		}
	})
}
