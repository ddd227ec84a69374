package health

import (
	"fmt"
	"strconv"
	"strings"
)

// Matcher says which HTTP status codes pass a check, as an ALB target
// group's matcher does: "200", "200,202" or "200-299".
type Matcher struct {
	ranges [][2]int
}

// ParseMatcher parses a matcher expression. Codes must lie in 100..599.
func ParseMatcher(s string) (Matcher, error) {
	var m Matcher
	if strings.TrimSpace(s) == "" {
		return m, fmt.Errorf("matcher is empty")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		from, err := parseCode(lo)
		if err != nil {
			return Matcher{}, err
		}
		to := from
		if isRange {
			if to, err = parseCode(hi); err != nil {
				return Matcher{}, err
			}
			if to < from {
				return Matcher{}, fmt.Errorf("matcher range %q runs backwards", part)
			}
		}
		m.ranges = append(m.ranges, [2]int{from, to})
	}
	return m, nil
}

// MustMatcher is ParseMatcher for expressions known to be valid.
func MustMatcher(s string) Matcher {
	m, err := ParseMatcher(s)
	if err != nil {
		panic(err)
	}
	return m
}

func parseCode(s string) (int, error) {
	code, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || code < 100 || code > 599 {
		return 0, fmt.Errorf("%q is not an HTTP status code (100-599)", s)
	}
	return code, nil
}

// Match reports whether code passes.
func (m Matcher) Match(code int) bool {
	for _, r := range m.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}
