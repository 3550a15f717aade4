package code

import "fmt"

// base45Alphabet is the RFC 9285 alphabet, in value order.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Values maps a character to its value plus one; zero marks a
// character outside the alphabet.
var base45Values = func() (t [256]byte) {
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = byte(i + 1)
	}
	return t
}()

// decodeBase45 appends the bytes that s encodes to dst. It is strict, as
// RFC 9285 requires: a character outside the alphabet, a lone trailing
// character, or a group whose value does not fit its bytes is an error,
// reported at its character index in s plus base.
//
// (github.com/dasio/base45 v1.0.1, which encodes, accepts a final
// two-character group above 255 and reports imprecise offsets, so codes are
// decoded here.)
func decodeBase45(dst []byte, s string, base int) ([]byte, *VerifyError) {
	for i := 0; i < len(s); i += 3 {
		n := len(s) - i
		if n == 1 {
			return dst, malformedAt(base+i, "malformed code: the base45 text ends with a single character at character %d (is it cut short?)", base+i)
		}
		if n > 3 {
			n = 3
		}
		v := 0
		mul := 1
		for j := 0; j < n; j++ {
			c := s[i+j]
			d := base45Values[c]
			if d == 0 {
				return dst, malformedAt(base+i+j, "malformed code: %s at character %d is not a base45 character", quoteChar(c), base+i+j)
			}
			v += int(d-1) * mul
			mul *= 45
		}
		if n == 3 {
			if v > 0xffff {
				return dst, malformedAt(base+i, "malformed code: the base45 group at character %d is out of range", base+i)
			}
			dst = append(dst, byte(v>>8), byte(v))
		} else {
			if v > 0xff {
				// A three-character group cut to two is almost always above 255.
				return dst, malformedAt(base+i, "malformed code: the final base45 group at character %d is out of range (is the code cut short?)", base+i)
			}
			dst = append(dst, byte(v))
		}
	}
	return dst, nil
}

func quoteChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
