package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"healthcode"
)

// The display cache: what showing a code reads (the session or token, and
// the resident's signed code with the status it shows) kept in memory, so
// that a display costs no database round trip at the morning peak (issue
// 7). The store's change feed says what to forget, from this process at
// once and from others within a fraction of a second; every entry also
// expires after cacheMaxAge, which bounds how stale anything can be if the
// feed ever misses a change, and a code at its status's ValidUntil.

// cacheMaxAge is the longest an entry is used without reading it again, if
// the change feed ever missed a change: the default life of a code, which
// a phone that showed one just before the change shows anyway. Shorter,
// the morning peak would be read from the database after all: a resident
// shows the code at the station and again at the office, minutes apart,
// and a refill costs as much as a dozen displays (BENCHMARKS.md). Each
// entry lives a random part of its last quarter less, so that the entries
// filled together at a peak's start are not all read again in the same
// moment (issue 7).
const cacheMaxAge = 5 * time.Minute

// cacheMaxEntries bounds each table; past it, expired entries go, and if
// that is not enough, everything.
const cacheMaxEntries = 1_000_000

// forgetful is a map whose entries expire and can be forgotten, in which a
// value read from the database before a Forget of its key is never stored
// after it: a fill takes a generation with Begin before it reads and hands it
// to Put.
type forgetful[K comparable, V any] struct {
	mu      sync.RWMutex
	gen     uint64
	floor   uint64 // fills begun before this are dropped (forgot was cleared)
	entries map[K]cached[V]
	forgot  map[K]uint64 // the generation of each key's last Forget
}

type cached[V any] struct {
	v     V
	until time.Time
}

func newForgetful[K comparable, V any]() *forgetful[K, V] {
	return &forgetful[K, V]{entries: map[K]cached[V]{}, forgot: map[K]uint64{}}
}

// Get returns the value for k if it is there and not expired at now.
func (f *forgetful[K, V]) Get(k K, now time.Time) (V, bool) {
	f.mu.RLock()
	e, ok := f.entries[k]
	f.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Last returns the value stored for k, expired or not; a forgotten value is
// gone.
func (f *forgetful[K, V]) Last(k K) (V, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.entries[k]
	return e.v, ok
}

// Begin starts a fill.
func (f *forgetful[K, V]) Begin() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.gen
}

// Put stores v for k until then, unless k was forgotten since the fill began.
func (f *forgetful[K, V]) Put(k K, v V, until time.Time, began uint64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if began < f.floor || f.forgot[k] > began {
		return
	}
	if len(f.entries) >= cacheMaxEntries {
		for key, e := range f.entries {
			if !now.Before(e.until) {
				delete(f.entries, key)
			}
		}
		if len(f.entries) >= cacheMaxEntries {
			clear(f.entries)
		}
	}
	f.entries[k] = cached[V]{v, until}
}

// Forget drops k and any fill of it in progress.
func (f *forgetful[K, V]) Forget(k K) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	delete(f.entries, k)
	if len(f.forgot) >= cacheMaxEntries {
		clear(f.forgot)
		f.floor = f.gen
	}
	f.forgot[k] = f.gen
}

// ForgetAll drops everything and every fill in progress.
func (f *forgetful[K, V]) ForgetAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	f.floor = f.gen
	clear(f.entries)
	clear(f.forgot)
}

// displayCache is the server's cache of sessions, tokens and codes. Neither
// residents' records nor their statuses are kept apart from the codes:
// only a new code reads them (status.go), a code keeps what it shows, and
// decrypted personal data stays out of memory.
type displayCache struct {
	// A secret's hash names the same session or token for ever, so the maps
	// from hash to id need no forgetting; what a session or token is worth
	// is looked up by id, which the change feed names. Keyed by the digest
	// itself, an array, the two maps hold no pointers: the garbage collector
	// skips them.
	mu        sync.RWMutex
	sessionID map[[sha256.Size]byte]int64
	tokenID   map[[sha256.Size]byte]int64

	sessions *forgetful[int64, cachedSession]
	tokens   *forgetful[int64, healthcode.APIToken]
	// codes are the residents' signed phone codes (status.go), each
	// forgotten when the status it shows changes.
	codes *forgetful[int64, issuedCode]
}

func newDisplayCache() *displayCache {
	return &displayCache{sessionID: map[[sha256.Size]byte]int64{}, tokenID: map[[sha256.Size]byte]int64{},
		sessions: newForgetful[int64, cachedSession](), tokens: newForgetful[int64, healthcode.APIToken](),
		codes: newForgetful[int64, issuedCode]()}
}

// apply forgets what the changes name; it is the store's subscriber.
func (c *displayCache) apply(changes []healthcode.Change) {
	for _, ch := range changes {
		switch ch.Kind {
		case healthcode.ChangeStatus:
			c.codes.Forget(ch.Key)
		case healthcode.ChangeSession:
			c.sessions.Forget(ch.Key)
		case healthcode.ChangeToken:
			c.tokens.Forget(ch.Key)
		case healthcode.ChangeRules:
			c.codes.ForgetAll()
		default: // ChangeReset, or a kind this version does not know
			c.sessions.ForgetAll()
			c.tokens.ForgetAll()
			c.codes.ForgetAll()
		}
	}
}

func (c *displayCache) idOf(m map[[sha256.Size]byte]int64, digest [sha256.Size]byte) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := m[digest]
	return id, ok
}

func (c *displayCache) setID(m map[[sha256.Size]byte]int64, digest [sha256.Size]byte, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m) >= cacheMaxEntries {
		clear(m)
	}
	m[digest] = id
}

// until is when an entry filled at now is read again: after cacheMaxAge
// less a random part of its last quarter, or when it expires if sooner.
func until(now, expires time.Time) time.Time {
	u := now.Add(cacheMaxAge - rand.N(cacheMaxAge/4))
	if !expires.IsZero() && expires.Before(u) {
		return expires
	}
	return u
}

// cachedSession is what a request needs of a session: until when it is
// valid, and the actor its requests act as, made once and shared by them
// (it never changes: requests only read it).
type cachedSession struct {
	expiresAt time.Time
	actor     *healthcode.Actor
}

func residentActor(residentID int64) *healthcode.Actor {
	return &healthcode.Actor{Role: healthcode.RoleResident, ResidentID: residentID,
		Name: "resident " + strconv.FormatInt(residentID, 10)}
}

// session is FindSession through the cache; it returns the session's
// actor. The digest is an array, copied to the heap only on a miss: a hit,
// the display path, allocates nothing here.
func (s *Server) session(ctx context.Context, digest [sha256.Size]byte) (*healthcode.Actor, error) {
	c, now := s.cache, s.clock.Now()
	if id, ok := c.idOf(c.sessionID, digest); ok {
		if sess, ok := c.sessions.Get(id, now); ok && now.Before(sess.expiresAt) {
			return sess.actor, nil
		}
	}
	began := c.sessions.Begin()
	sess, err := s.store.FindSession(ctx, bytes.Clone(digest[:]))
	if err != nil {
		return nil, err
	}
	actor := residentActor(sess.ResidentID)
	c.setID(c.sessionID, digest, sess.ID)
	c.sessions.Put(sess.ID, cachedSession{sess.ExpiresAt, actor}, until(now, sess.ExpiresAt), began, now)
	return actor, nil
}

// apiToken is FindAPIToken through the cache.
func (s *Server) apiToken(ctx context.Context, digest [sha256.Size]byte) (*healthcode.APIToken, error) {
	c, now := s.cache, s.clock.Now()
	if id, ok := c.idOf(c.tokenID, digest); ok {
		if tok, ok := c.tokens.Get(id, now); ok {
			return &tok, nil
		}
	}
	began := c.tokens.Begin()
	tok, err := s.store.FindAPIToken(ctx, bytes.Clone(digest[:]))
	if err != nil {
		return nil, err
	}
	c.setID(c.tokenID, digest, tok.ID)
	c.tokens.Put(tok.ID, *tok, until(now, time.Time{}), began, now)
	return tok, nil
}
