package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// The event stream (GET /api/v1/events) tells browsers and tools what
// changed: new images, tags and heads that moved. Every write goes
// through this server, which looks at the store after each request that
// may write (poke) and every pollInterval while anyone listens, for what
// a long command committed on its way.

const (
	pollInterval = time.Second
	// recentWindow is how many of the newest images a look compares: new
	// images beyond it (an import of old ones) are told as one "reload".
	recentWindow = 256
)

// An event is one server-sent event.
type event struct {
	kind string
	data any
}

// hub watches the store for its listeners.
type hub struct {
	store *pf.Store

	mu      sync.Mutex
	subs    map[chan event]struct{}
	started bool
	state   storeState
	poked   chan struct{}
	// changed is called after a look that saw a change.
	changed func(context.Context)
}

// storeState is what a look at the store saw.
type storeState struct {
	images int64
	recent map[manifest.Digest]bool
	tags   map[string]manifest.Digest
	heads  map[string]pf.Head
}

func newHub(s *pf.Store) *hub {
	return &hub{store: s, subs: map[chan event]struct{}{}, poked: make(chan struct{}, 1)}
}

// poke asks for a look soon: a request that may have written ended.
func (h *hub) poke() {
	if h == nil {
		return
	}
	select {
	case h.poked <- struct{}{}:
	default:
	}
}

// subscribe adds a listener; cancel removes it. The first listener
// starts the watch, which runs until the server stops.
func (h *hub) subscribe(ctx context.Context) (<-chan event, func()) {
	ch := make(chan event, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	if !h.started {
		h.started = true
		st, err := h.look(ctx)
		if err == nil {
			h.state = st
		}
		go h.watch(context.WithoutCancel(ctx))
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *hub) watch(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.poked:
		}
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		if n == 0 {
			continue
		}
		st, err := h.look(ctx)
		if err != nil {
			continue
		}
		h.mu.Lock()
		events := h.changes(ctx, h.state, st)
		h.state = st
		if len(events) > 0 && h.changed != nil {
			go h.changed(ctx)
		}
		for ch := range h.subs {
			for _, e := range events {
				select {
				case ch <- e:
				default: // a listener that does not keep up misses events, and is told to reload
					select {
					case ch <- event{"reload", map[string]any{"images": st.images}}:
					default:
					}
				}
			}
		}
		h.mu.Unlock()
	}
}

// look reads what the events compare: the image count, the newest
// images, the tags and the heads.
func (h *hub) look(ctx context.Context) (storeState, error) {
	st := storeState{recent: map[manifest.Digest]bool{}, tags: map[string]manifest.Digest{}, heads: map[string]pf.Head{}}
	stats, err := h.store.Stats(ctx)
	if err != nil {
		return st, err
	}
	st.images = stats.Images
	entries, _, err := h.store.Log(ctx, pf.LogQuery{Limit: recentWindow})
	if err != nil {
		return st, err
	}
	for _, e := range entries {
		st.recent[e.ID] = true
	}
	tags, err := h.store.Tags(ctx)
	if err != nil {
		return st, err
	}
	for _, t := range tags {
		st.tags[t.Name] = t.ID
	}
	heads, err := h.store.Heads(ctx)
	if err != nil {
		return st, err
	}
	for _, hd := range heads {
		st.heads[hd.Dir+"\x00"+hd.Session] = hd
	}
	return st, nil
}

// changes lists the events from state a to state b: new images oldest
// first, then tags and heads that moved.
func (h *hub) changes(ctx context.Context, a, b storeState) []event {
	var events []event
	var fresh []manifest.Digest
	for id := range b.recent {
		if !a.recent[id] {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) > 0 {
		tags, _ := tagsByImage(ctx, h.store)
		var imgs []*pf.Image
		for _, id := range fresh {
			if img, err := h.store.Image(ctx, id); err == nil {
				imgs = append(imgs, img)
			}
		}
		sortByCreated(imgs)
		for _, img := range imgs {
			events = append(events, event{"image", newImageJSON(img, tags[img.ID])})
		}
	}
	if grown := b.images - a.images; grown > int64(len(fresh)) || (grown < 0) {
		events = append(events, event{"reload", map[string]any{"images": b.images}})
	}
	for name, id := range b.tags {
		if prev := a.tags[name]; prev != id {
			events = append(events, event{"tag", map[string]any{"name": name, "id": id, "previous": zeroNull(prev)}})
		}
	}
	for name, prev := range a.tags {
		if _, ok := b.tags[name]; !ok {
			events = append(events, event{"tag", map[string]any{"name": name, "id": nil, "previous": prev}})
		}
	}
	for key, hd := range b.heads {
		if prev, ok := a.heads[key]; !ok || prev.ID != hd.ID {
			events = append(events, event{"head", map[string]any{"dir": hd.Dir, "session": hd.Session, "id": hd.ID, "previous": zeroNull(prev.ID)}})
		}
	}
	for key, prev := range a.heads {
		if _, ok := b.heads[key]; !ok {
			events = append(events, event{"head", map[string]any{"dir": prev.Dir, "session": prev.Session, "id": nil, "previous": prev.ID}})
		}
	}
	return events
}

func sortByCreated(imgs []*pf.Image) {
	for i := 1; i < len(imgs); i++ {
		for j := i; j > 0 && imgs[j].Manifest.CreatedAt.Before(imgs[j-1].Manifest.CreatedAt); j-- {
			imgs[j], imgs[j-1] = imgs[j-1], imgs[j]
		}
	}
}

// handleEvents streams events until the client goes or the server stops.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	sse, ok := newEventWriter(w)
	if !ok {
		apiError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ch, cancel := s.events.subscribe(r.Context())
	defer cancel()
	sse.send("hello", map[string]any{"store": s.Store.Path()})
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case e := <-ch:
			sse.send(e.kind, e.data)
		case <-keepAlive.C:
			sse.comment("keep-alive")
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		}
	}
}

// eventWriter writes server-sent events.
type eventWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func newEventWriter(w http.ResponseWriter) (*eventWriter, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &eventWriter{w, f}, true
}

func (e *eventWriter) send(kind string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", kind, b)
	e.f.Flush()
}

func (e *eventWriter) comment(text string) {
	fmt.Fprintf(e.w, ": %s\n\n", text)
	e.f.Flush()
}
