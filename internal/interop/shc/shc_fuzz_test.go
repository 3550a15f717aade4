package shc_test

import (
	"strings"
	"testing"
	"time"

	"healthcode/internal/interop/shc"
)

// FuzzDecodeQR checks that DecodeQR never panics and that what it accepts
// encodes back to the same text.
//
//	go test -run XXX -fuzz FuzzDecodeQR ./internal/interop/shc/
func FuzzDecodeQR(f *testing.F) {
	f.Add("shc:/56762909524320603460292437404460")
	f.Add("shc:/1/2/5676")
	f.Add("shc:/9/9/")
	f.Add("shc:/0077")
	f.Fuzz(func(t *testing.T, text string) {
		jws, err := shc.DecodeQR(text)
		if err != nil {
			return
		}
		if strings.Count(text, "/") > 1 {
			return // a lone chunk 1/1
		}
		if back := shc.EncodeQR(jws); len(jws) <= shc.MaxSingleQR && !strings.EqualFold(back[0], strings.TrimSpace(text)) {
			t.Errorf("%q decodes to %q, which encodes to %q", text, jws, back[0])
		}
	})
}

// FuzzVerify checks that Verify never panics on what a scanner or a file
// may hand it, and that it only calls valid a card whose every check passed.
//
//	go test -run XXX -fuzz FuzzVerify ./internal/interop/shc/
func FuzzVerify(f *testing.F) {
	is := testIssuer(f)
	keys := keysOf(f, is)
	card, err := is.Issue(shc.Records{Resident: resident(), Vaccinations: vaccinations()}, issued, time.Time{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(card.JWS)
	f.Add(card.QR[0])
	f.Add(string(card.File()))
	f.Add(card.JWS[:len(card.JWS)/2])
	f.Add("shc:/1/2/5676")
	f.Fuzz(func(t *testing.T, input string) {
		for _, r := range shc.Verify(ctx, keys, issued, input) {
			if r.Valid && (r.Checks.Signature != "ok" || r.Checks.Bundle != "ok" || len(r.Checks.Failed()) > 0) {
				t.Errorf("valid with checks %+v", r.Checks)
			}
		}
	})
}
