// Package jws opens the compact JWS documents regions exchange (trust
// lists, status lists, contact notices) as far as their checks agree:
// before any key is looked up.
package jws

import (
	"bytes"
	"crypto/ed25519"

	"github.com/go-jose/go-jose/v4"
)

// Open checks that data, at most limit bytes, is one compact JWS signed with
// EdDSA whose protected header has type typ, and returns it with that
// header. invalid makes each error; it names the document ("trust list:
// ...").
func Open(data []byte, limit int, typ string, invalid func(format string, args ...any) error) (*jose.JSONWebSignature, jose.Header, error) {
	if len(data) > limit {
		return nil, jose.Header{}, invalid("it is %d bytes; the limit is %d", len(data), limit)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, jose.Header{}, invalid("it is empty")
	}
	if data[0] == '{' {
		return nil, jose.Header{}, invalid("it is unsigned JSON or a JSON-serialized JWS; it must be a compact JWS (three base64url parts separated by dots)")
	}
	jws, err := jose.ParseSignedCompact(string(data), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, jose.Header{}, invalid("not a compact JWS signed with EdDSA: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, jose.Header{}, invalid("it has %d signatures; want 1", len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Protected
	if got, _ := hdr.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return nil, jose.Header{}, invalid("the JWS type (typ) is %q, not %q", got, typ)
	}
	return jws, hdr, nil
}

// Sign returns payload as a compact JWS signed with priv (EdDSA), its
// protected header naming the type typ and the key kid: the form Open reads.
func Sign(payload []byte, priv ed25519.PrivateKey, typ, kid string) ([]byte, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
	if err != nil {
		return nil, err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}
