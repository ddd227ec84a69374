//go:build !race

package route53

const raceEnabled = false
