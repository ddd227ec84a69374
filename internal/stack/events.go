package stack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// Event is one line of the stack's event log.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// eventLog appends events to events.jsonl and keeps the latest in memory.
type eventLog struct {
	mu     sync.Mutex
	f      *os.File
	recent []Event
	logger *slog.Logger
}

const recentEvents = 200

func openEventLog(path string, logger *slog.Logger) (*eventLog, error) {
	f, err := OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("opening event log: %w", err)
	}
	return &eventLog{f: f, logger: logger}, nil
}

// Add records an event now. It suits the components' OnEvent hooks.
func (l *eventLog) Add(kind, message string) {
	e := Event{Time: time.Now().UTC(), Kind: kind, Message: message}
	l.logger.Info(message, "event", kind)
	b, _ := json.Marshal(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent = append(l.recent, e)
	if len(l.recent) > recentEvents {
		l.recent = l.recent[len(l.recent)-recentEvents:]
	}
	if l.f != nil {
		_, _ = l.f.Write(append(b, '\n'))
	}
}

func (l *eventLog) Recent() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.recent...)
}

func (l *eventLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.f.Close()
	l.f = nil
	return err
}

// ReadEvents reads a stack's event log; a missing log is empty.
func ReadEvents(p Paths) ([]Event, error) {
	f, err := os.OpenFile(p.Events(), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}
