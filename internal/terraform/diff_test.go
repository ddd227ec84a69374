package terraform

import (
	"fmt"
	"strings"
)

// edit is one line that a diff removes ('-') or adds ('+').
type edit struct {
	op   byte
	line string
}

// diffLines is a longest-common-subsequence diff of two texts, line by line.
func diffLines(a, b string) []edit {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j] is the LCS length of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []edit
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, edit{'+', y[j]})
			j++
		default:
			out = append(out, edit{'-', x[i]})
			i++
		}
	}
	return out
}

func lineDiff(want, got string) string {
	var b strings.Builder
	for _, e := range diffLines(want, got) {
		fmt.Fprintf(&b, "%c %s\n", e.op, e.line)
	}
	return b.String()
}
