package dcc

import (
	"hash/maphash"
	"sync"
)

// DefaultMemoSize is how many payloads a Verifier remembers.
const DefaultMemoSize = 1024

// memo remembers what recently verified payloads say (parsed), so that a
// payload read again is not decoded and schema-validated again: a camera
// scanner reads the same code in many frames, and a traveller shows the
// same certificate at every gate. The signature, the clock and the key
// usage are checked on every verification all the same. When full, it
// forgets an arbitrary entry.
//
// Entries are found by a hash of the payload, computed once per
// verification, and hold the payload itself to compare: two payloads with
// the same hash are never confused, the second merely replaces the first.
type memo struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]memoEntry
	max  int
}

type memoEntry struct {
	payload string
	p       *parsed
}

func newMemo(size int) memo { return memo{seed: maphash.MakeSeed(), max: size} }

// key returns the hash get and put take; 0 and no work when the memo is off.
func (m *memo) key(payload string) uint64 {
	if m.max == 0 {
		return 0
	}
	return maphash.String(m.seed, payload)
}

func (m *memo) get(key uint64, payload string) *parsed {
	if m.max == 0 {
		return nil
	}
	m.mu.Lock()
	e, ok := m.m[key]
	m.mu.Unlock()
	if !ok || e.payload != payload {
		return nil
	}
	return e.p
}

func (m *memo) put(key uint64, payload string, p *parsed) {
	if m.max == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[uint64]memoEntry)
	}
	if _, ok := m.m[key]; !ok && len(m.m) >= m.max {
		for k := range m.m {
			delete(m.m, k)
			break
		}
	}
	m.m[key] = memoEntry{payload, p}
}

// SetMemoSize sets how many payloads the Verifier remembers (see
// DefaultMemoSize); 0 turns remembering off, so that every verification
// decodes and validates its payload. Call it before the Verifier is used.
func (v *Verifier) SetMemoSize(n int) {
	v.memo.mu.Lock()
	defer v.memo.mu.Unlock()
	v.memo.max = max(n, 0)
	v.memo.m = nil
}
