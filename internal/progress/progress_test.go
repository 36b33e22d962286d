package progress_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf/internal/progress"
)

// screen replays what a Display wrote the way a terminal shows it: text
// adds lines, and "ESC [ n A ESC [ J" (cursor up n lines, erase below)
// takes the last n away.
func screen(out string) []string {
	var lines []string
	add := func(text string) {
		for _, l := range strings.SplitAfter(text, "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	redraw := regexp.MustCompile(`\x1b\[(\d+)A\x1b\[J`)
	for {
		loc := redraw.FindStringSubmatchIndex(out)
		if loc == nil {
			add(out)
			return lines
		}
		add(out[:loc[0]])
		n, _ := strconv.Atoi(out[loc[2]:loc[3]])
		lines = lines[:max(0, len(lines)-n)]
		out = out[loc[1]:]
	}
}

// syncBuffer is a bytes.Buffer that the drawing goroutine and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls the screen until a line contains want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range screen(out.String()) {
			if strings.Contains(l, want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no line shows %q; the screen is %q", want, screen(out.String()))
}

func TestDisplay_Close_ErasesEveryLine(t *testing.T) {
	var out syncBuffer
	d := progress.New(&out)
	verify := d.Bar("verify", 0, progress.Items)
	copying := d.Bar("push", 4<<20, progress.Bytes)
	snap := d.Text("snapshot")
	verify.Set(120, 300)
	copying.Add(1 << 20)
	snap.Status("%d files", 42)
	waitFor(t, &out, "120/300 (40%)")
	waitFor(t, &out, "1.0 MiB / 4.0 MiB")
	waitFor(t, &out, "42 files")

	d.Printf("pf: warning: %s\n", "a file vanished")
	waitFor(t, &out, "pf: warning: a file vanished")
	verify.Done()
	d.Close()
	got := screen(out.String())
	if len(got) != 1 || got[0] != "pf: warning: a file vanished\n" {
		t.Errorf("after Close the screen shows %q, want only the warning", got)
	}
}

// A bar that reaches its total stays until Done: the work may not be over.
func TestDisplay_Bar_StaysAtItsTotal(t *testing.T) {
	var out syncBuffer
	d := progress.New(&out)
	b := d.Bar("verify", 10, progress.Items)
	b.Set(10, 10)
	waitFor(t, &out, "10/10 (100%)")
	time.Sleep(300 * time.Millisecond)
	waitFor(t, &out, "10/10 (100%)")
	b.Done()
	d.Close()
	if got := screen(out.String()); len(got) != 0 {
		t.Errorf("after Close the screen shows %q", got)
	}
}

// Nothing is drawn without a terminal, and a nil display's lines take
// every call.
func TestDisplay_Nil(t *testing.T) {
	d := progress.New(nil)
	if d != nil {
		t.Fatal("New(nil) is not nil")
	}
	l := d.Bar("x", 1, progress.Bytes)
	l.Set(1, 2)
	l.Add(1)
	l.SetTotal(3)
	l.Status("y")
	l.Done()
	d.Text("z").Status("w")
	d.Printf("v")
	d.Close()
}
