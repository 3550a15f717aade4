package code

import "fmt"

// Reasons a code is rejected, in the order Verify checks them.
const (
	NotACode      = "not_a_code"     // no HQ1: prefix: a web address, an EU certificate (HC1:), other text
	Malformed     = "malformed"      // bad base45, bad CBOR or COSE structure, missing or impossible claim
	UnknownIssuer = "unknown_issuer" // no trusted key has the code's key id
	BadSignature  = "bad_signature"  // the signature does not verify with any trusted key of that id
	KeyNotValid   = "key_not_valid"  // the signing key is revoked, or the code was issued outside the key's validity
	NotYetValid   = "not_yet_valid"  // issued in the future, beyond ClockSkew
	Expired       = "expired"        // at or past its expiry time

	// Revoked is set by the status list (package statuslist), never by
	// Verify: a paper code that was replaced by a newer one.
	Revoked = "revoked"
)

// VerifyError says why a code was rejected. Reason is one of the constants
// above; Detail is a sentence for a person. Offset locates a malformation:
// for bad base45 it is the index of the character in the code text, for
// bad CBOR the index of the byte in the base45-decoded data; it is -1 when
// no position applies.
type VerifyError struct {
	Reason string
	Detail string
	Offset int
}

func (e *VerifyError) Error() string { return e.Detail }

func rejectf(reason, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: reason, Detail: fmt.Sprintf(format, args...), Offset: -1}
}

func malformedAt(offset int, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: Malformed, Detail: fmt.Sprintf(format, args...), Offset: offset}
}
