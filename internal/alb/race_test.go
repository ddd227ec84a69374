//go:build race

package alb

// raceEnabled: built with -race, where sync.Pool drops items at random, so
// allocation counts say nothing.
const raceEnabled = true
