package api

import (
	"errors"
	"fmt"
	"net"
)

// ErrExposed is wrapped by [CheckExposure]'s error.
var ErrExposed = errors.New("refusing to serve the HTTP API without a token beyond loopback")

// CheckExposure is the rule "bulkassign serve" starts by: the API may
// listen on addr (host:port) without a token only on a loopback address
// (127.0.0.0/8, ::1, localhost), unless insecureNoAuth says otherwise. An
// empty addr (no API) passes. A host name other than localhost, and an
// empty host (every interface), are not loopback.
func CheckExposure(addr string, hasToken, insecureNoAuth bool) error {
	if addr == "" || hasToken || insecureNoAuth || loopback(addr) {
		return nil
	}
	return fmt.Errorf("%w: %s is reachable from other hosts; set --api-token or --api-token-file (or, knowing that anyone who reaches it can create and undo imports, --insecure-no-auth)", ErrExposed, addr)
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
