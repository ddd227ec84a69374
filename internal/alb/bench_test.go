package alb

import (
	"io"
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
