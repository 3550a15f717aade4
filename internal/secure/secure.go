// Package secure holds the project's small cryptographic helpers: password
// hashing (argon2id), random bearer secrets, encryption of personal data at
// rest (AES-256-GCM) and keyed blind indexes (HMAC-SHA256) for looking up
// encrypted values.
package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (RFC 9106 second recommended option, reduced memory so
// that a 2-core server can take a login burst).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// HashPassword returns an encoded argon2id hash of password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches an encoded hash from
// HashPassword. A malformed hash never matches.
func CheckPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil || mem > 1<<20 || iter > 16 || threads == 0 {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NewSecret returns a random bearer secret with a readable prefix
// ("hct_..." for tokens, "hcs_..." for sessions) and its SHA-256 hash, which is
// what gets stored.
func NewSecret(prefix string) (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("new secret: %w", err)
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret), nil
}

// HashSecret returns the SHA-256 of a bearer secret.
func HashSecret(secret string) []byte {
	h := SecretDigest(secret)
	return h[:]
}

// SecretDigest is HashSecret as an array, which a caller can keep off the
// heap.
func SecretDigest(secret string) [sha256.Size]byte {
	// Copied to the stack, not the heap: every authenticated request hashes
	// its secret (ours are under 64 bytes; a longer one is copied to the
	// heap by append).
	var buf [64]byte
	return sha256.Sum256(append(buf[:0], secret...))
}

// KeySize is the size of a data key: AES-256 plus an HMAC key derived from it.
const KeySize = 32

// Cipher encrypts personal data at rest and computes blind indexes. The zero
// value is not usable; make one with NewCipher.
type Cipher struct {
	aead     cipher.AEAD
	indexKey []byte
	keyID    byte
}

// NewCipher returns a Cipher for a 32-byte data key. keyID (1..255) is
// written into each ciphertext so that a key rotation can tell old from new.
func NewCipher(key []byte, keyID byte) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("data key must be %d bytes, got %d", KeySize, len(key))
	}
	encKey := hmacSum(key, "healthcode data encryption v1")
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	return &Cipher{aead: aead, indexKey: hmacSum(key, "healthcode blind index v1"), keyID: keyID}, nil
}

func hmacSum(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ErrDecrypt means a ciphertext was not made by this key for this context.
var ErrDecrypt = errors.New("cannot decrypt: wrong key, wrong context or corrupted data")

// Seal encrypts plaintext; context (for example "resident.name") is bound to
// the ciphertext as additional data so a value cannot be moved to another column.
func (c *Cipher) Seal(plaintext, context string) []byte {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("secure: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+c.aead.Overhead())
	out = append(out, c.keyID)
	out = append(out, nonce...)
	return c.aead.Seal(out, nonce, []byte(plaintext), []byte(context))
}

// Open decrypts a value from Seal with the same context.
func (c *Cipher) Open(ciphertext []byte, context string) (string, error) {
	ns := c.aead.NonceSize()
	if len(ciphertext) < 1+ns+c.aead.Overhead() || ciphertext[0] != c.keyID {
		return "", ErrDecrypt
	}
	pt, err := c.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], []byte(context))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}

// KeyID returns the key id written into ciphertexts.
func (c *Cipher) KeyID() byte { return c.keyID }

// BlindIndex returns a keyed hash of value for equality lookups of encrypted
// data; kind separates the index spaces ("id_number", "phone").
func (c *Cipher) BlindIndex(kind, value string) []byte {
	m := hmac.New(sha256.New, c.indexKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}
