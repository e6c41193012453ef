package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/jobs"
	"github.com/bulkassign/bulkassign/natsembed"
	"github.com/bulkassign/bulkassign/redact"
)

// BackendConfig says how to reach JetStream and open the store.
type BackendConfig struct {
	// URL is an external NATS server or cluster; empty: the embedded
	// server of Embedded.DataDir. Default empty.
	URL string
	// Embedded configures the embedded server (data directory, listen
	// address, owner name). Unused with URL.
	Embedded natsembed.Config
	// Provision is for processes that run workers (run, serve): they own
	// the data directory (waiting while another process does, see
	// OnWait) and create or update the store's topology
	// ([jobs.Provision]). Without it the process joins the server that owns
	// the data directory, or runs it for its own duration, and only looks
	// the store up ([jobs.Open]). Default false.
	Provision bool
	// Store configures the store; LocalStoreDir is set to the data
	// directory when the server is the embedded one.
	Store jobs.Config
	// OnWait, when set, is called while another process owns the data
	// directory (Provision only), as natsembed.StartWhenFree calls it.
	OnWait func(natsembed.Owner)
	// Logger receives debug records of where the store is. Default:
	// discard.
	Logger *slog.Logger
}

// Backend is an open connection to JetStream, the store on it, and the
// embedded server when this process runs it.
type Backend struct {
	// Server is the embedded server this process runs; nil when it runs
	// none (an external NATS, or one another process runs).
	Server *natsembed.Server
	// Conn is the connection to NATS.
	Conn *nats.Conn
	// Store is the job store.
	Store  *jobs.Store
	closed chan struct{} // closed when Conn is closed
}

// drainTimeout bounds the wait for the connection's drain on Close.
const drainTimeout = 5 * time.Second

// OpenBackend connects to NATS as cfg says and opens the store.
func OpenBackend(ctx context.Context, cfg BackendConfig) (*Backend, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name("bulkassign"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
	dir := cfg.Embedded.DataDir
	var err error
	switch {
	case cfg.URL != "":
		if b.Conn, err = nats.Connect(cfg.URL, opts...); err != nil {
			var ue *neturl.Error
			if errors.As(err, &ue) {
				err = ue.Err // it quotes the URL, credentials included
			}
			err = fmt.Errorf("connect to NATS at %s: %w", redact.URL(cfg.URL), err)
		}
	case cfg.Provision:
		if b.Server, err = natsembed.StartWhenFree(ctx, cfg.Embedded, cfg.OnWait); err != nil {
			return nil, fmt.Errorf("start embedded NATS: %w", err)
		}
		log.Debug("embedded NATS started", slog.String("url", b.Server.ClientURL()), slog.String("data_dir", dir))
		b.Conn, err = b.Server.Connect(opts...)
	default:
		if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("no bulkassign store in data dir %s (it does not exist); start `bulkassign serve` or `run` first", dir)
		}
		b.Server, b.Conn, err = natsembed.Attach(ctx, cfg.Embedded, opts...)
		if err == nil {
			log.Debug("connected to the embedded NATS of the data dir", slog.String("data_dir", dir),
				slog.String("url", b.Conn.ConnectedUrlRedacted()), slog.Bool("joined", b.Server == nil))
		}
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	open := jobs.Open
	if cfg.Provision {
		open = jobs.Provision
	}
	storeCfg := cfg.Store
	if cfg.URL == "" {
		storeCfg.LocalStoreDir = dir // our embedded server's, or the one that owns it
	}
	if b.Store, err = open(ctx, b.Conn, storeCfg); err != nil {
		b.Close()
		if errors.Is(err, jobs.ErrNoStore) {
			return nil, fmt.Errorf("%w; start `bulkassign serve` or `run` first", err)
		}
		return nil, fmt.Errorf("open JetStream store: %w", err)
	}
	return b, nil
}

// Close drains the connection (pending publishes and acknowledgements are
// flushed), then stops the embedded server, last. Safe to call twice.
func (b *Backend) Close() {
	if b.Conn != nil {
		if err := b.Conn.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-time.After(drainTimeout):
			}
		}
		b.Conn.Close()
	}
	if b.Server != nil {
		b.Server.Shutdown()
	}
}
