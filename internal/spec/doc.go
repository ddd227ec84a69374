// Package spec parses, defaults and validates hastack stack files.
package spec
