package webapp

import (
	"fmt"
	"log/slog"
	"net/http"
)

// app is the application's state shared by its handlers.
type app struct {
	settings
	log *slog.Logger
	// writer and reader are nil when no database is configured; they are
	// the same pool when both endpoints are the same.
	writer, reader *db
}

func newApp(s settings, log *slog.Logger) (*app, error) {
	a := &app{settings: s, log: log}
	if s.writerURL == "" {
		return a, nil
	}
	from := sourceAddr(s.listen)
	var err error
	if a.writer, err = openDB(s.writerURL, from); err != nil {
		return nil, fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	a.reader = a.writer
	if s.readerURL != s.writerURL {
		if a.reader, err = openDB(s.readerURL, from); err != nil {
			return nil, fmt.Errorf("parsing DATABASE_READ_URL: %w", err)
		}
	}
	return a, nil
}

func (a *app) close() {
	if a.writer != nil {
		a.writer.close()
	}
	if a.reader != nil && a.reader != a.writer {
		a.reader.close()
	}
}

// handler routes requests, bounds their bodies and stamps every response
// with who answered.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.hello)
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /cpu", a.cpu)
	mux.HandleFunc("PUT /kv/{key}", a.putKV)
	mux.HandleFunc("GET /kv/{key}", a.getKV)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No handler needs more: a larger body is refused, not buffered.
		r.Body = http.MaxBytesReader(w, r.Body, maxValueBytes)
		h := w.Header()
		h.Set("X-Hastack-Region", a.region)
		h.Set("X-Hastack-AZ", a.az)
		h.Set("X-Hastack-Instance", a.instance)
		mux.ServeHTTP(w, r)
	})
}
