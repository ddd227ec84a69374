package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as a client of the control socket: with
// HASTACK_STACK_TEST_DIAL set to a socket's path it asks it for
// /v1/status and prints the status code and body, for tests that run it
// as another user.
func TestMain(m *testing.M) {
	if sock := os.Getenv("HASTACK_STACK_TEST_DIAL"); sock != "" {
		os.Exit(dialHelper(sock))
	}
	goleak.VerifyTestMain(m)
}

func dialHelper(sock string) int {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := c.Get("http://stack/v1/status")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	return 0
}
