package natsembed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// lockFileName is the lock file a Server holds in its data directory.
const lockFileName = "bulkassign.lock"

// errLocked is returned by lockFile when the lock is held elsewhere.
var errLocked = errors.New("locked")

// lockDataDir creates dir if needed and locks its lock file.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w: %w: %s", ErrStart, ErrDataDirLocked, dir)
		}
		return nil, fmt.Errorf("%w: lock %s: %w", ErrStart, path, err)
	}
	return f, nil
}

// dataDirFree reports whether no process holds dir's lock now (it takes
// the lock and gives it back at once). A directory without a lock file is
// free.
func dataDirFree(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR, 0)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	defer f.Close() // closing releases the lock if we took it
	return lockFile(f) == nil
}
