// Package storetest is the conformance suite every Gatehouse IdP storage
// backend runs, modelled on Dex's storage/conformance: one Run function, one
// fresh store per subtest, and only the store.Store interface in sight, so
// the same suite holds SQLite and PostgreSQL to the same contract.
//
// It owns the executable form of the contracts documented in package store,
// and pins down the points store.go leaves implicit (listed in Run's doc).
// It owns no backend and contains no SQL; timing never decides a result.
package storetest

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Run runs the whole conformance suite. newStore must return a fresh, empty
// store for each call and register its own cleanup (t.Cleanup).
//
// Beyond what store.go states, the suite requires:
//   - single-record Get, Update, Delete, RetireSigningKey and
//     TouchRefreshToken of a missing record return ErrNotFound;
//   - creating a registration or refresh token (or recording a login
//     failure) for an unknown user or application returns ErrNotFound;
//   - e-mail addresses come back lower-cased (store.User.Email "stored
//     lower-cased"), with Unicode case folding, not ASCII only;
//   - nil and empty slices are interchangeable, JSON documents compare by
//     meaning (a backend may reformat them), times compare with Equal at
//     millisecond precision and zero times come back zero;
//   - DeleteExpiredRefreshTokens removes ExpiresAt <= now and clears the
//     successors of rotations strictly older than successorCutoff.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	for _, g := range suite() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.fn(t, newStore(t))
				})
			}
		})
	}
}

// testCase is one subtest: it gets its own empty store.
type testCase struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// group is one concern of the interface.
type group struct {
	name  string
	cases []testCase
}

// suite lists every subtest, grouped by concern (a function, not a package
// variable, so there is no package-level mutable state).
func suite() []group {
	return []group{
		{"Users", []testCase{
			{"CreateGetRoundTrip", testUserRoundTrip},
			{"ZeroValuesRoundTrip", testUserZeroValues},
			{"GetMissing", testUserGetMissing},
			{"GetByLogin", testUserByLogin},
			{"Duplicates", testUserDuplicates},
			{"EmptyEmailAndUsernameNotUnique", testUserEmptyNotUnique},
			{"Update", testUserUpdate},
			{"UpdateToTakenEmailOrUsername", testUserUpdateTaken},
			{"DeleteCascades", testUserDeleteCascades},
			{"ListOldestFirst", testUserList},
			{"ImportCommits", testImportUsersCommits},
			{"ImportAllOrNothing", testImportUsersAllOrNothing},
			{"UpdateFnAbortWritesNothing", testUserUpdateFnAbort},
			{"UpdateConcurrentNoLostUpdate", testUserUpdateConcurrent},
			{"LoginRaceDeactivationWins", testLoginRaceDeactivation},
			{"LoginThenDeactivation", testLoginThenDeactivation},
			{"LoginWithFamilyOneTransaction", testLoginWithFamily},
			{"LoginRaceConcurrent", testLoginRaceConcurrent},
			{"MultiFactorRoundTrip", testUserMultiFactor},
		}},
		{"LoginFailures", []testCase{
			{"ConsecutiveNoWindow", testLoginFailureConsecutive},
			{"Reset", testLoginFailureReset},
			{"PerUser", testLoginFailurePerUser},
			{"Concurrent", testLoginFailureConcurrent},
			{"UnknownUser", testLoginFailureUnknownUser},
		}},
		{"Applications", []testCase{
			{"CreateGetRoundTrip", testAppRoundTrip},
			{"GracePeriodNilVsZero", testAppGracePeriod},
			{"DuplicateAndMissing", testAppDuplicateMissing},
			{"Update", testAppUpdate},
			{"ListOldestFirst", testAppList},
			{"DeleteCascades", testAppDeleteCascades},
		}},
		{"Registrations", []testCase{
			{"CreateGetRoundTrip", testRegRoundTrip},
			{"PairUnique", testRegPairUnique},
			{"UnknownUserOrApplication", testRegUnknownRefs},
			{"Update", testRegUpdate},
			{"ListOldestFirst", testRegList},
			{"Delete", testRegDelete},
		}},
		{"APIKeys", []testCase{
			{"CreateLookupByHash", testAPIKeyLookup},
			{"Duplicates", testAPIKeyDuplicates},
			{"ListAndDelete", testAPIKeyListDelete},
			{"Permissions", testAPIKeyPermissions},
		}},
		{"SigningKeys", []testCase{
			{"RoundTripNewestFirst", testSigningKeyList},
			{"Retire", testSigningKeyRetire},
			{"DuplicateAndDelete", testSigningKeyDelete},
			{"SwapPrivateKey", testSigningKeySwap},
		}},
		{"RefreshTokens", []testCase{
			{"CreateGetRoundTrip", testRTRoundTrip},
			{"Duplicates", testRTDuplicates},
			{"UnknownUserOrApplication", testRTUnknownRefs},
			{"ListNewestFirst", testRTList},
			{"Rotate", testRTRotate},
			{"RotateChain", testRTRotateChain},
			{"RotateStaleHashConflicts", testRTRotateStale},
			{"RotateMissingFamily", testRTRotateMissing},
			{"RotateConcurrentExactlyOneWins_IDP-RT-5", testRTRotateConcurrent},
			{"Touch", testRTTouch},
			{"DeleteRemovesRotations", testRTDelete},
			{"DeleteByUser", testRTDeleteByUser},
			{"DeleteByApplication", testRTDeleteByApp},
			{"DeleteExpired", testRTDeleteExpired},
		}},
		{"Outbox_AUD-8", []testCase{
			{"RoundTripClaimReleaseComplete", testOutboxRoundTrip},
			{"LeaseExpiryGivesRowBack", testOutboxLeaseExpiry},
			{"TwoClaimersNeverShareARow", testOutboxClaimExclusive},
			{"AtomicWithDeletion", testOutboxAtomicWithDeletion},
		}},
		{"Tickets", []testCase{
			{"CreateGetRoundTrip", testTicketRoundTrip},
			{"DuplicateHash", testTicketDuplicate},
			{"KindIsANamespace", testTicketKindNamespace},
			{"ExpiryBoundary", testTicketExpiryBoundary},
			{"TakeOnce", testTicketTakeOnce},
			{"TakeConcurrentExactlyOneWins", testTicketTakeConcurrent},
			{"FailCountsAndDeletesAtMax", testTicketFail},
			{"DeleteByKinds", testTicketDeleteByKinds},
			{"CountSince", testTicketCount},
			{"DeleteExpired", testTicketDeleteExpired},
			{"DeletedWithUser", testTicketDeletedWithUser},
			{"WithoutUser", testTicketWithoutUser},
		}},
		{"Store", []testCase{
			{"Ping", testPing},
		}},
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
