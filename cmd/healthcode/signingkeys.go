package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"healthcode/internal/code"
	"healthcode/internal/trust"
)

// Signing-key rotation (issue 8). The current key signs; a retired key
// signs no more but stays in the trust list, valid for codes issued before
// it was retired, so that the codes in circulation (paper codes live a
// year) keep verifying until they expire. A retired key can be revoked:
// then nothing it signed is accepted. Retired keys are public data, kept in
// DATA/retired-keys.json.

// retiredKey is a signing key that no longer signs.
type retiredKey struct {
	PublicKey string    `json:"public_key"` // base64url, no padding
	NotBefore time.Time `json:"not_before"`
	RetiredAt time.Time `json:"retired_at"` // codes issued after it are not accepted
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

func (c *storageConfig) retiredKeysPath() string {
	return filepath.Join(c.DataDir, "retired-keys.json")
}

func (c *storageConfig) loadRetiredKeys() ([]retiredKey, error) {
	data, err := os.ReadFile(c.retiredKeysPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var ks []retiredKey
	if err := json.Unmarshal(data, &ks); err != nil {
		return nil, fmt.Errorf("%s: %w", c.retiredKeysPath(), err)
	}
	return ks, nil
}

func (c *storageConfig) saveRetiredKeys(ks []retiredKey) error {
	data, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.retiredKeysPath(), append(data, '\n'))
}

// trustEntries are the trust-list entries of the current key and the
// retired ones.
func (c *storageConfig) trustEntries(cur *signingKey, region, regionName string) ([]trust.Entry, error) {
	pub := cur.priv.Public().(ed25519.PublicKey)
	entries := []trust.Entry{trust.NewEntry(pub, region, regionName, cur.created, cur.created.AddDate(2, 0, 0))}
	retired, err := c.loadRetiredKeys()
	if err != nil {
		return nil, err
	}
	curKey := base64.RawURLEncoding.EncodeToString(pub)
	for _, k := range retired {
		if k.PublicKey == curKey {
			continue // a rotation was interrupted after retiring it: it still signs
		}
		raw, err := base64.RawURLEncoding.DecodeString(k.PublicKey)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: a retired key is not an Ed25519 public key", c.retiredKeysPath())
		}
		e := trust.NewEntry(raw, region, regionName, k.NotBefore, k.RetiredAt)
		if !k.RevokedAt.IsZero() {
			e.Revoke(k.RevokedAt)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// runSigningKeys is `healthcode keys rotate-signing-key` and
// `healthcode keys revoke-signing-key --kid KID`; servers read the keys at
// start, so restart them afterwards.
func runSigningKeys(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var kid string
	fset := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fset.SetOutput(stderr)
	st.register(fset)
	if sub == "revoke-signing-key" {
		fset.StringVar(&kid, "kid", "", "the key id (hex) of the retired key to revoke")
	}
	if err := parseFlags(fset, args, getenv); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	cur, err := st.loadSigningKey(now)
	if err != nil {
		return err
	}
	curPub := cur.priv.Public().(ed25519.PublicKey)
	retired, err := st.loadRetiredKeys()
	if err != nil {
		return err
	}
	if sub == "revoke-signing-key" {
		kid = strings.ToLower(strings.TrimSpace(kid))
		if kid == hex.EncodeToString(code.KeyID(curPub)) {
			return usageError("key %s is the current signing key: rotate it first, then revoke it", kid)
		}
		for i, k := range retired {
			raw, _ := base64.RawURLEncoding.DecodeString(k.PublicKey)
			if hex.EncodeToString(code.KeyID(raw)) == kid {
				if retired[i].RevokedAt.IsZero() {
					retired[i].RevokedAt = now
				}
				if err := st.saveRetiredKeys(retired); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "key %s revoked: no code it signed is accepted any more; restart the servers\n", kid)
				return nil
			}
		}
		return usageError("no retired signing key has kid %q", kid)
	}

	// Rotate: retire the current key (first, so that an interruption never
	// loses it), then put a new one in its place.
	curKey := base64.RawURLEncoding.EncodeToString(curPub)
	known := false
	for _, k := range retired {
		known = known || k.PublicKey == curKey
	}
	if !known {
		// A key's validity must not be empty: one made and retired within
		// the same second is retired a second after it was made.
		retiredAt := now
		if !retiredAt.After(cur.created) {
			retiredAt = cur.created.Add(time.Second)
		}
		retired = append(retired, retiredKey{PublicKey: curKey, NotBefore: cur.created, RetiredAt: retiredAt})
		if err := st.saveRetiredKeys(retired); err != nil {
			return err
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	cipher, err := st.loadDataKey()
	if err != nil {
		return err
	}
	sealed := filepath.Join(st.DataDir, "signing-key.pem.sealed")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Created": now.Format(time.RFC3339)}, Bytes: der})
	if err := writeFileAtomic(sealed, sealFile(cipher, sealed, pemData)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s; key %s retired (its codes verify until they expire); restart the servers\n",
		hex.EncodeToString(code.KeyID(priv.Public().(ed25519.PublicKey))), hex.EncodeToString(code.KeyID(curPub)))
	return nil
}
