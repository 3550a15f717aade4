package web

import (
	"sync/atomic"

	"healthcode/internal/code"
	"healthcode/internal/trust"
)

// keyring resolves code keys from the region's own keys and, swapped in
// whole when a peer's trust list changes, the trusted peers' keys (issue 8:
// a region verifies another region's codes).
type keyring struct {
	own   code.KeyResolver
	peers atomic.Pointer[trust.Set]
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

// SetPeers replaces the peers' trust lists the server verifies codes with.
func (s *Server) SetPeers(lists []*trust.List) {
	if s.keyring == nil {
		return
	}
	set := trust.Set(lists)
	s.keyring.peers.Store(&set)
}
