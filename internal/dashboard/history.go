package dashboard

import (
	"sort"
	"time"
)

// history keeps chart values for a window of time, one frame per sample,
// dropping the oldest frames once it holds capacity of them. It is not safe
// for concurrent use; the Server guards it.
type history struct {
	frames   []frame
	start    int // index of the oldest frame in frames once full
	capacity int
	// events are the markers' events within the window, oldest first.
	events []Event
	window time.Duration
}

type frame struct {
	at     time.Time
	values map[string]float64
}

func newHistory(window, step time.Duration) *history {
	n := int(window / step)
	return &history{capacity: max(n, 1), window: window}
}

// add appends a frame of points taken at t, and events seen by then.
func (h *history) add(t time.Time, pts []Point, events []Event) {
	f := frame{at: t, values: make(map[string]float64, len(pts))}
	for _, p := range pts {
		f.values[p.ID] = p.Value
	}
	if len(h.frames) < h.capacity {
		h.frames = append(h.frames, f)
	} else {
		h.frames[h.start] = f
		h.start = (h.start + 1) % h.capacity
	}
	h.events = append(h.events, events...)
	cut := t.Add(-h.window)
	i := sort.Search(len(h.events), func(i int) bool { return !h.events[i].Time.Before(cut) })
	h.events = h.events[i:]
}

// Columns is the history as the page's charts take it: one timestamp
// (Unix seconds) per frame, and per series its value at each frame (null
// where it had none).
type Columns struct {
	Times  []float64             `json:"t"`
	Series map[string][]*float64 `json:"series"`
	Events []Event               `json:"events"`
}

// columns lays the frames out oldest first.
func (h *history) columns() Columns {
	c := Columns{Times: make([]float64, 0, len(h.frames)), Series: map[string][]*float64{}, Events: append([]Event{}, h.events...)}
	n := len(h.frames)
	for i := range n {
		f := h.frames[(h.start+i)%n]
		c.Times = append(c.Times, float64(f.at.UnixMilli())/1000)
		for id, v := range f.values {
			col, ok := c.Series[id]
			if !ok {
				col = make([]*float64, n)
				c.Series[id] = col
			}
			col[i] = &v
		}
	}
	return c
}
