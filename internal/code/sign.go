package code

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/dasio/base45"
	"github.com/veraison/go-cose"
)

// Signer makes codes with one issuer key. It is safe for concurrent use.
type Signer struct {
	kid    []byte
	pub    ed25519.PublicKey
	signer cose.Signer
	err    error
}

// NewSigner returns a Signer for an Ed25519 private key. If priv is not a
// valid key, every Sign call returns an error.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	if len(priv) != ed25519.PrivateKeySize {
		return &Signer{err: fmt.Errorf("sign code: the private key is %d bytes, not %d", len(priv), ed25519.PrivateKeySize)}
	}
	s, err := cose.NewSigner(cose.AlgorithmEdDSA, priv)
	if err != nil {
		return &Signer{err: fmt.Errorf("sign code: %w", err)}
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{kid: KeyID(pub), pub: pub, signer: s}
}

// Public returns the public key that verifies the Signer's codes (nil for an
// invalid key).
func (s *Signer) Public() ed25519.PublicKey { return s.pub }

// KeyID returns the key id the Signer puts in its codes (nil for an
// invalid key).
func (s *Signer) KeyID() []byte { return append([]byte(nil), s.kid...) }

// Sign returns the code for c. It refuses claims that Verify would reject
// as malformed, and codes longer than MaxPayloadLen.
func (s *Signer) Sign(c Claims) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	w, err := c.toWire()
	if err != nil {
		return "", fmt.Errorf("sign code: %w", err)
	}
	payload, err := claimsEncMode.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("sign code: encode claims: %w", err)
	}
	headers := cose.Headers{
		Protected: cose.ProtectedHeader{
			cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
			cose.HeaderLabelKeyID:     s.kid,
		},
		Unprotected: cose.UnprotectedHeader{},
	}
	msg, err := cose.Sign1Untagged(rand.Reader, s.signer, headers, payload, nil)
	if err != nil {
		return "", fmt.Errorf("sign code: %w", err)
	}
	out := Prefix + base45.EncodeToString(msg)
	if len(out) > MaxPayloadLen {
		return "", fmt.Errorf("sign code: the code would be %d characters; the limit is %d (is the name too long?)", len(out), MaxPayloadLen)
	}
	return out, nil
}
