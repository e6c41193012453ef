//go:build !unix && !windows

package natsembed

import "os"

// lockFile is a no-op where the platform has no file locks (wasm, plan9).
func lockFile(*os.File) error { return nil }
