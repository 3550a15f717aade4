package dcc_test

import (
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/fxamacker/cbor/v2"

	"healthcode/internal/interop/dcc"
)

// FuzzFastPathDCC hands both paths the same COSE bytes (fuzzed), and the
// same DCC content signed properly (fuzzed CBOR in a sound CWT), and
// requires the same result from each.
//
//	go test -run '^$' -fuzz FuzzFastPathDCC ./internal/interop/dcc/
func FuzzFastPathDCC(f *testing.F) {
	key := testKey(f)
	dsc := testDSC(f, key)
	s := newDCCSigner(f, key, dsc)
	for _, iss := range issueAll(f, testIssuer(f, key, dsc)) {
		cose := coseOf(f, iss.Payload)
		f.Add(cose)
		f.Add(dccOf(f, cose))
	}
	p := newPaths(f, dsc)
	f.Fuzz(func(t *testing.T, data []byte) {
		p.agree(t, "COSE", dcc.Prefix+base45.EncodeToString(compress(t, data)), issueNow)
		if cbor.Wellformed(data) != nil {
			return
		}
		claims, err := cbor.Marshal(map[int]any{1: "CN", 6: issueNow.Add(-time.Hour).Unix(), 4: issueNow.Add(time.Hour).Unix(),
			-260: map[int]cbor.RawMessage{1: data}})
		if err != nil {
			return
		}
		p.agree(t, "DCC", s.signClaims(t, claims), issueNow)
	})
}
