// Command hastackdns serves hastack's Route53-style DNS server on one
// address with a fixed answer, for bench/dns/run.sh to measure.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/hastack/hastack/internal/route53"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:15353", "UDP and TCP address")
	flag.Parse()
	srv := route53.NewServer(route53.Config{Zone: "example.com", Domain: "app.example.com", TTL: 60, NSAddr: netip.MustParseAddr("127.0.0.1")})
	srv.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx, pc, ln); err != nil {
		log.Fatal(err)
	}
}
