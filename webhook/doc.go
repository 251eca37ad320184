// Package webhook carries the identity server's revocation events to the
// apps (scenario S10): a Sender that the IdP publishes events to
// (idp.EventSink) and a Receiver, an http.Handler an app mounts to learn
// that a user's tokens were revoked so it can end that user's sessions.
//
// # Wire format
//
// A delivery is POST <url> with a JSON body in FusionAuth's webhook shape,
//
//	{"event":{"id":"…","type":"jwt.refresh-token.revoke","createInstant":1700000000000,
//	          "applicationId":"…","userId":"…","user":{"id":"…"},
//	          "refreshTokenIds":["…"],"reason":"reuse"}}
//
// and two headers:
//
//	X-Gatehouse-Timestamp: 1700000000                (Unix seconds)
//	X-Gatehouse-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The MAC covers the exact bytes of the body and the timestamp, so a
// receiver that checks the timestamp window (default 5 minutes) and
// remembers event ids it has handled within that window refuses both
// tampering and replays. The secret is the application's WebhookSecret.
// Event ids are stable across retries and targets, so receivers can treat
// a repeated id as already handled.
//
// # Delivery
//
// Publish never blocks: it puts the event on a bounded queue (and drops,
// with a log line, when the queue is full). A dispatcher resolves the
// targets — the WebhookURLs of the event's application, or of every
// application when the event has no ApplicationID — and each delivery is
// attempted with exponential backoff and jitter until it succeeds, gets a
// permanent refusal (a 4xx other than 408/425/429) or runs out of
// attempts. Close stops intake and drains what is queued, waiting at most
// until its context ends. Logs carry event type, ids and the target's
// scheme+host+path, never a secret, a signature or a query string.
//
// It owns the format, signing and delivery; it does not own what an app
// does with an event (package appkit's EndUserSessions, wired by the app)
// or where webhook URLs and secrets are configured (the IdP's application
// store).
package webhook
