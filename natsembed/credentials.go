package natsembed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nats-io/nkeys"
)

// credentialsFileName holds the data directory's NKey user seed.
const credentialsFileName = "bulkassign.nkey"

// ensureCredentials creates dir's credentials if there are none and returns
// the user's public key, which the server accepts. The caller holds the
// lock, so no other process creates them at the same time.
func ensureCredentials(dir string) (string, error) {
	kp, err := loadCredentials(dir)
	if errors.Is(err, os.ErrNotExist) {
		kp, err = createCredentials(dir)
	}
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

func createCredentials(dir string) (nkeys.KeyPair, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create credentials: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("create credentials: %w", err)
	}
	data := append(append([]byte{}, seed...), '\n')
	defer wipe(data)
	if err := writeFileAtomic(dir, credentialsFileName, data); err != nil {
		return nil, fmt.Errorf("create credentials: %w", err)
	}
	return kp, nil
}

// loadCredentials reads dir's credentials. A missing file is an error
// wrapping os.ErrNotExist; a file other users may read is refused (where
// the operating system has such permissions), as ssh refuses its keys.
func loadCredentials(dir string) (nkeys.KeyPair, error) {
	path := filepath.Join(dir, credentialsFileName)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("credentials of data dir %s: %w", dir, err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("credentials of data dir %s: %s may be read by other users (mode %04o); make it 0600", dir, path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials of data dir %s: %w", dir, err)
	}
	defer wipe(data)
	prefix, _, err := nkeys.DecodeSeed(bytes.TrimSpace(data))
	if err == nil && prefix != nkeys.PrefixByteUser {
		err = errors.New("not an NKey user seed")
	}
	if err != nil {
		// nkeys' errors never quote the seed.
		return nil, fmt.Errorf("credentials of data dir %s: %s: %w", dir, path, err)
	}
	return nkeys.FromSeed(bytes.TrimSpace(data))
}

// wipe overwrites b, so a seed does not linger in memory.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}
