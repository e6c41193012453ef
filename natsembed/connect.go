package natsembed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNotOwner is wrapped (see [NotOwnerError]) when the server at an
// address is not the one that owns the data directory, or refuses the
// directory's credentials.
var ErrNotOwner = errors.New("NATS server does not own the data directory")

// errNotRecorded is returned when the owner file records no server (yet):
// the owner is starting or has just stopped, so Join tries again.
var errNotRecorded = errors.New("no running server is recorded for the data directory")

// ErrNoOwner is returned by [Join] when no process owns the data
// directory (any more): nothing to join; start a server instead.
var ErrNoOwner = errors.New("no process owns the data directory")

// NotOwnerError says which server was refused for which directory, and why.
type NotOwnerError struct {
	// Addr is the server's address as dialled, e.g. "127.0.0.1:4222".
	Addr string
	// Dir is the data directory.
	Dir string
	// Reason is what gave it away, in plain words.
	Reason string
}

// Error reads "the NATS server at 127.0.0.1:4222 does not own data dir D
// (reason)".
func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("the NATS server at %s does not own data dir %s (%s)", e.Addr, e.Dir, e.Reason)
}

// Is makes errors.Is(err, ErrNotOwner) true.
func (e *NotOwnerError) Is(target error) bool { return target == ErrNotOwner }

// Connect connects to serverURL as a client of dir's server. It
// authenticates with dir's credentials and, on the first connection and
// every reconnection, checks before sending anything that the server
// announces the id dir's owner file records; any other server is refused:
// the first connection fails with a [NotOwnerError], a reconnection fails
// and nats.go tries again. opts are applied first; Connect sets
// nats.Nkey and nats.SetCustomDialer itself.
func Connect(dir, serverURL string, opts ...nats.Option) (*nats.Conn, error) {
	kp, err := loadCredentials(dir)
	if err != nil {
		return nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("credentials of data dir %s: %w", dir, err)
	}
	d := &ownerDialer{dir: dir, dialer: net.Dialer{Timeout: 2 * time.Second}}
	all := append(slices.Clone(opts), nats.Nkey(pub, kp.Sign), nats.SetCustomDialer(d))
	nc, err := nats.Connect(serverURL, all...)
	if err == nil {
		return nc, nil
	}
	if refused := d.refusal(); refused != nil {
		return nil, refused
	}
	addr := hostPort(serverURL)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, &NotOwnerError{Addr: addr, Dir: dir, Reason: "it refused the data dir's credentials"}
	}
	return nil, fmt.Errorf("connect to the NATS server of data dir %s at %s: %w", dir, addr, err)
}

// hostPort returns the host:port of a NATS URL, for messages (no user info).
func hostPort(serverURL string) string {
	if u, err := url.Parse(serverURL); err == nil && u.Host != "" {
		return u.Host
	}
	return serverURL
}

// ownerDialer dials TCP and wraps each connection so that it checks the
// server's id before nats.go reads (or sends) anything else.
type ownerDialer struct {
	dir    string
	dialer net.Dialer

	mu      sync.Mutex
	refused error // the last refusal, for Connect's error
}

// Dial implements nats.CustomDialer.
func (d *ownerDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.dialer.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &ownerConn{Conn: c, check: func(serverID string) error { return d.check(address, serverID) }}, nil
}

// check compares the server's id with the one dir's owner file records now
// (a restarted owner records its new id before clients reconnect to it).
func (d *ownerDialer) check(addr, serverID string) error {
	o, err := ReadOwner(d.dir)
	var refused error
	switch {
	case err != nil || o.ServerID == "":
		refused = fmt.Errorf("data dir %s: %w", d.dir, errNotRecorded)
	case o.ServerID != serverID:
		refused = &NotOwnerError{Addr: addr, Dir: d.dir, Reason: "it is another server than the one " + o.String() + " started"}
	}
	d.mu.Lock()
	d.refused = refused
	d.mu.Unlock()
	return refused
}

func (d *ownerDialer) refusal() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

// maxInfoLine bounds the server's first protocol line (INFO), which
// nats-server keeps far below this.
const maxInfoLine = 1 << 20

// ownerConn is a client connection that reads the server's INFO line
// first and lets nats.go see it (and anything after) only once check has
// accepted the server id in it. nats.go reads a connection from one
// goroutine at a time.
type ownerConn struct {
	net.Conn
	check    func(serverID string) error
	checked  bool
	buffered []byte // read while checking, not yet handed to nats.go
}

// Read implements net.Conn.
func (c *ownerConn) Read(p []byte) (int, error) {
	if !c.checked {
		if err := c.readInfo(); err != nil {
			return 0, err
		}
		c.checked = true
	}
	if len(c.buffered) > 0 {
		n := copy(p, c.buffered)
		c.buffered = c.buffered[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// readInfo reads up to the end of the first line, which must be the
// server's INFO, and checks the server id in it.
func (c *ownerConn) readInfo() error {
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	for {
		if i := bytes.Index(buf, []byte("\r\n")); i >= 0 {
			c.buffered = buf
			return c.checkInfo(buf[:i])
		}
		if len(buf) > maxInfoLine {
			return errors.New("natsembed: the server's first line is too long for INFO")
		}
		n, err := c.Conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil && n == 0 {
			return err
		}
	}
}

func (c *ownerConn) checkInfo(line []byte) error {
	var info struct {
		ServerID string `json:"server_id"`
	}
	op, payload, _ := bytes.Cut(line, []byte(" "))
	if !bytes.EqualFold(op, []byte("INFO")) {
		return c.check("") // not a NATS server: refused as a stranger
	}
	if err := json.Unmarshal(payload, &info); err != nil {
		return fmt.Errorf("natsembed: unreadable INFO from the server: %w", err)
	}
	return c.check(info.ServerID)
}

// Join connects to the server of the process that owns dir, at serverURL
// or, when serverURL is empty, at the address the owner file records, and
// checks it as [Connect] does. The connection does not reconnect: when the
// owner stops, it closes. While the owner is still starting (or its
// server cannot be reached yet) Join tries again until wait has passed;
// a server that is not dir's owner is refused at once with a
// [NotOwnerError]. It returns [ErrNoOwner] when no process holds dir.
func Join(ctx context.Context, dir, serverURL string, wait time.Duration, opts ...nats.Option) (*nats.Conn, Owner, error) {
	deadline := time.Now().Add(wait)
	opts = append(slices.Clone(opts), nats.NoReconnect())
	for {
		o, err := ReadOwner(dir)
		if err == nil && o.ServerID != "" {
			nc, cerr := Connect(dir, cmp.Or(serverURL, o.URL), opts...)
			if cerr == nil {
				return nc, o, nil
			}
			if errors.Is(cerr, ErrNotOwner) {
				return nil, o, cerr
			}
			err = cerr
		} else if err == nil {
			err = fmt.Errorf("%s owns data dir %s but its server does not accept connections yet", o, dir)
		}
		if dataDirFree(dir) {
			return nil, o, fmt.Errorf("join data dir %s: %w", dir, ErrNoOwner)
		}
		if time.Now().After(deadline) {
			return nil, o, fmt.Errorf("join data dir %s after %s: %w", dir, wait, err)
		}
		select {
		case <-ctx.Done():
			return nil, o, fmt.Errorf("join data dir %s: %w", dir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Attach connects to dir's server: the one the owning process runs, joined
// as [Join] does (at cfg.Host:cfg.Port when Port is set, else at the
// recorded address), or, when no process owns cfg.DataDir, one it starts
// with cfg and returns: shut it down after closing the connection. It is
// what a short-lived command uses; one that must own the directory uses
// [StartWhenFree].
func Attach(ctx context.Context, cfg Config, opts ...nats.Option) (*Server, *nats.Conn, error) {
	cfg = cfg.withDefaults()
	joinURL := ""
	if cfg.Port > 0 {
		joinURL = "nats://" + net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(cfg.Port))
	}
	for {
		s, err := Start(cfg)
		if err == nil {
			nc, err := s.Connect(opts...)
			if err != nil {
				s.Shutdown()
				return nil, nil, err
			}
			return s, nc, nil
		}
		if !errors.Is(err, ErrDataDirLocked) {
			return nil, nil, err
		}
		nc, _, err := Join(ctx, cfg.DataDir, joinURL, cfg.StartTimeout, opts...)
		if errors.Is(err, ErrNoOwner) {
			continue // the owner stopped in between: start our own
		}
		return nil, nc, err
	}
}
