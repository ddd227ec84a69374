// Package cli is hastack's command line: it parses flags, loads the stack
// file, talks to a running stack through its control socket and prints
// results for people (tables, progress) or for tools (--json).
package cli
