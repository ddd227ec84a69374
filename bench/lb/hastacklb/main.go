// Command hastacklb runs one hastack load balancer (internal/alb) in front
// of the given backends, with health checks and Prometheus metrics on, as a
// region of a stack runs it, for the load balancer benchmark.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hastack/hastack/internal/alb"
	"github.com/hastack/hastack/internal/spec"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hastacklb:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	backends := flag.String("backends", "127.0.0.1:8081,127.0.0.1:8082", "comma-separated backend addresses")
	algorithm := flag.String("algorithm", alb.AlgorithmRoundRobin, "round_robin or least_outstanding_requests")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	dash := flag.String("dashboard", "", "also serve the stack dashboard and /metrics on this address")
	flag.Parse()

	reg := prometheus.NewRegistry()
	lb, err := alb.New(alb.Config{
		Name: "bench",
		LB: spec.LoadBalancer{
			Algorithm: *algorithm,
			HealthCheck: spec.TargetHealthCheck{
				Path:               "/health",
				Interval:           time.Second,
				Timeout:            time.Second,
				HealthyThreshold:   2,
				UnhealthyThreshold: 2,
				Matcher:            "200",
			},
		},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Metrics: alb.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- lb.Serve(ctx, ln) }()
	if *dash != "" {
		dashDone, err := serveDashboard(ctx, *dash, lb, reg)
		if err != nil {
			return err
		}
		defer func() { <-dashDone }()
	}

	addrs := strings.Split(*backends, ",")
	for i, a := range addrs {
		lb.Register(fmt.Sprintf("b%d", i+1), a)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lb.HealthyCount() < len(addrs) {
		if time.Now().After(deadline) {
			return fmt.Errorf("backends not healthy after 10s: %+v", lb.Targets())
		}
		select {
		case <-ctx.Done():
			return <-done
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Println("ready")
	return <-done
}
