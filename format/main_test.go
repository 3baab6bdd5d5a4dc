package format

import (
	"testing"

	"go.uber.org/goleak"
)

// The yaml decoder parses on every core; none of its goroutines may
// outlive a call.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
