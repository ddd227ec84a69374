// Package drill runs game-day drills: it drives load that behaves like real
// clients against a stack, injects a fault through a controller, and
// measures what users saw — recovery time, errors, latency, the DNS switch,
// lost writes — against the stack's objectives.
package drill
