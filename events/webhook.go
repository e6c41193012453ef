package events

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/bulkassign/bulkassign/redact"
)

// Headers of a webhook POST.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
	// keyed with the webhook's secret.
	SignatureHeader = "X-Bulkassign-Signature"
	// EventHeader names the event ("started", "finished").
	EventHeader = "X-Bulkassign-Event"
)

// WebhookConfig configures a [Webhook]. URL and Secret are required.
type WebhookConfig struct {
	// URL receives a POST of every event's JSON.
	URL string
	// Secret keys the body's signature. It never appears in logs or
	// errors.
	Secret []byte
	// Queue bounds the events waiting to be sent; past it new events are
	// dropped (and logged), so that sending never blocks. Default 1024.
	Queue int
	// Attempts bounds the POSTs of one event. Default 8.
	Attempts int
	// BaseDelay is the wait after the first failed POST, doubled after
	// each further failure up to MaxDelay, each wait between half and all
	// of it (jitter). Defaults 500 ms and 30 s.
	BaseDelay, MaxDelay time.Duration
	// Timeout bounds one POST. Default 10 s.
	Timeout time.Duration
	// Client sends the POSTs. Default: a new http.Client.
	Client *http.Client
	// Logger receives failures (with the URL's credentials masked).
	// Default: discard.
	Logger *slog.Logger
}

// Webhook POSTs events to a URL from its own goroutine ([Webhook.Run]):
// [Webhook.Send] only queues.
type Webhook struct {
	cfg   WebhookConfig
	log   *slog.Logger
	queue chan delivery
}

type delivery struct {
	event string
	body  []byte
}

// NewWebhook returns a Webhook; Run sends what Send queues.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.URL == "" {
		return nil, errors.New("webhook: no URL")
	}
	if u, err := neturl.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: URL %s: want http:// or https:// and a host", redact.URL(cfg.URL))
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("webhook: no secret")
	}
	cfg.Queue = cmp.Or(cfg.Queue, 1024)
	cfg.Attempts = cmp.Or(cfg.Attempts, 8)
	cfg.BaseDelay = cmp.Or(cfg.BaseDelay, 500*time.Millisecond)
	cfg.MaxDelay = cmp.Or(cfg.MaxDelay, 30*time.Second)
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Queue < 1 || cfg.Attempts < 1 || cfg.BaseDelay <= 0 || cfg.MaxDelay < cfg.BaseDelay || cfg.Timeout <= 0 {
		return nil, errors.New("webhook: queue, attempts, delays and timeout must be positive (max delay at least the base delay)")
	}
	return &Webhook{cfg: cfg, log: cfg.Logger, queue: make(chan delivery, cfg.Queue)}, nil
}

// Sign returns the signature header value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send queues event's body without blocking; it reports false when the
// queue is full and the event was dropped.
func (w *Webhook) Send(event string, body []byte) bool {
	select {
	case w.queue <- delivery{event: event, body: body}:
		return true
	default:
		w.log.Warn("webhook queue full; event dropped", slog.String("url", redact.URL(w.cfg.URL)), slog.String("event", event))
		return false
	}
}

// Run sends the queued events, one at a time, each retried as configured,
// until ctx ends; the events still queued then are dropped.
func (w *Webhook) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if n := len(w.queue); n > 0 {
				w.log.Warn("webhook stopped; events not sent", slog.Int("events", n))
			}
			return
		case d := <-w.queue:
			w.deliver(ctx, d)
		}
	}
}

// deliver POSTs d until it is accepted (2xx), refused for good (another
// 4xx than 408 and 429), the attempts run out or ctx ends.
func (w *Webhook) deliver(ctx context.Context, d delivery) {
	delay := w.cfg.BaseDelay
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, d)
		if err == nil {
			return
		}
		if !retry || attempt == w.cfg.Attempts || ctx.Err() != nil {
			w.log.Error("webhook: event not delivered", slog.String("url", redact.URL(w.cfg.URL)),
				slog.String("event", d.event), slog.Int("attempts", attempt), slog.Any("error", err))
			return
		}
		wait := delay/2 + rand.N(delay/2+1) // jitter: half to all of it
		w.log.Warn("webhook: POST failed; retrying", slog.String("url", redact.URL(w.cfg.URL)),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("error", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, w.cfg.MaxDelay)
	}
}

// post makes one POST; retry says whether a failure may succeed later.
func (w *Webhook) post(ctx context.Context, d delivery) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(d.body))
	if err != nil {
		return false, errors.New("webhook: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, d.body))
	req.Header.Set(EventHeader, d.event)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // it quotes the URL, credentials included
		}
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return true, fmt.Errorf("status %d", code)
	default:
		return false, fmt.Errorf("status %d", code)
	}
}
