package secure

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "correct horse") {
		t.Error("right password rejected")
	}
	if CheckPassword(h, "correct horsE") {
		t.Error("wrong password accepted")
	}
	if CheckPassword("$argon2id$v=19$m=1,t=1,p=1$$", "") || CheckPassword("plain", "plain") {
		t.Error("malformed hash accepted")
	}
}

func TestCipher(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	c, err := NewCipher(key, 1)
	if err != nil {
		t.Fatal(err)
	}
	ct := c.Seal("张三", "resident.name")
	if bytes.Contains(ct, []byte("张三")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	if got, err := c.Open(ct, "resident.name"); err != nil || got != "张三" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := c.Open(ct, "resident.address"); err != ErrDecrypt {
		t.Errorf("wrong context: err = %v", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := c.Open(ct, "resident.name"); err != ErrDecrypt {
		t.Errorf("tampered: err = %v", err)
	}
	other, _ := NewCipher(bytes.Repeat([]byte{8}, KeySize), 2)
	if bytes.Equal(c.BlindIndex("phone", "13800138000"), other.BlindIndex("phone", "13800138000")) {
		t.Error("blind index does not depend on the key")
	}
	if bytes.Equal(c.BlindIndex("phone", "1"), c.BlindIndex("id_number", "1")) {
		t.Error("blind index does not depend on the kind")
	}
	if _, err := NewCipher([]byte("short"), 1); err == nil {
		t.Error("short key accepted")
	}
}

// TestSecretDigest checks the digest of secrets short enough to hash from
// the stack and of longer ones alike.
func TestSecretDigest(t *testing.T) {
	for _, n := range []int{0, 1, 47, 63, 64, 65, 200} {
		secret := strings.Repeat("s", n)
		if got, want := SecretDigest(secret), sha256.Sum256([]byte(secret)); got != want {
			t.Errorf("%d bytes: %x, want %x", n, got, want)
		}
	}
	secret, hash, err := NewSecret("hcs_")
	if err != nil {
		t.Fatal(err)
	}
	if d := SecretDigest(secret); !bytes.Equal(d[:], hash) {
		t.Errorf("the digest of a new secret is not the hash it was made with")
	}
}
