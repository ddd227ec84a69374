package webapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

const (
	// shutdownTimeout bounds the graceful shutdown once ctx is done.
	shutdownTimeout = 5 * time.Second
	// maxHeaderBytes bounds a request's head: a longer one gets 431.
	maxHeaderBytes = 64 << 10
)

// settings are read from the environment:
//
//	HASTACK_LISTEN       host:port to serve on (required)
//	HASTACK_REGION       region name for answers and headers
//	HASTACK_AZ           availability zone
//	HASTACK_INSTANCE_ID  instance id
//	DATABASE_URL         writer endpoint (postgres:// or mysql:// URL); none disables the database
//	DATABASE_READ_URL    reader endpoint (default DATABASE_URL)
type settings struct {
	listen, region, az, instance string
	writerURL, readerURL         string
}

func readSettings(env func(string) string) (settings, error) {
	s := settings{
		listen:    env("HASTACK_LISTEN"),
		region:    orUnknown(env("HASTACK_REGION")),
		az:        orUnknown(env("HASTACK_AZ")),
		instance:  orUnknown(env("HASTACK_INSTANCE_ID")),
		writerURL: env("DATABASE_URL"),
		readerURL: env("DATABASE_READ_URL"),
	}
	if s.listen == "" {
		return s, errors.New("HASTACK_LISTEN is not set; it must name the host:port to serve on")
	}
	if s.readerURL == "" {
		s.readerURL = s.writerURL
	}
	return s, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Run serves the application on $HASTACK_LISTEN until ctx is done, then
// shuts down gracefully. It listens at once and does not need the
// database to be up: connections are made when a request needs one.
// Log lines go to logOut as JSON.
func Run(ctx context.Context, env func(string) string, logOut io.Writer) error {
	s, err := readSettings(env)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(logOut, nil)).With(
		"region", s.region, "az", s.az, "instance", s.instance)
	a, err := newApp(s, log)
	if err != nil {
		return err
	}
	defer a.close()

	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.listen, err)
	}
	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "address", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", s.listen, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
		<-served
		return fmt.Errorf("shutting down: %w", err)
	}
	<-served // http.ErrServerClosed
	return nil
}
