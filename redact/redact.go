// Package redact keeps secrets (bearer tokens, client secrets, passwords
// in URLs) out of text that is printed, logged or stored.
//
// Two ways, for two kinds of secret. A value known to be secret (a token, a
// client secret) is replaced wherever it occurs in a text by [String], but
// only from [MinLen] bytes on: replacing a one-character value would corrupt
// every message it occurs in ("Acc[redacted]ss tok[redacted]n") and reveal
// the value besides. The credentials in a URL are found by position, whatever
// their length, by [URL].
package redact

import (
	"io"
	"strings"
	"sync"
)

// MinLen is the length in bytes from which [String] treats a value as a
// secret. Real credentials are far longer (client secrets 40 characters,
// tokens over a thousand); shorter values are test stubs, and too common as
// substrings to replace without corrupting text.
const MinLen = 8

// Mask replaces a secret in text.
const Mask = "[redacted]"

// String returns s with every occurrence of each secret of at least
// [MinLen] bytes replaced by [Mask]. Shorter secrets are left alone.
func String(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= MinLen {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

// URL returns s, a URL or a comma-separated list of URLs (a NATS cluster),
// with the user information of each ("user:password@", or a token before
// "@") replaced by "***", also when s is not a valid URL. It may mask more
// than the user information when an "@" occurs later in a URL, never less.
func URL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if scheme, rest, at, ok := userInfo(p); ok {
			parts[i] = scheme + "://***" + rest[at:]
		}
	}
	return strings.Join(parts, ",")
}

// URLSecrets returns the user information of each URL in s (as [URL] finds
// it) and the password part of it, for a [Set].
func URLSecrets(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if _, rest, at, ok := userInfo(p); ok {
			info := rest[:at]
			out = append(out, info)
			if _, pass, ok := strings.Cut(info, ":"); ok {
				out = append(out, pass)
			}
		}
	}
	return out
}

// userInfo finds the user information of one URL: rest is what follows
// "scheme://", and rest[:at] the user information before the last "@".
func userInfo(u string) (scheme, rest string, at int, ok bool) {
	scheme, rest, found := strings.Cut(u, "://")
	if !found {
		return "", "", 0, false
	}
	at = strings.LastIndex(rest, "@")
	return scheme, rest, at, at >= 0
}

// Set is a growing set of secrets to keep out of text. The zero value is an
// empty set. It is safe for concurrent use.
type Set struct {
	mu      sync.RWMutex
	secrets []string
}

// Add adds secrets to the set; values shorter than [MinLen] are ignored.
func (s *Set) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		if len(sec) >= MinLen {
			s.secrets = append(s.secrets, sec)
		}
	}
}

// String returns text with the set's secrets replaced by [Mask].
func (s *Set) String(text string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return String(text, s.secrets...)
}

// Writer returns a writer that replaces the set's secrets in each write
// before passing it to w. A secret split across two writes is not found: it
// is a last line of defence for whole lines (log records, error messages),
// behind redaction where secrets are handled.
func (s *Set) Writer(w io.Writer) *Writer { return &Writer{w: w, set: s} }

// Writer is the writer of [Set.Writer].
type Writer struct {
	w   io.Writer
	set *Set
}

// Write writes p to the underlying writer with the set's secrets masked. It
// reports len(p) written when the masked text was written whole.
func (r *Writer) Write(p []byte) (int, error) {
	s := r.set.String(string(p))
	if len(s) == len(p) && s == string(p) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the underlying writer (to ask whether it is a terminal).
func (r *Writer) Unwrap() io.Writer { return r.w }
