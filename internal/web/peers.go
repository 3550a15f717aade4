package web

import (
	"net/http"
	"sync/atomic"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/trust"
)

// keyring resolves code keys from the region's own keys and, swapped in
// whole when a peer's trust list changes, the trusted peers' keys (issue 8:
// a region verifies another region's codes).
type keyring struct {
	own    code.KeyResolver
	peers  atomic.Pointer[trust.Set]
	signed atomic.Pointer[[]string] // the peers' signed lists
}

func (k *keyring) LookupKey(kid []byte) []code.Key {
	keys := k.own.LookupKey(kid)
	if p := k.peers.Load(); p != nil {
		keys = append(keys, p.LookupKey(kid)...)
	}
	return keys
}

func (k *keyring) LookupRevokedKey(kid []byte) []code.Key {
	var keys []code.Key
	if r, ok := k.own.(code.RevokedKeyResolver); ok {
		keys = r.LookupRevokedKey(kid)
	}
	if p := k.peers.Load(); p != nil {
		keys = append(keys, p.LookupRevokedKey(kid)...)
	}
	return keys
}

// SetPeers replaces the peers' trust lists the server verifies codes with:
// the parsed lists and, for checkpoints, the signed documents they came
// from.
func (s *Server) SetPeers(lists []*trust.List, signed [][]byte) {
	if s.keyring == nil {
		return
	}
	set := trust.Set(lists)
	s.keyring.peers.Store(&set)
	docs := make([]string, len(signed))
	for i, d := range signed {
		docs[i] = string(d)
	}
	s.keyring.signed.Store(&docs)
}

// getPeerTrustLists serves the trusted peers' signed trust lists, so that
// this region's checkpoints verify their codes offline too. Each list is
// signed by its own region; a checkpoint checks each as it checks ours.
func (s *Server) getPeerTrustLists(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	lists := []string{}
	if s.keyring != nil {
		if p := s.keyring.signed.Load(); p != nil {
			lists = *p
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{"lists": lists})
	return nil
}
