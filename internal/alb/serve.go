package alb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Serve accepts HTTP on ln and runs the target health checks until ctx is
// done. Then it stops accepting, lets in-flight requests finish for a short
// grace period, cancels the rest and returns nil once every goroutine it
// started has ended. It always closes ln. It fails if the load balancer is
// already serving or ln stops accepting.
func (lb *LB) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		return fmt.Errorf("alb %s: serve: no listener", lb.name)
	}
	if !lb.serving.CompareAndSwap(false, true) {
		_ = ln.Close()
		return fmt.Errorf("alb %s: serve: already serving", lb.name)
	}
	defer lb.serving.Store(false)

	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		lb.fwdPort.Store(&[]string{port})
	}
	lb.startChecks(ctx)
	defer lb.stopChecks()

	// Requests get their own context, so the graceful shutdown can let them
	// finish and cancel them only when the grace period is over.
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	var conns sync.WaitGroup
	srv := &http.Server{
		Handler:           handler{lb: lb},
		ReadHeaderTimeout: 60 * time.Second,
		IdleTimeout:       60 * time.Second, // ALB's default idle timeout
		ErrorLog:          slog.NewLogLogger(lb.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				conns.Done()
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		served = nil
	}

	shutCtx, cancel := context.WithTimeout(context.Background(), lb.grace)
	if err := srv.Shutdown(shutCtx); err != nil {
		lb.log.Warn("graceful shutdown cut short: cancelling remaining requests", "grace", lb.grace)
	}
	cancel()
	cancelRequests()
	_ = srv.Close()
	if served != nil {
		<-served
	}
	// Every connection was accepted before Serve returned, so the count is final.
	conns.Wait()
	lb.transport.CloseIdleConnections()

	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("alb %s: serving: %w", lb.name, serveErr)
	}
	return nil
}
