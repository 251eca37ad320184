package webhooksender_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// TestAUD8_FullBatchClaimsTheNextAtOnce: after a round that claimed a full
// batch, the sender claims again at once instead of waiting for the next
// poll, so a revocation announced in more messages than a batch (one per
// user for an application-wide revocation) reaches the apps without a
// poll interval per batch. Here the poll never comes (1 h) and no Publish
// wakes the sender: the backlog of 3 messages in batches of 1 is delivered
// by the claims that follow full batches alone (AUD-8).
func TestAUD8_FullBatchClaimsTheNextAtOnce(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "idp.db"))
	r := newRecv(t, testSecret, 0)
	app := createApp(t, st, testSecret, r.srv.URL)
	for i := range 3 {
		enqueue(t, st, webhook.Event{Type: webhook.EventUserDeactivate, UserID: fmt.Sprintf("u%d", i), ApplicationID: app})
	}
	newSender(t, st, nil, func(c *webhooksender.Config) { c.Batch, c.PollInterval = 1, time.Hour })
	eventually(t, "the whole backlog", func() bool { return len(r.Events()) == 3 })
}
