//go:build race

package route53

// raceEnabled: the race detector's sync.Pool drops a quarter of what is
// put back, so allocation counts mean nothing under -race; `make test`
// runs the allocation tests again without it.
const raceEnabled = true
