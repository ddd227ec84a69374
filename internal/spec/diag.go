package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Error is a stack file that failed to parse or validate. It carries every
// problem found, not only the first.
type Error struct {
	Diags hcl.Diagnostics
}

// Error returns every diagnostic, one per line, as FILE:LINE:COL: SENTENCE.
func (e *Error) Error() string {
	return FormatDiagnostics(e.Diags)
}

// FormatDiagnostics renders diagnostics one per line as
// "FILE:LINE:COL: SENTENCE", using each diagnostic's subject range. A
// diagnostic without a subject is rendered as its sentence alone, and a
// warning's sentence starts with "warning: ".
func FormatDiagnostics(diags hcl.Diagnostics) string {
	lines := make([]string, 0, len(diags))
	for _, diag := range diags {
		lines = append(lines, formatDiagnostic(diag))
	}
	return strings.Join(lines, "\n")
}

func formatDiagnostic(diag *hcl.Diagnostic) string {
	msg := diag.Summary
	if diag.Detail != "" {
		// HCL's own diagnostics have a short title and a sentence of detail.
		msg += ": " + diag.Detail
	}
	msg = strings.ReplaceAll(msg, "\n", " ")
	if diag.Severity == hcl.DiagWarning {
		msg = "warning: " + msg
	}
	if diag.Subject == nil {
		return msg
	}
	s := diag.Subject
	return fmt.Sprintf("%s:%d:%d: %s", s.Filename, s.Start.Line, s.Start.Column, msg)
}

// tidy drops repeated diagnostics (a shared block is decoded once per
// region) and orders the rest by position in the file.
func tidy(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := make(map[string]bool, len(diags))
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, diag := range diags {
		key := formatDiagnostic(diag)
		if diag.Subject != nil {
			key = diag.Subject.String() + " " + key
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, diag)
	}
	slices.SortStableFunc(out, func(a, b *hcl.Diagnostic) int {
		return cmp.Compare(offset(a), offset(b))
	})
	return out
}

// offset orders diagnostics: those without a position first, then by byte
// offset in the file.
func offset(diag *hcl.Diagnostic) int {
	if diag.Subject == nil {
		return -1
	}
	return diag.Subject.Start.Byte
}
