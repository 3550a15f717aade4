package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"healthcode"
	"healthcode/internal/interop/dcc"
	"healthcode/internal/rules"
	"healthcode/internal/secure"
	"healthcode/internal/sqlstore"
)

// storageConfig says where the data lives; serve and the operator commands share it.
type storageConfig struct {
	DataDir     string
	DB          string
	DataKeyFile string
	// outbox queues notifications for the webhook (serve, when one is set).
	outbox bool
}

func (c *storageConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", "./healthcode-data", "data directory: SQLite database, keys, generated secrets")
	fs.StringVar(&c.DB, "db", "", "database URL: postgres://... selects PostgreSQL; default SQLite in the data directory")
	fs.StringVar(&c.DataKeyFile, "data-key-file", "", "file holding the 32-byte personal-data key (default DATA/data.key, generated on first start)")
}

// dbURL returns the database to open: the --db URL or the SQLite file in the data dir.
func (c *storageConfig) dbURL() string {
	if c.DB != "" {
		return c.DB
	}
	return filepath.Join(c.DataDir, "healthcode.db")
}

// ensureDataDir creates the data directory (mode 0700) if it is missing.
func (c *storageConfig) ensureDataDir() error {
	if c.DataDir == "" {
		return usageError("--data must not be empty")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// loadOrCreateFile returns the file's contents, creating it with make() and
// mode 0600 if it does not exist. created reports whether it was made now.
func loadOrCreateFile(path string, make func() ([]byte, error)) (data []byte, created bool, err error) {
	data, err = os.ReadFile(path)
	if err == nil {
		return data, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	data, err = make()
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first: use theirs
		data, err = os.ReadFile(path)
		return data, false, err
	} else if err != nil {
		return nil, false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, err
	}
	return data, true, f.Close()
}

// dataKeyPath is the file of the personal-data key.
func (c *storageConfig) dataKeyPath() string {
	if c.DataKeyFile != "" {
		return c.DataKeyFile
	}
	return filepath.Join(c.DataDir, "data.key")
}

// parseDataKey reads a data key file: the key in hex, after "ID:" with the
// key id written into ciphertexts (a file without it is key id 1, the first
// key).
func parseDataKey(path string, data []byte) (*secure.Cipher, error) {
	text := strings.TrimSpace(string(data))
	id := 1
	if before, after, ok := strings.Cut(text, ":"); ok {
		n, err := strconv.Atoi(before)
		if err != nil || n < 1 || n > 255 {
			return nil, fmt.Errorf("data key %s: the key id before ':' must be 1 to 255", path)
		}
		id, text = n, after
	}
	key, err := hex.DecodeString(text)
	if err != nil || len(key) != secure.KeySize {
		return nil, fmt.Errorf("data key %s must hold %d bytes as hex", path, secure.KeySize)
	}
	return secure.NewCipher(key, byte(id))
}

// loadDataKey reads the personal-data key (hex), generating it on first
// start. It refuses while a key rotation is unfinished: the data is then
// partly under each key.
func (c *storageConfig) loadDataKey() (*secure.Cipher, error) {
	path := c.dataKeyPath()
	if _, err := os.Stat(path + ".new"); err == nil {
		return nil, fmt.Errorf("a data-key rotation is unfinished (%s.new exists): run `healthcode keys rotate-data-key` again to finish it", path)
	}
	data, _, err := loadOrCreateFile(path, func() ([]byte, error) {
		if c.DataKeyFile != "" {
			return nil, fmt.Errorf("data key file %s does not exist", c.DataKeyFile)
		}
		k := make([]byte, secure.KeySize)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(k) + "\n"), nil
	})
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return parseDataKey(path, data)
}

// loadPlaceKey reads the secret that keys place-code tags, generating it on
// first start. It is separate from the signing key so that rotating the
// signing key does not invalidate the place codes printed on every door.
func (c *storageConfig) loadPlaceKey() ([]byte, error) {
	path := filepath.Join(c.DataDir, "place-code.key")
	data, err := c.loadOrCreateSealed(path, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(k) + "\n"), nil
	})
	if err != nil {
		return nil, fmt.Errorf("place-code key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("place-code key %s must hold at least 32 bytes as hex", path)
	}
	return key, nil
}

// signingKey is the region's Ed25519 key and when it was made.
type signingKey struct {
	priv    ed25519.PrivateKey
	created time.Time
}

// loadSigningKey reads the region's signing key (DATA/signing-key.pem,
// kept sealed under the data key), generating it on first start.
func (c *storageConfig) loadSigningKey(now time.Time) (*signingKey, error) {
	path := filepath.Join(c.DataDir, "signing-key.pem")
	data, err := c.loadOrCreateSealed(path, func() ([]byte, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Created": now.UTC().Format(time.RFC3339)}, Bytes: der}), nil
	})
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key %s is not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not an Ed25519 key", path)
	}
	created, err := time.Parse(time.RFC3339, block.Headers["Created"])
	if err != nil {
		created = now
	}
	return &signingKey{priv: priv, created: created}, nil
}

// openStore opens the database. The store evaluates with the rule set the
// database has in force and follows every later publication; a database
// that has none (a fresh one) gets the embedded default rule set published.
// The evaluator returned is the one in force when the store opened.
func (c *storageConfig) openStore(ctx context.Context, clock healthcode.Clock, log *slog.Logger) (*sqlstore.DB, healthcode.Evaluator, error) {
	if err := c.ensureDataDir(); err != nil {
		return nil, nil, err
	}
	cipher, err := c.loadDataKey()
	if err != nil {
		return nil, nil, err
	}
	engine, err := rules.Load(healthcode.DefaultRuleSetSource)
	if err != nil {
		return nil, nil, fmt.Errorf("default rule set: %w", err)
	}
	db, err := sqlstore.Open(ctx, c.dbURL(), sqlstore.Options{Clock: clock, Evaluator: engine, LoadRules: loadRules,
		Cipher: cipher, Logger: log, Outbox: c.outbox})
	if err != nil {
		return nil, nil, err
	}
	pubs, err := db.ListRuleSetPublications(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if len(pubs) == 0 {
		first := healthcode.ContextWithActor(ctx, healthcode.Actor{Role: healthcode.RoleSystem, Name: "system: first start"})
		if err := db.PublishRuleSet(first, engine.RuleSet()); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("publish the default rule set: %w", err)
		}
	} else if pubs[0].Version != engine.RuleSet().Version {
		log.Info("the rule set in force is not this binary's default; publish rules/default.yaml to use it",
			"in_force", pubs[0].Version, "default", engine.RuleSet().Version)
	}
	return db, db.Evaluator(), nil
}

// loadRules compiles a rule set document (healthcode.RuleLoader).
func loadRules(source []byte) (healthcode.Evaluator, error) {
	e, err := rules.Load(source)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// sealedFiles are the key files kept sealed under the data key, as PATH.sealed.
var sealedFiles = []string{"signing-key.pem", "place-code.key", "interop-key.pem"}

// sealedPrefix starts a sealed key file; the rest is the base64 of
// secure.Cipher.Seal of the key file's bytes, with the file's name as context.
const sealedPrefix = "healthcode-sealed-v1:"

// loadOrCreateSealed returns the contents of the key file path, which is
// kept on disk sealed under the data key as path.sealed, so that a copy of
// the data directory without the data key holds no usable key. A plaintext
// file from an older version is sealed and removed; a missing one is made.
func (c *storageConfig) loadOrCreateSealed(path string, make func() ([]byte, error)) ([]byte, error) {
	cipher, err := c.loadDataKey()
	if err != nil {
		return nil, err
	}
	sealed := path + ".sealed"
	if enc, err := os.ReadFile(sealed); err == nil {
		return openSealed(cipher, sealed, enc)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if data, err = make(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	err = writeFileSynced(sealed, sealFile(cipher, sealed, data))
	if errors.Is(err, fs.ErrExist) { // another process sealed it first: use theirs
		enc, err := os.ReadFile(sealed)
		if err != nil {
			return nil, err
		}
		return openSealed(cipher, sealed, enc)
	} else if err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return data, nil
}

func sealFile(cipher *secure.Cipher, path string, data []byte) []byte {
	return []byte(sealedPrefix + base64.StdEncoding.EncodeToString(cipher.Seal(string(data), filepath.Base(path))) + "\n")
}

func openSealed(cipher *secure.Cipher, path string, enc []byte) ([]byte, error) {
	text, ok := strings.CutPrefix(strings.TrimSpace(string(enc)), sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("%s is not a sealed key file", path)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data, err := cipher.Open(raw, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%s cannot be opened with this data key: %w", path, err)
	}
	return []byte(data), nil
}

// loadInteropKey reads the region's P-256 key for the international
// certificates (EU DCC, SMART Health Cards), kept sealed under the data key
// like the signing key, and its self-signed document-signer certificate
// (DATA/dsc.pem, public), generating both on first start.
func (c *storageConfig) loadInteropKey(regionName string, now time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	data, err := c.loadOrCreateSealed(filepath.Join(c.DataDir, "interop-key.pem"), func() ([]byte, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("interop key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, fmt.Errorf("interop key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("interop key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, nil, fmt.Errorf("interop key is not an EC P-256 key")
	}
	certPEM, _, err := loadOrCreateFile(filepath.Join(c.DataDir, "dsc.pem"), func() ([]byte, error) {
		cert, err := dcc.NewDSC(key, pkix.Name{Country: []string{"CN"}, CommonName: regionName + " DSC"}, now.Add(-time.Hour), now.AddDate(2, 0, 0))
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("document signer certificate: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, nil, fmt.Errorf("dsc.pem is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("dsc.pem: %w", err)
	}
	return key, cert, nil
}
