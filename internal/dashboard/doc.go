// Package dashboard serves a running stack's live web page: the topology as
// a picture, charts of the last 15 minutes, the operator's actions behind a
// per-stack token, and the stack's Prometheus metrics. It reads the stack
// through a Source and acts through an Actor; it decides nothing about the
// stack itself.
package dashboard
