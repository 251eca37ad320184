package e2e

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/childproc"
)

// TestMain runs the tests, or, in a copy of this test binary that a test
// started with internal/childproc, the role it was started in.
func TestMain(m *testing.M) {
	childproc.Main(m, map[string]func() error{
		aud18ChildRole: runAUD18Child, // TestAUD18_AppKilledUnderRefreshLoad's app
	})
}
