// Package ledger proves what a database lost: it writes uniquely numbered
// rows through a URL (normally a writer endpoint) at a bounded rate for a
// bounded time, remembers which commits were acknowledged, and after a
// fault reads the rows back to report every acknowledged write that is
// missing and the RPO, in writes and in seconds.
package ledger
