package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"healthcode"
	"healthcode/internal/secure"
	"healthcode/internal/sqlstore"
	"healthcode/internal/web"
)

// runRotateDataKey re-encrypts all personal data under a new data key:
//
//  1. a new key is written to KEY.new (kept if it exists: a rerun finishes
//     an interrupted rotation with the same key);
//  2. every resident is re-encrypted and re-indexed in small transactions;
//  3. the old key moves to KEY.previous-DATE (database backups made before
//     need it) and KEY.new becomes KEY.
//
// An interruption at any point loses nothing: servers refuse to start while
// KEY.new exists, and running the command again finishes the job. Servers
// must be stopped while it runs.
func runRotateDataKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	fset := flag.NewFlagSet("keys rotate-data-key", flag.ContinueOnError)
	fset.SetOutput(stderr)
	st.register(fset)
	if err := parseFlags(fset, args, getenv); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usageError("keys rotate-data-key takes no arguments, got %q", fset.Args())
	}
	path := st.dataKeyPath()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("data key: %w", err)
	}
	old, err := parseDataKey(path, data)
	if err != nil {
		return err
	}
	newPath := path + ".new"
	nextData, err := os.ReadFile(newPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k := make([]byte, secure.KeySize)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		nextData = fmt.Appendf(nil, "%d:%s\n", int(old.KeyID())%255+1, hex.EncodeToString(k))
		if err := writeFileSynced(newPath, nextData); err != nil {
			return fmt.Errorf("write the new key: %w", err)
		}
		fmt.Fprintf(stdout, "new data key written to %s\n", newPath)
	case err != nil:
		return fmt.Errorf("read %s: %w", newPath, err)
	default:
		fmt.Fprintf(stdout, "finishing the rotation to %s\n", newPath)
	}
	next, err := parseDataKey(newPath, nextData)
	if err != nil {
		return err
	}

	db, err := sqlstore.Open(ctx, st.dbURL(), sqlstore.Options{Clock: healthcode.SystemClock, Evaluator: noRules{}, Cipher: old,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.RotateDataKey(ctx, next, func(done int) {
		fmt.Fprintf(stderr, "\rre-encrypted %d residents", done)
	})
	fmt.Fprintln(stderr)
	if err != nil {
		return fmt.Errorf("rotation interrupted after %d residents (run the command again to finish): %w", n, err)
	}
	for _, name := range sealedFiles {
		if err := reseal(filepath.Join(st.DataDir, name+".sealed"), old, next); err != nil {
			return fmt.Errorf("rotation interrupted (run the command again to finish): %w", err)
		}
	}
	previous := fmt.Sprintf("%s.previous-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, previous); err != nil {
		return err
	}
	if err := os.Rename(newPath, path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-encrypted %d residents under key %d; the old key is in %s (backups made before today need it)\n",
		n, next.KeyID(), previous)
	return nil
}

// noRules is the evaluator of a store opened only to rotate keys: nothing
// is evaluated.
type noRules struct{}

func (noRules) Evaluate(*healthcode.Facts, time.Time) (healthcode.Status, error) {
	return healthcode.Status{}, errors.New("no rule evaluation while rotating keys")
}

func (noRules) RuleSet() *healthcode.RuleSet { return &healthcode.RuleSet{Version: "none"} }

// writeFileSynced creates path (mode 0600, which must not exist) with data,
// on disk before it returns.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// reseal re-seals a sealed key file from old to next, atomically; a file
// already under next (an earlier run got that far) is left alone.
func reseal(path string, old, next *secure.Cipher) error {
	enc, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	data, err := openSealed(old, path, enc)
	if err != nil {
		if _, errNext := openSealed(next, path, enc); errNext == nil {
			return nil
		}
		return err
	}
	return writeFileAtomic(path, sealFile(next, path, data))
}

// keyFacts describes the secret keys for the admin's keys page: the data
// key's id and fingerprint and when the key files were written, never the
// keys themselves.
func (c *storageConfig) keyFacts() web.KeyFacts {
	kf := web.KeyFacts{DataDir: c.DataDir, DataKeyFile: c.DataKeyFile}
	path := c.dataKeyPath()
	if data, err := os.ReadFile(path); err == nil {
		text := strings.TrimSpace(string(data))
		kf.DataKeyID = 1
		if before, after, ok := strings.Cut(text, ":"); ok {
			kf.DataKeyID, _ = strconv.Atoi(before)
			text = after
		}
		if key, err := hex.DecodeString(text); err == nil {
			kf.DataKeyFingerprint = web.KeyFingerprint(key)
		}
		clear(data)
	}
	if fi, err := os.Stat(path); err == nil {
		kf.DataKeyCreated = fi.ModTime()
	}
	if fi, err := os.Stat(filepath.Join(c.DataDir, "place-code.key.sealed")); err == nil {
		kf.PlaceKeyCreated = fi.ModTime()
	}
	return kf
}
