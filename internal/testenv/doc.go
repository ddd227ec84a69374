// Package testenv lets a test declare what it needs of the machine
// (PostgreSQL, MariaDB, Chromium, the right to change the packet filter):
// missing, the test is skipped with the reason, or fails when the
// matching HASTACK_REQUIRE_* variable is 1, as in `make test` and CI, so
// a test run never passes by quietly testing nothing.
package testenv
