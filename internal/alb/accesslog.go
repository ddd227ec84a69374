package alb

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

const (
	// accessFlushEvery is how often buffered access log lines are written.
	accessFlushEvery = 200 * time.Millisecond
	// accessFlushSize makes a write start early when this much is buffered.
	accessFlushSize = 64 << 10
	// accessMaxBuffer is where lines are dropped, counted, rather than
	// buffered without end behind a writer that does not keep up.
	accessMaxBuffer = 8 << 20
)

// accessLog buffers JSON lines and writes them in batches, off the request
// path: a request appends its line under a short lock, and a writer
// goroutine, started by Serve, hands the batches to the io.Writer.
type accessLog struct {
	w   io.Writer
	log *slog.Logger

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	dropped int
	kick    chan struct{}
	// wmu serialises writes to w.
	wmu     sync.Mutex
	failing bool
}

func newAccessLog(w io.Writer, log *slog.Logger) *accessLog {
	return &accessLog{w: w, log: log, kick: make(chan struct{}, 1)}
}

// add appends one complete line.
func (a *accessLog) add(line []byte) {
	a.mu.Lock()
	if len(a.buf)+len(line) > accessMaxBuffer {
		a.dropped++
		a.mu.Unlock()
		return
	}
	a.buf = append(a.buf, line...)
	full := len(a.buf) >= accessFlushSize
	a.mu.Unlock()
	if full {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// run writes batches until ctx is done, then writes what is left.
func (a *accessLog) run(ctx context.Context) {
	tick := time.NewTicker(accessFlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.flush()
			return
		case <-tick.C:
		case <-a.kick:
		}
		a.flush()
	}
}

// flush writes everything buffered so far.
func (a *accessLog) flush() {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	batch := a.buf
	a.buf = a.spare[:0]
	dropped := a.dropped
	a.dropped = 0
	a.mu.Unlock()
	if len(batch) > 0 {
		_, err := a.w.Write(batch)
		switch {
		case err != nil && !a.failing:
			a.failing = true
			a.log.Warn("access log: write failed; lines are lost until it works again", "err", err)
		case err == nil && a.failing:
			a.failing = false
			a.log.Info("access log: writing again")
		}
	}
	if dropped > 0 {
		a.log.Warn("access log: writer too slow, lines dropped", "dropped", dropped)
	}
	a.mu.Lock()
	if cap(batch) <= 4*accessFlushSize {
		a.spare = batch[:0]
	} else {
		a.spare = nil
	}
	a.mu.Unlock()
}

// logEntry is what one access log line records.
type logEntry struct {
	start     time.Time // the request head was read
	sent      time.Time // the request was sent to the target; zero if never
	answered  time.Time // the response head arrived from the target; zero if none
	end       time.Time // the response was written
	client    string
	method    []byte
	path      []byte
	status    int
	target    *target
	received  int64 // bytes read from the client
	sentBytes int64 // bytes written to the client
	id        []byte
	retried   bool
	err       string // why the load balancer answered itself
}

// appendJSON appends e as one JSON line. Field names follow ALB access
// logs where there is an equivalent; a processing time is -1 when that
// step did not happen, as in ALB logs.
func (e *logEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","client":`...)
	b = appendJSONString(b, e.client)
	b = append(b, `,"method":`...)
	b = appendJSONBytes(b, e.method)
	b = append(b, `,"path":`...)
	b = appendJSONBytes(b, e.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"target":`...)
	if e.target != nil {
		b = appendJSONString(b, e.target.id)
		b = append(b, `,"target_addr":`...)
		b = appendJSONString(b, e.target.addr)
	} else {
		b = append(b, `"","target_addr":""`...)
	}
	reqT, targetT, respT := -1.0, -1.0, -1.0
	switch {
	case !e.answered.IsZero():
		reqT = e.sent.Sub(e.start).Seconds()
		targetT = e.answered.Sub(e.sent).Seconds()
		respT = e.end.Sub(e.answered).Seconds()
	case !e.sent.IsZero():
		reqT = e.sent.Sub(e.start).Seconds()
	}
	b = append(b, `,"request_processing_time":`...)
	b = strconv.AppendFloat(b, reqT, 'f', 6, 64)
	b = append(b, `,"target_processing_time":`...)
	b = strconv.AppendFloat(b, targetT, 'f', 6, 64)
	b = append(b, `,"response_processing_time":`...)
	b = strconv.AppendFloat(b, respT, 'f', 6, 64)
	b = append(b, `,"duration":`...)
	b = strconv.AppendFloat(b, e.end.Sub(e.start).Seconds(), 'f', 6, 64)
	b = append(b, `,"received_bytes":`...)
	b = strconv.AppendInt(b, e.received, 10)
	b = append(b, `,"sent_bytes":`...)
	b = strconv.AppendInt(b, e.sentBytes, 10)
	b = append(b, `,"request_id":`...)
	b = appendJSONBytes(b, e.id)
	b = append(b, `,"retried":`...)
	b = strconv.AppendBool(b, e.retried)
	b = append(b, `,"error":`...)
	b = appendJSONString(b, e.err)
	return append(b, "}\n"...)
}

// appendJSONString is appendJSONBytes for a string, without copying it:
// the bytes are only read.
func appendJSONString(b []byte, s string) []byte {
	return appendJSONBytes(b, unsafe.Slice(unsafe.StringData(s), len(s)))
}

func appendJSONBytes(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = appendEscaped(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendEscaped(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	default:
		const hex = "0123456789abcdef"
		return append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
	}
}
