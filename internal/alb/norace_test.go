//go:build !race

package alb

const raceEnabled = false
