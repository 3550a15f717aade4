package dcc

// DisableFastPath makes v read every payload with the general path, so
// that tests can compare the fast path with it.
func DisableFastPath(v *Verifier) { v.noFastPath = true }

// ECDSASigDER exposes ecdsaSigDER to the tests.
var ECDSASigDER = ecdsaSigDER

// ParsesFast reports whether the fast path reads payload (an "HC1:" text
// whose base45 and zlib layers are sound).
func ParsesFast(v *Verifier, payload string) bool {
	s := &scratch{}
	raw, err := decodeBase45(nil, payload[len(Prefix):])
	if err != nil {
		return false
	}
	data, err := s.inflate(raw)
	if err != nil {
		return false
	}
	return v.parseFast(data, &s.sig) != nil
}

// CheckIndex exposes checkIndex to the tests.
var CheckIndex = checkIndex
