package natsembed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ErrStart is wrapped by [Start] when the server could not start (port in
// use, unusable data directory, JetStream not enabled).
var ErrStart = errors.New("embedded nats-server did not start")

// ErrDataDirLocked is wrapped (with [ErrStart]) when another embedded
// server, in this or another process, already uses the data directory:
// two servers writing one JetStream store would corrupt it.
var ErrDataDirLocked = errors.New("data directory in use by another embedded nats-server")

// Config configures an embedded nats-server with JetStream.
type Config struct {
	// DataDir is where JetStream keeps its files, next to the lock, the
	// credentials and the owner file. Required: nats-server silently falls
	// back to a temporary folder without one, and a queue that forgets its
	// jobs on restart is worse than no queue. Created (mode 0700) if needed.
	DataDir string
	// Host is the listen address. Default "127.0.0.1". Only clients with
	// the data directory's credentials can connect, wherever it listens.
	Host string
	// Port is the client port. 0 (the default) or -1: a random free port,
	// recorded in the owner file; otherwise this port.
	Port int
	// SyncAlways makes JetStream fsync every write before acknowledging
	// it. Default false. A single-node server writes every acknowledged
	// message to the operating system before the ack either way, so a
	// killed process (kill -9) loses nothing acknowledged; what SyncAlways
	// adds is surviving a machine or power failure, at a large cost in
	// publish throughput (see the package documentation, "Durability").
	SyncAlways bool
	// SyncInterval is how often JetStream fsyncs when SyncAlways is off.
	// Default nats-server's (2 minutes).
	SyncInterval time.Duration
	// StartTimeout bounds how long Start waits for the server to accept
	// connections, and how long Join and Attach wait for a starting owner
	// to become reachable. Default 10 s.
	StartTimeout time.Duration
	// Command names the owning process in the owner file, for the
	// messages of processes that wait for the directory (e.g.
	// "bulkassign run"). Default: the program's file name.
	Command string
	// MaxPayload is the largest message the server accepts, in bytes.
	// Default [DefaultMaxPayload] (8 MiB), raised from nats-server's 1 MB
	// so that an import request of 10,000 assignments (up to 4 MiB, see
	// package imports) fits in one message, and its kept copy in one KV
	// value. A larger publish fails at the client with "nats: maximum
	// payload exceeded".
	MaxPayload int32
	// Logger receives the server's log, at matching levels. Default: discard.
	Logger *slog.Logger
}

// DefaultMaxPayload is Config.MaxPayload's default: 8 MiB, the largest
// nats-server recommends.
const DefaultMaxPayload = 8 << 20

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Host = cmp.Or(c.Host, "127.0.0.1")
	c.MaxPayload = cmp.Or(c.MaxPayload, DefaultMaxPayload)
	c.StartTimeout = cmp.Or(c.StartTimeout, 10*time.Second)
	c.Command = cmp.Or(c.Command, filepath.Base(os.Args[0]))
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return c
}

func (c Config) validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("%w: DataDir is required", ErrStart)
	}
	if c.Port < -1 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrStart, c.Port)
	}
	if c.MaxPayload < 0 {
		return fmt.Errorf("%w: negative MaxPayload", ErrStart)
	}
	if c.SyncInterval < 0 {
		return fmt.Errorf("%w: negative SyncInterval", ErrStart)
	}
	return nil
}

// Server is a running embedded nats-server with JetStream, owning its
// data directory.
type Server struct {
	srv   *server.Server
	dir   string
	lock  *os.File
	owner Owner
	once  sync.Once
}

// Start starts an embedded nats-server with JetStream storing on
// cfg.DataDir and waits until it accepts connections. It locks the
// directory (a second server on it fails with [ErrDataDirLocked]), creates
// the credentials on first use, requires them from every client, and
// records itself in the owner file. It installs no signal handlers (the
// caller owns shutdown) and the server's fatal errors never exit the
// process: they make Start return an error wrapping [ErrStart].
func Start(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: cfg.DataDir, lock: lock, owner: Owner{PID: os.Getpid(), Command: cfg.Command, Started: time.Now().UTC()}}
	if err := s.start(cfg); err != nil {
		s.Shutdown()
		return nil, err
	}
	return s, nil
}

// start records the owner, then starts the server and records its
// address; the lock is held.
func (s *Server) start(cfg Config) error {
	if err := writeOwner(s.dir, s.owner); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	user, err := ensureCredentials(s.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT // nats-server's 0 would mean 4222
	}
	srv, err := server.NewServer(&server.Options{
		ServerName:   "bulkassign",
		Host:         cfg.Host,
		Port:         port,
		JetStream:    true,
		StoreDir:     cfg.DataDir,
		NoSigs:       true,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		MaxPayload:   cfg.MaxPayload,
		Nkeys:        []*server.NkeyUser{{Nkey: user}},
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	log := cfg.Logger
	sl := newServerLogger(log)
	ctx := context.Background()
	srv.SetLoggerV2(sl, log.Enabled(ctx, slog.LevelDebug), log.Enabled(ctx, levelTrace), false)
	srv.Start()
	s.srv = srv
	if err := waitReady(srv, sl, cfg.StartTimeout); err != nil {
		return err
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("%w: no client listener", ErrStart)
	}
	s.owner.URL = "nats://" + net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(addr.Port))
	s.owner.ServerID = srv.ID()
	if err := writeOwner(s.dir, s.owner); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	return nil
}

// dialHost is the address a client dials to reach a server listening on
// host: loopback for the unspecified addresses.
func dialHost(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::", "[::]":
		return "::1"
	}
	return host
}

// StartWhenFree is [Start] that waits while another process owns
// cfg.DataDir, calling waiting (when not nil) with what the owner file says
// about that process on every attempt, about four times a second: the
// caller decides what to show and how often. It returns ctx's error if ctx
// ends first.
func StartWhenFree(ctx context.Context, cfg Config, waiting func(Owner)) (*Server, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := Start(cfg)
		if !errors.Is(err, ErrDataDirLocked) {
			return s, err
		}
		if waiting != nil {
			o, _ := ReadOwner(cfg.DataDir) // unreadable: the zero Owner, "another process"
			waiting(o)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for data dir %s: %w", cfg.DataDir, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitReady waits for the server to accept connections, returning early
// with the server's own words when it reports a fatal error.
func waitReady(srv *server.Server, sl *serverLogger, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if srv.ReadyForConnections(50 * time.Millisecond) {
			if !srv.JetStreamEnabled() {
				return fmt.Errorf("%w: JetStream is not enabled%s", ErrStart, sl.fatalSuffix())
			}
			return nil
		}
		if msg := sl.fatal(); msg != "" {
			return fmt.Errorf("%w: %s", ErrStart, msg)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: not ready after %s", ErrStart, timeout)
		}
	}
}

// ClientURL is the URL clients dial, e.g. "nats://127.0.0.1:40123", with
// the real port when Port was random. Connecting needs the credentials:
// use [Server.Connect].
func (s *Server) ClientURL() string { return s.owner.URL }

// Owner is what the owner file records about this server and process.
func (s *Server) Owner() Owner { return s.owner }

// DataDir is the directory the server owns.
func (s *Server) DataDir() string { return s.dir }

// Server returns the underlying server, for what this package does not
// wrap (its listen address, monitoring).
func (s *Server) Server() *server.Server { return s.srv }

// Connect connects to this server with the data directory's credentials;
// see [Connect] for what it checks and which options it sets.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return Connect(s.dir, s.ClientURL(), opts...)
}

// Shutdown stops the server and waits until it has stopped, flushing
// JetStream to disk, then removes the owner file and releases the data
// directory. Close client connections first. Safe to call more than once
// and concurrently.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		if s.srv != nil {
			s.srv.Shutdown()
			s.srv.WaitForShutdown()
		}
		removeOwner(s.dir)
		_ = s.lock.Close() // closing releases the lock
	})
}
