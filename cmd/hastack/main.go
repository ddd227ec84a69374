// Command hastack runs a multi-region high-availability stack on one
// machine, breaks it on purpose and measures how it recovers.
package main

import (
	"os"

	"github.com/hastack/hastack/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
