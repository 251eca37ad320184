// Package webhook is the wire format of the identity server's revocation
// events to the apps (scenario S10) and the Receiver, an http.Handler an app
// mounts to learn that a user's tokens were revoked so it can end that
// user's sessions. It imports nothing of Gatehouse, so an app that receives
// events does not link the identity server; the sender lives on the IdP
// side (package idp/webhooksender).
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
// tampering and replays. The ids are kept by a SeenStore: in memory by
// default, in the app's database when a replay must be refused after a
// restart too. The secret is the application's WebhookSecret. Event ids
// are stable across retries and targets, so receivers can treat a repeated
// id as already handled.
//
// A revocation of many refresh-token families travels as several events of
// at most MaxIDsPerEvent ids each; a receiver that still answers 413 gets
// the event in halves with ids "<id>.1" and "<id>.2" (recursively). A
// revocation event without ids means every family of the user ended.
//
// It owns the format, signing and verification; it does not own delivery
// (idp/webhooksender), what an app does with an event (package appkit's
// EndUserSessions, wired by the app) or where webhook URLs and secrets are
// configured (the IdP's application store).
package webhook
