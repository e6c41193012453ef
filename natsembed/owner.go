package natsembed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ownerFileName is the owner file in a data directory.
const ownerFileName = "bulkassign.server.json"

// Owner is what the owner file of a data directory records about the
// process that owns it: written when the process takes the lock (PID,
// Command, Started), and again with URL and ServerID once its server
// accepts connections. A file without ServerID belongs to a server that is
// still starting (or to a process that died while it started).
type Owner struct {
	// PID is the owning process's id.
	PID int `json:"pid"`
	// Command is what the process is, e.g. "bulkassign run".
	Command string `json:"command"`
	// Started is when the process took the directory (UTC).
	Started time.Time `json:"started"`
	// URL is where its server accepts clients, e.g. "nats://127.0.0.1:40123".
	URL string `json:"url,omitempty"`
	// ServerID is the server's id (new at every start), which the server
	// announces to every client before anything else is sent.
	ServerID string `json:"server_id,omitempty"`
}

// String names the owning process for messages: "bulkassign run (pid
// 4242)", or "another process" when nothing is known.
func (o Owner) String() string {
	if o.PID == 0 {
		return "another process"
	}
	return o.Command + " (pid " + strconv.Itoa(o.PID) + ")"
}

// ReadOwner reads dir's owner file. A missing file is an error wrapping
// os.ErrNotExist. The file may be left over by a process that was killed:
// only the lock says whether a process owns dir now.
func ReadOwner(dir string) (Owner, error) {
	var o Owner
	data, err := os.ReadFile(filepath.Join(dir, ownerFileName))
	if err != nil {
		return o, fmt.Errorf("owner of data dir %s: %w", dir, err)
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return o, fmt.Errorf("owner of data dir %s: %s: %w", dir, ownerFileName, err)
	}
	return o, nil
}

func writeOwner(dir string, o Owner) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, ownerFileName, append(data, '\n'))
}

// removeOwner removes dir's owner file; a missing file is fine.
func removeOwner(dir string) {
	_ = os.Remove(filepath.Join(dir, ownerFileName))
}

// writeFileAtomic writes name in dir with mode 0600 through a temporary
// file and a rename, so that readers see the old content or the new, never
// a part.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
