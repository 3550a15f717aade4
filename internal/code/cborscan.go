package code

// This file checks that data is well-formed CBOR in the form health codes
// use (definite lengths, shortest heads, no tags) and finds the parts of a
// COSE_Sign1, so that a malformation is reported with its byte offset. The
// libraries that decode afterwards do not report offsets.

// CBOR major types.
const (
	majorUint   = 0
	majorNegint = 1
	majorBytes  = 2
	majorText   = 3
	majorArray  = 4
	majorMap    = 5
	majorTag    = 6
	majorSimple = 7
)

var majorNames = [8]string{"an unsigned integer", "a negative integer", "a byte string", "a text string", "an array", "a map", "a tag", "a simple value or float"}

// maxScanDepth bounds nesting inside the unprotected header.
const maxScanDepth = 4

// cborHead reads the head of the item at off: its major type, its argument
// and the offset just after the head. what names the item for messages.
func cborHead(b []byte, off int, what string) (major byte, arg uint64, next int, err *VerifyError) {
	if off >= len(b) {
		return 0, 0, off, malformedAt(off, "malformed code: the data ends at byte %d, where %s should start (is it cut short?)", off, what)
	}
	major, ai := b[off]>>5, b[off]&0x1f
	off++
	switch {
	case ai < 24:
		return major, uint64(ai), off, nil
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(b)-off < n {
			return 0, 0, off, malformedAt(len(b), "malformed code: the data ends at byte %d, inside the head of %s (is it cut short?)", len(b), what)
		}
		for i := 0; i < n; i++ {
			arg = arg<<8 | uint64(b[off+i])
		}
		if major != majorSimple && (ai == 24 && arg < 24 || ai > 24 && arg>>(8<<(ai-25)) == 0) {
			return 0, 0, off, malformedAt(off-1, "malformed code: %s at byte %d is not in the shortest form", what, off-1)
		}
		return major, arg, off + n, nil
	case ai == 31:
		return 0, 0, off, malformedAt(off-1, "malformed code: %s at byte %d has an indefinite length", what, off-1)
	}
	return 0, 0, off, malformedAt(off-1, "malformed code: byte %d is not valid CBOR", off-1)
}

// cborString reads a byte or text string of the given major type at off and
// returns the offsets of its content.
func cborString(b []byte, off int, major byte, what string) (start, end int, err *VerifyError) {
	m, n, start, err := cborHead(b, off, what)
	if err != nil {
		return 0, 0, err
	}
	if m != major {
		return 0, 0, malformedAt(off, "malformed code: %s at byte %d is %s, not %s", what, off, majorNames[m], majorNames[major])
	}
	if n > uint64(len(b)-start) {
		return 0, 0, malformedAt(len(b), "malformed code: the data ends at byte %d, inside %s (is it cut short?)", len(b), what)
	}
	return start, start + int(n), nil
}

// cborSkip checks the item at off and returns the offset after it.
func cborSkip(b []byte, off int, what string, depth int) (int, *VerifyError) {
	start := off
	major, arg, off, err := cborHead(b, off, what)
	if err != nil {
		return 0, err
	}
	switch major {
	case majorUint, majorNegint:
		return off, nil
	case majorBytes, majorText:
		if arg > uint64(len(b)-off) {
			return 0, malformedAt(len(b), "malformed code: the data ends at byte %d, inside %s (is it cut short?)", len(b), what)
		}
		return off + int(arg), nil
	case majorArray, majorMap:
		if depth >= maxScanDepth {
			return 0, malformedAt(start, "malformed code: %s at byte %d is nested too deeply", what, start)
		}
		n := arg
		if major == majorMap && n <= uint64(len(b)) {
			n *= 2
		}
		if n > uint64(len(b)-off) { // every item takes at least one byte
			return 0, malformedAt(len(b), "malformed code: the data ends at byte %d, inside %s (is it cut short?)", len(b), what)
		}
		for i := uint64(0); i < n; i++ {
			if off, err = cborSkip(b, off, what, depth+1); err != nil {
				return 0, err
			}
		}
		return off, nil
	case majorTag:
		return 0, malformedAt(start, "malformed code: %s at byte %d contains a CBOR tag, which codes do not use", what, start)
	default: // simple values and floats
		if b[start]&0x1f == 24 && arg < 32 {
			return 0, malformedAt(start, "malformed code: byte %d is not valid CBOR", start)
		}
		return off, nil
	}
}

// sign1Parts locates the parts of an untagged COSE_Sign1: the content of the
// protected header, the payload and the signature, as offsets into b.
type sign1Parts struct {
	protStart, protEnd       int
	payloadHead              int // where the payload's head starts
	payloadStart, payloadEnd int
	sigStart, sigEnd         int
}

// scanSign1 checks that b is one well-formed untagged COSE_Sign1 and
// nothing else.
func scanSign1(b []byte) (sign1Parts, *VerifyError) {
	var p sign1Parts
	major, arg, off, err := cborHead(b, 0, "the COSE_Sign1 array")
	if err != nil {
		return p, err
	}
	switch {
	case major == majorTag && arg == 18:
		return p, malformedAt(0, "malformed code: tagged COSE_Sign1 (tag 18); health codes carry an untagged COSE_Sign1")
	case major != majorArray || arg != 4:
		return p, malformedAt(0, "malformed code: the data does not start with a COSE_Sign1 (a 4-element CBOR array)")
	}
	if p.protStart, p.protEnd, err = cborString(b, off, majorBytes, "the protected header"); err != nil {
		return p, err
	}
	if p.protStart == p.protEnd {
		return p, malformedAt(off, "malformed code: the protected header at byte %d is empty; it must hold the algorithm and key id", off)
	}
	prot := b[:p.protEnd] // offsets stay relative to b
	if m, _, _, err := cborHead(prot, p.protStart, "the protected header map"); err != nil {
		return p, err
	} else if m != majorMap {
		return p, malformedAt(p.protStart, "malformed code: the protected header at byte %d is %s, not a map", p.protStart, majorNames[m])
	}
	if end, err := cborSkip(prot, p.protStart, "the protected header map", 0); err != nil {
		return p, err
	} else if end != p.protEnd {
		return p, malformedAt(end, "malformed code: unexpected bytes at byte %d after the protected header map", end)
	}
	off = p.protEnd
	if m, n, _, err := cborHead(b, off, "the unprotected header"); err != nil {
		return p, err
	} else if m != majorMap {
		return p, malformedAt(off, "malformed code: the unprotected header at byte %d is %s, not a map", off, majorNames[m])
	} else if n != 0 {
		return p, malformedAt(off, "malformed code: the unprotected header at byte %d is not empty; codes put nothing there", off)
	}
	off++
	p.payloadHead = off
	if p.payloadStart, p.payloadEnd, err = cborString(b, off, majorBytes, "the payload"); err != nil {
		return p, err
	}
	if p.sigStart, p.sigEnd, err = cborString(b, p.payloadEnd, majorBytes, "the signature"); err != nil {
		return p, err
	}
	if n := p.sigEnd - p.sigStart; n != 64 {
		return p, malformedAt(p.payloadEnd, "malformed code: the signature at byte %d is %d bytes; an Ed25519 signature is 64", p.payloadEnd, n)
	}
	if p.sigEnd != len(b) {
		return p, malformedAt(p.sigEnd, "malformed code: %d unexpected bytes after the signature, at byte %d", len(b)-p.sigEnd, p.sigEnd)
	}
	return p, nil
}

// scanClaims checks that the payload is one well-formed CBOR map.
func scanClaims(b []byte, p sign1Parts) *VerifyError {
	payload := b[:p.payloadEnd]
	m, _, _, err := cborHead(payload, p.payloadStart, "the claims")
	if err != nil {
		return err
	}
	if m != majorMap {
		return malformedAt(p.payloadStart, "malformed code: the claims at byte %d are %s, not a map", p.payloadStart, majorNames[m])
	}
	end, err := cborSkip(payload, p.payloadStart, "the claims", 1)
	if err != nil {
		return err
	}
	if end != p.payloadEnd {
		return malformedAt(end, "malformed code: unexpected bytes at byte %d after the claims", end)
	}
	return nil
}
