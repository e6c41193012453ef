package graph

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// test closes its httptest servers and its clients' idle connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
