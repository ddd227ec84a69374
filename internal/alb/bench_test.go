package alb

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

// BenchmarkProxy measures keep-alive requests through the load balancer to
// two healthy targets, client and backends included.
func BenchmarkProxy(b *testing.B) {
	b1, b2 := newBackend(b, "b1"), newBackend(b, "b2")
	lb := newLB(b, fastLB(), nil)
	url := serve(b, lb) + "/"
	lb.Register("b1", b1.addr())
	lb.Register("b2", b2.addr())
	waitFor(b, "both healthy", func() bool { return lb.HealthyCount() == 2 })
	c := client(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkProxyRaw measures the load balancer alone: one keep-alive
// client and a target that allocate nothing, so allocs/op are the load
// balancer's.
func BenchmarkProxyRaw(b *testing.B) {
	rc := newRawClient(b, rawLB(b))
	b.ReportAllocs()
	for b.Loop() {
		if err := rc.get(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyChunked measures relaying a small chunked body with an
// extension and a trailer.
func BenchmarkCopyChunked(b *testing.B) {
	const body = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n"
	src := strings.NewReader(body)
	br := bufio.NewReader(src)
	bw := bufio.NewWriter(io.Discard)
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(body)
		br.Reset(src)
		if _, err := copyChunked(bw, br, noFlush, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLivenessCheck measures the check a pooled target connection
// gets before each reuse.
func BenchmarkLivenessCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	p := newPool(ln.Addr().String(), &net.Dialer{})
	u, _, err := p.get(true)
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	if peer := <-accepted; peer != nil {
		defer peer.Close()
	}
	b.ReportAllocs()
	for b.Loop() {
		if !u.alive() {
			b.Fatal("idle connection not alive")
		}
	}
}
