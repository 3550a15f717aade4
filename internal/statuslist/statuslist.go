// Package statuslist makes and reads the signed status list, which gives
// checkpoints the colour of paper codes offline.
//
// Paper codes live long and carry no colour, only an index. A region
// publishes at WellKnownPath a list with two bits per index, in the spirit
// of the W3C Bitstring Status List:
//
//	0 green, 1 yellow, 2 red, 3 revoked (replaced by a newer code, or unknown to the issuer)
//
// Entry i is bits 7-6 of byte i/4 for i%4 == 0, bits 5-4 for 1, and so on
// (most significant first); bits past the last entry are zero. The bytes
// are zlib-compressed (RFC 1950) and base64url-encoded (no padding) into
// the JSON
//
//	{"issuer": "330100", "issued_at": "2026-11-23T08:00:00Z",
//	 "max_age_seconds": 900, "size": 10000, "bits": "eNrt..."}
//
// which is signed as a compact JWS (RFC 7515) with EdDSA (Ed25519) by one
// of the issuer's code-signing keys: "kid" is the lower-case hex of
// code.KeyID, "typ" is Type. Parse accepts a list only if a trusted key of
// the list's own issuer signed it, and only if the key was valid when the
// list was issued.
//
// A checkpoint refreshes its list every few minutes. Lookup refuses a list
// older than its max_age_seconds (ErrStale), and Seen turns that, and any
// other doubt, into "colour unknown: check online", never into green.
package statuslist

import (
	"bytes"
	"compress/zlib"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/jws"
)

// WellKnownPath is where a region publishes its status list.
const WellKnownPath = "/.well-known/healthcode/status-list"

// MediaType is the content type of a published (signed) status list.
const MediaType = "application/jose"

// Type is the JWS "typ" header of a status list; Parse refuses other JWS,
// such as a trust list signed with the same key.
const Type = "healthcode-status-list+jws"

// Limits.
const (
	MaxEntries        = 1 << 26             // entries in one list (64 Mi)
	MaxBitsSize       = MaxEntries / 4      // bytes of the decompressed bits (16 MiB)
	MaxCompressedSize = 1 << 20             // bytes of the compressed bits (1 MiB)
	MaxSignedSize     = 2 << 20             // bytes of a signed list: MaxCompressedSize after two base64 encodings, with room to spare
	MaxMaxAge         = 31 * 24 * time.Hour // the longest max_age_seconds Parse accepts
)

// State is the state of one paper code in a list. The zero State is
// Unknown, which Lookup returns with every error: it is never green.
type State uint8

// States. On the wire a state is its value minus one.
const (
	Unknown State = iota
	Green
	Yellow
	Red
	Revoked // replaced by a newer paper code: never admit
)

func (s State) String() string {
	switch s {
	case Green, Yellow, Red:
		return string(s.Color())
	case Revoked:
		return "revoked"
	}
	return "unknown"
}

// Color returns the colour of a Green, Yellow or Red state, and "" for
// Unknown and Revoked.
func (s State) Color() healthcode.Color {
	switch s {
	case Green:
		return healthcode.Green
	case Yellow:
		return healthcode.Yellow
	case Red:
		return healthcode.Red
	}
	return ""
}

// Errors of Lookup, to test with errors.Is. The messages say more.
var (
	ErrStale      = errors.New("status list is out of date: check online")
	ErrOutOfRange = errors.New("status index is beyond the status list: check online")
)

// lookupError is a Lookup error with a precise message that matches one of
// the sentinel errors.
type lookupError struct {
	kind error
	msg  string
}

func (e *lookupError) Error() string        { return e.msg }
func (e *lookupError) Is(target error) bool { return target == e.kind }

// List is a region's status list.
type List struct {
	Issuer   string        // the region's 6-digit code
	IssuedAt time.Time     // when the list was made
	MaxAge   time.Duration // how long after IssuedAt checkpoints may use it
	Size     int           // the number of entries: indices 0 to Size-1

	bits []byte // 2 bits per entry, most significant first
	err  error  // why Build could not make the list
}

// Build makes the list of entries. Size is one more than the highest
// index; an index with no entry is marked revoked, because the list
// vouches only for the codes it is given. If an index has several entries,
// the most severe state wins (revoked, red, yellow, green). Build does not
// fail: a negative index, one of MaxEntries or more, or an entry that is
// neither revoked nor green, yellow or red makes Sign and Lookup return an
// error.
func Build(issuer string, issuedAt time.Time, maxAge time.Duration, entries []healthcode.StatusListEntry) *List {
	l := &List{Issuer: issuer, IssuedAt: issuedAt, MaxAge: maxAge}
	for _, e := range entries {
		if e.Index < 0 || e.Index >= MaxEntries {
			l.err = healthcode.Errorf(healthcode.EINVALID, "status list: entry index %d is not between 0 and %d", e.Index, MaxEntries-1)
			return l
		}
		l.Size = max(l.Size, e.Index+1)
	}
	l.bits = make([]byte, bitsLen(l.Size))
	listed := make([]uint64, (l.Size+63)/64)
	for _, e := range entries {
		s := Revoked
		if !e.Revoked {
			if s = stateOf(e.Color); s == Unknown {
				l.err = healthcode.Errorf(healthcode.EINVALID, "status list: entry %d has colour %q, not green, yellow or red", e.Index, e.Color)
				l.Size, l.bits = 0, nil
				return l
			}
		}
		listed[e.Index/64] |= 1 << (e.Index % 64)
		l.set(e.Index, max(l.state(e.Index), s))
	}
	for i := 0; i < l.Size; i++ {
		if listed[i/64]&(1<<(i%64)) == 0 {
			l.set(i, Revoked)
		}
	}
	return l
}

func stateOf(c healthcode.Color) State {
	switch c {
	case healthcode.Green:
		return Green
	case healthcode.Yellow:
		return Yellow
	case healthcode.Red:
		return Red
	}
	return Unknown
}

// bitsLen is the number of bytes that hold size entries.
func bitsLen(size int) int { return (size + 3) / 4 }

func (l *List) state(i int) State {
	return State(l.bits[i/4]>>(6-2*(i%4))&3) + 1
}

func (l *List) set(i int, s State) {
	shift := 6 - 2*(i%4)
	l.bits[i/4] = l.bits[i/4]&^(3<<shift) | byte(s-1)<<shift
}

// Lookup returns the state of the paper code with status index index, at
// the moment now. It returns Unknown and an error matching ErrStale if the
// list is more than MaxAge old at now (at exactly MaxAge it is still
// fresh) or issued more than code.ClockSkew after now, and Unknown and an
// error matching ErrOutOfRange for an index outside 0 to Size-1, such as
// that of a code issued after the list.
func (l *List) Lookup(index int, now time.Time) (State, error) {
	if l.err != nil {
		return Unknown, l.err
	}
	if age := now.Sub(l.IssuedAt); age > l.MaxAge {
		return Unknown, &lookupError{ErrStale, fmt.Sprintf("status list is %s old, older than its limit of %s: check online", span(age, true), span(l.MaxAge, false))}
	}
	if l.IssuedAt.After(now.Add(code.ClockSkew)) {
		return Unknown, &lookupError{ErrStale, fmt.Sprintf("status list is issued at %s, in the future (is the clock right?): check online", l.IssuedAt.UTC().Format(time.RFC3339))}
	}
	if index < 0 || index >= l.Size {
		return Unknown, &lookupError{ErrOutOfRange, fmt.Sprintf("status index %d is beyond the status list, which has %d entries (is the code newer than the list?): check online", index, l.Size)}
	}
	return l.state(index), nil
}

// span writes d in days, hours, minutes and seconds, such as "16 minutes"
// or "1 hour 5 seconds". With up it rounds up to a whole second, so that a
// list just past its limit does not read as exactly at it.
func span(d time.Duration, up bool) string {
	if d >= 100*365*24*time.Hour {
		return "more than 100 years"
	}
	if up && d%time.Second != 0 {
		d = d.Truncate(time.Second) + time.Second
	}
	d = d.Truncate(time.Second)
	if d <= 0 {
		return "0 seconds"
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		n := d / u.d
		d -= n * u.d
		switch {
		case n == 1:
			parts = append(parts, "1 "+u.name)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, u.name))
		}
	}
	return strings.Join(parts, " ")
}

// wireList is the signed JSON. Pointers tell a missing member from a zero.
type wireList struct {
	Issuer        *string    `json:"issuer"`
	IssuedAt      *time.Time `json:"issued_at"`
	MaxAgeSeconds *int64     `json:"max_age_seconds"`
	Size          *int64     `json:"size"`
	Bits          *string    `json:"bits"`
}

var bitsEncoding = base64.RawURLEncoding.Strict()

// validate checks the fields of l as Sign writes them.
func (l *List) validate() error {
	var p healthcode.Problems
	if !healthcode.ValidRegionCode(l.Issuer) {
		p.Add("issuer", "must be a 6-digit region code such as 330106")
	}
	if l.IssuedAt.IsZero() {
		p.Add("issued_at", "is required")
	}
	if l.MaxAge < time.Second || l.MaxAge > MaxMaxAge {
		p.Add("max_age_seconds", "must be between 1 and %d", int64(MaxMaxAge/time.Second))
	}
	if l.Size < 0 || l.Size > MaxEntries {
		p.Add("size", "must be between 0 and %d", MaxEntries)
	} else if len(l.bits) != bitsLen(l.Size) {
		p.Add("bits", "do not match the size (make lists with Build)")
	}
	return p.Err("invalid status list")
}

// Sign returns l as a compact JWS signed with priv, which should be one of
// the issuer's code-signing keys in its trust list. MaxAge is written in
// whole seconds, rounded down.
func (l *List) Sign(priv ed25519.PrivateKey) ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign status list: the private key is %d bytes, not %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	comp, err := compress(l.bits)
	if err != nil {
		return nil, fmt.Errorf("sign status list: %w", err)
	}
	if len(comp) > MaxCompressedSize {
		return nil, healthcode.Errorf(healthcode.EINVALID, "sign status list: the bits compress to %d bytes; the limit is %d", len(comp), MaxCompressedSize)
	}
	issuedAt := l.IssuedAt.UTC()
	maxAge := int64(l.MaxAge / time.Second)
	size := int64(l.Size)
	bits := bitsEncoding.EncodeToString(comp)
	payload, err := json.Marshal(wireList{Issuer: &l.Issuer, IssuedAt: &issuedAt, MaxAgeSeconds: &maxAge, Size: &size, Bits: &bits})
	if err != nil {
		return nil, fmt.Errorf("sign status list: %w", err)
	}
	kid := hex.EncodeToString(code.KeyID(priv.Public().(ed25519.PublicKey)))
	signed, err := jws.Sign(payload, priv, Type, kid)
	if err != nil {
		return nil, fmt.Errorf("sign status list: %w", err)
	}
	return signed, nil
}

// compress returns the zlib compression of bits, the smaller of two
// tries. Lists are mostly green at random places, for which Huffman
// coding alone is best: for a million holders with 6.5% not green it gives
// 59 kB in about 1 ms, where the default level gives 68 kB in 27 ms and
// the best level 66 kB in 260 ms. Long runs (a new region, all green) need
// the default level's string matching: Huffman coding alone takes at
// least one bit a byte.
func compress(bits []byte) ([]byte, error) {
	var best []byte
	for _, level := range []int{zlib.HuffmanOnly, zlib.DefaultCompression} {
		var buf bytes.Buffer
		zw, err := zlib.NewWriterLevel(&buf, level)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(bits); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		if best == nil || buf.Len() < len(best) {
			best = buf.Bytes()
		}
	}
	return best, nil
}

func invalid(format string, args ...any) error {
	return healthcode.Errorf(healthcode.EINVALID, "status list: "+format, args...)
}

// maxKIDLen is the longest key id, in bytes, that Parse looks up.
const maxKIDLen = 16

// Parse checks a signed status list and returns it. The list must be a
// compact JWS with "typ" Type, signed with EdDSA by a key that keys (a
// trust list or set of them) resolves from the JWS "kid", whose region is
// the list's issuer and which was valid at the list's issue time. A nil
// keys trusts no key. Parse does not look at the clock: Lookup refuses a
// stale list. Every failure is an EINVALID *healthcode.Error that says
// what is wrong.
func Parse(data []byte, keys code.KeyResolver) (*List, error) {
	sig, hdr, err := jws.Open(data, MaxSignedSize, Type, invalid)
	if err != nil {
		return nil, err
	}
	kid, err := hex.DecodeString(hdr.KeyID)
	if err != nil || len(kid) == 0 || len(kid) > maxKIDLen || hex.EncodeToString(kid) != hdr.KeyID {
		return nil, invalid("the JWS key id (kid) %q is not 1 to %d bytes in lower-case hex", truncate(hdr.KeyID, 40), maxKIDLen)
	}
	var candidates, revoked []code.Key
	if keys != nil {
		candidates = keys.LookupKey(kid)
		if r, ok := keys.(code.RevokedKeyResolver); ok {
			revoked = r.LookupRevokedKey(kid)
		}
	}
	signer, payload := verifiedBy(sig, candidates)
	if signer == nil {
		if k, _ := verifiedBy(sig, revoked); k != nil {
			when := "has revoked it"
			if !k.RevokedAt.IsZero() {
				when = "revoked it on " + k.RevokedAt.UTC().Format(time.RFC3339)
			}
			return nil, invalid("signed by key %s of region %s, and the region %s", hdr.KeyID, k.Region, when)
		}
		if len(candidates) == 0 {
			return nil, invalid("signed by key %s, which no trusted region has", hdr.KeyID)
		}
		return nil, invalid("the signature does not verify with trusted key %s: the list was altered or not signed by that key", hdr.KeyID)
	}

	l, err := decode(payload)
	if err != nil {
		return nil, err
	}
	if signer.Region != l.Issuer {
		return nil, invalid("signed by key %s of region %s, not of the list's issuer %s", hdr.KeyID, signer.Region, l.Issuer)
	}
	if !signer.ValidAt(l.IssuedAt) {
		return nil, invalid("issued at %s with key %s, which is not valid then (%s)", l.IssuedAt.UTC().Format(time.RFC3339), hdr.KeyID, validity(signer))
	}
	return l, nil
}

// verifiedBy returns the first of keys that verifies jws, and the payload.
func verifiedBy(jws *jose.JSONWebSignature, keys []code.Key) (*code.Key, []byte) {
	for i := range keys {
		if len(keys[i].Public) != ed25519.PublicKeySize {
			continue
		}
		if p, err := jws.Verify(keys[i].Public); err == nil {
			return &keys[i], p
		}
	}
	return nil, nil
}

func validity(k *code.Key) string {
	s := "from " + k.NotBefore.UTC().Format(time.RFC3339)
	if !k.NotAfter.IsZero() {
		s += " until " + k.NotAfter.UTC().Format(time.RFC3339)
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// decode parses the signed JSON and inflates its bits.
func decode(payload []byte) (*List, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var w wireList
	if err := dec.Decode(&w); err != nil {
		return nil, invalid("the signed content is not a status list: %v", err)
	}
	if len(bytes.TrimSpace(payload[dec.InputOffset():])) != 0 {
		return nil, invalid("the signed content has data after the status list")
	}
	var p healthcode.Problems
	for _, m := range []struct {
		present bool
		name    string
	}{{w.Issuer != nil, "issuer"}, {w.IssuedAt != nil, "issued_at"}, {w.MaxAgeSeconds != nil, "max_age_seconds"}, {w.Size != nil, "size"}, {w.Bits != nil, "bits"}} {
		if !m.present {
			p.Add(m.name, "is missing")
		}
	}
	if err := p.Err("invalid status list"); err != nil {
		return nil, err
	}
	if *w.MaxAgeSeconds < 1 || *w.MaxAgeSeconds > int64(MaxMaxAge/time.Second) {
		p.Add("max_age_seconds", "is %d; it must be between 1 and %d", *w.MaxAgeSeconds, int64(MaxMaxAge/time.Second))
	}
	if *w.Size < 0 || *w.Size > MaxEntries {
		p.Add("size", "is %d; it must be between 0 and %d", *w.Size, MaxEntries)
	}
	l := &List{Issuer: *w.Issuer, IssuedAt: *w.IssuedAt}
	if !healthcode.ValidRegionCode(l.Issuer) {
		p.Add("issuer", "must be a 6-digit region code such as 330106")
	}
	if l.IssuedAt.IsZero() {
		p.Add("issued_at", "is required")
	}
	if err := p.Err("invalid status list"); err != nil {
		return nil, err
	}
	l.MaxAge = time.Duration(*w.MaxAgeSeconds) * time.Second
	l.Size = int(*w.Size)
	bits, err := inflate(*w.Bits, l.Size)
	if err != nil {
		return nil, err
	}
	l.bits = bits
	return l, nil
}

// maxDeflateRatio is the most that DEFLATE (RFC 1951) expands data: a
// 258-byte match in two bits.
const maxDeflateRatio = 1032

// readBits reads want bytes from r, or fewer if r ends or fails first, and
// returns them with r's error (nil if all want bytes came). Its buffer
// starts at most bound bytes, as much as the compressed data can hold, and
// grows only as data comes.
func readBits(r io.Reader, want, bound int) ([]byte, error) {
	bits := make([]byte, 0, min(want, bound))
	for len(bits) < want {
		if len(bits) == cap(bits) {
			bits = slices.Grow(bits, min(max(len(bits), 4096), want-len(bits)))
		}
		n, err := r.Read(bits[len(bits):min(cap(bits), want)])
		bits = bits[:len(bits)+n]
		if err != nil {
			if len(bits) == want && errors.Is(err, io.EOF) {
				return bits, io.EOF
			}
			return bits, err
		}
	}
	return bits, nil
}

// inflate decodes and decompresses the bits of size entries. It never
// decompresses more than the bits that size needs, and checks that the
// data holds exactly those bits and nothing after them. Its memory follows
// what the data decompresses to, not what size claims: a few compressed
// bytes that claim the largest size cost kilobytes, not MaxBitsSize.
func inflate(s string, size int) ([]byte, error) {
	if len(s) > bitsEncoding.EncodedLen(MaxCompressedSize) {
		return nil, invalid("bits: the compressed bits are more than %d bytes", MaxCompressedSize)
	}
	comp, err := bitsEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid("bits: not base64url without padding: %v", err)
	}
	r := bytes.NewReader(comp)
	zr, err := zlib.NewReader(r)
	if err != nil {
		return nil, invalid("bits: not zlib data: %v", err)
	}
	want := bitsLen(size)
	bits, err := readBits(zr, want, maxDeflateRatio*len(comp))
	switch {
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, invalid("bits: bad zlib data: %v", err)
	case len(bits) < want:
		return nil, invalid("bits: they decompress to %d bytes; size %d needs %d", len(bits), size, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, invalid("bits: bad zlib data: %v", err)
	case err == nil:
		// The stream must end here, with a correct checksum; a stream that
		// goes on is refused after one more byte, however much it holds.
		var one [1]byte
		switch _, err := io.ReadFull(zr, one[:]); {
		case err == nil:
			return nil, invalid("bits: they decompress to more than the %d bytes that size %d needs", want, size)
		case !errors.Is(err, io.EOF):
			return nil, invalid("bits: bad zlib data: %v", err)
		}
	}
	if r.Len() != 0 {
		return nil, invalid("bits: %d bytes after the end of the zlib data", r.Len())
	}
	if pad := size % 4; pad != 0 && bits[want-1]&(0xff>>(2*pad)) != 0 {
		return nil, invalid("bits: the bits after the last entry are not zero")
	}
	return bits, nil
}
