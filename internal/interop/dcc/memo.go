package dcc

import "sync"

// DefaultMemoSize is how many payloads a Verifier remembers.
const DefaultMemoSize = 1024

// memo remembers what recently verified payloads say (parsed), so that a
// payload read again is not decoded and schema-validated again: a camera
// scanner reads the same code in many frames, and a traveller shows the
// same certificate at every gate. The signature, the clock and the key
// usage are checked on every verification all the same. When full, it
// forgets an arbitrary entry.
type memo struct {
	mu  sync.Mutex
	m   map[string]*parsed
	max int
}

func (m *memo) get(payload string) *parsed {
	if m.max == 0 {
		return nil
	}
	m.mu.Lock()
	p := m.m[payload]
	m.mu.Unlock()
	return p
}

func (m *memo) put(payload string, p *parsed) {
	if m.max == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]*parsed)
	}
	if len(m.m) >= m.max {
		for k := range m.m {
			delete(m.m, k)
			break
		}
	}
	m.m[payload] = p
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
