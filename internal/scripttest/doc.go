// Package scripttest tests the repository's test command, scripts/test.sh;
// it has no code of its own besides this comment.
//
// The tests run the script in its dry-run mode (TENANTAUTH_TEST_DRYRUN=1:
// detection, plan and skip/fail decision only, no go test), with a PATH
// built to lack node, or to hold a fake node of a chosen version, and check
// that a suite that cannot run is named as skipped, and that it fails the
// run under TENANTAUTH_REQUIRE_ALL=1 (what CI sets in .ci/run).
package scripttest
