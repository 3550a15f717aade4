package dcc

import "fmt"

// base45Digit maps a byte of the base45 alphabet (RFC 9285) to its value
// plus one; zero marks a byte outside the alphabet.
var base45Digit = func() (t [256]byte) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i + 1)
	}
	return t
}()

// decodeBase45 appends the bytes s encodes to dst. It is strict, as RFC 9285
// requires: a byte outside the alphabet, a lone final character or a group
// too large for its bytes is an error naming its position in s.
func decodeBase45(dst []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i += 3 {
		n := min(len(s)-i, 3)
		if n == 1 {
			return dst, fmt.Errorf("the text ends with a single character at position %d (is it cut short?)", i)
		}
		v, mul := 0, 1
		for j := 0; j < n; j++ {
			d := base45Digit[s[i+j]]
			if d == 0 {
				return dst, fmt.Errorf("%q at position %d is not a base45 character", s[i+j], i+j)
			}
			v += int(d-1) * mul
			mul *= 45
		}
		if n == 3 {
			if v > 0xffff {
				return dst, fmt.Errorf("the group at position %d is out of range", i)
			}
			dst = append(dst, byte(v>>8), byte(v))
		} else {
			if v > 0xff {
				return dst, fmt.Errorf("the final group at position %d is out of range", i)
			}
			dst = append(dst, byte(v))
		}
	}
	return dst, nil
}
