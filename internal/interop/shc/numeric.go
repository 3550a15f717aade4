package shc

import (
	"fmt"
	"strconv"
	"strings"
)

// QR text limits from the spec: a JWS of up to MaxSingleQR characters goes
// in one QR code (version 22 at error correction L); a longer one is split
// into chunks of at most MaxChunk characters.
const (
	MaxSingleQR = 1195
	MaxChunk    = 1191
)

// maxChunks bounds the chunk count a reader accepts; the spec's examples
// use 3, and a chunked card of more than a few codes is not scannable.
const maxChunks = 99

const qrScheme = "shc:/"

// EncodeQR returns the text of the QR codes that carry jws: one "shc:/"
// numeric text when it fits, else balanced chunks "shc:/C/N/..." in order.
func EncodeQR(jws string) []string {
	if len(jws) <= MaxSingleQR {
		return []string{qrScheme + numeric(jws)}
	}
	n := (len(jws) + MaxChunk - 1) / MaxChunk
	size := (len(jws) + n - 1) / n
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		part := jws[i*size : min((i+1)*size, len(jws))]
		out = append(out, fmt.Sprintf("%s%d/%d/%s", qrScheme, i+1, n, numeric(part)))
	}
	return out
}

func numeric(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		v := s[i] - '-'
		b.WriteByte('0' + v/10)
		b.WriteByte('0' + v%10)
	}
	return b.String()
}

// DecodeQR reassembles a JWS from the text of its QR code, or of all the
// chunks of a chunked one, given in any order.
func DecodeQR(texts ...string) (string, error) {
	if len(texts) == 0 {
		return "", fmt.Errorf("no shc:/ text")
	}
	var total int
	parts := map[int]string{}
	for _, t := range texts {
		t = strings.TrimSpace(t)
		if len(t) < len(qrScheme) || !strings.EqualFold(t[:len(qrScheme)], qrScheme) {
			return "", fmt.Errorf("%.20q does not start with shc:/", t)
		}
		c, n, digits, err := splitChunk(t[len(qrScheme):])
		if err != nil {
			return "", err
		}
		if n == 0 && len(texts) > 1 {
			return "", fmt.Errorf("%d QR texts given but one is a whole card, not a chunk shc:/C/N/", len(texts))
		}
		if total != 0 && n != total {
			return "", fmt.Errorf("chunks disagree on their count: %d and %d", total, n)
		}
		total = n
		s, err := decodeDigits(digits)
		if err != nil {
			if n > 0 {
				return "", fmt.Errorf("chunk %d of %d: %w", c, n, err)
			}
			return "", err
		}
		if n == 0 {
			return s, nil
		}
		if _, dup := parts[c]; dup {
			return "", fmt.Errorf("chunk %d of %d given twice", c, n)
		}
		parts[c] = s
	}
	var b strings.Builder
	for c := 1; c <= total; c++ {
		p, ok := parts[c]
		if !ok {
			return "", fmt.Errorf("missing chunk %d of %d", c, total)
		}
		b.WriteString(p)
	}
	return b.String(), nil
}

// splitChunk reads the optional "C/N/" of a chunk; n is 0 for a whole card.
func splitChunk(s string) (c, n int, digits string, err error) {
	if !strings.Contains(s, "/") {
		return 0, 0, s, nil
	}
	cs, rest, _ := strings.Cut(s, "/")
	ns, digits, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, "", fmt.Errorf("chunk header %.12q is not C/N/", s)
	}
	c, errC := strconv.Atoi(cs)
	n, errN := strconv.Atoi(ns)
	if errC != nil || errN != nil || c < 1 || n < 1 || n > maxChunks || c > n {
		return 0, 0, "", fmt.Errorf("chunk header %q/%q/ is not C/N/ with 1 <= C <= N <= %d", cs, ns, maxChunks)
	}
	return c, n, digits, nil
}

// decodeDigits turns pairs of digits back into JWS characters.
func decodeDigits(d string) (string, error) {
	if d == "" {
		return "", fmt.Errorf("no digits after shc:/")
	}
	if len(d)%2 != 0 {
		return "", fmt.Errorf("odd number of digits (%d): each JWS character takes two", len(d))
	}
	out := make([]byte, len(d)/2)
	for i := 0; i < len(d); i += 2 {
		hi, lo := d[i]-'0', d[i+1]-'0'
		if hi > 9 || lo > 9 {
			return "", fmt.Errorf("not a digit at offset %d", i+int(boolInt(hi <= 9)))
		}
		c := '-' + hi*10 + lo
		if !jwsChar(c) {
			return "", fmt.Errorf("digits %q at offset %d make %q, not a JWS character", d[i:i+2], i, rune(c))
		}
		out[i/2] = c
	}
	return string(out), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jwsChar reports whether c may appear in a compact JWS: the base64url
// alphabet and the dot.
func jwsChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
