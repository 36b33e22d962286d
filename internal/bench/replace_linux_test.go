//go:build linux

package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkReplaceFiles: limit: replace files on two trees shaped as
// $GOROOT/src (11,880 files of 4 KiB in 1,320 directories each), 100 of
// their files put back, then (not timed) forward again, in turn on each:
// one unwatched, as the limit row times it; the other with every
// directory watched by one inotify instance with the events pf serve's
// watcher asks for (fsnotify's), a goroutine reading them and doing
// nothing else, timed until it has read the event of a rename made after
// the last file's (a barrier, as a served restore's check after its
// writes). pf serve must watch the directories: the second is the floor
// of a served restore's writes. As the limit row, each round starts after
// a sync. Reported as unwatched-ms and watched-ms, medians.
func BenchmarkReplaceFiles(b *testing.B) {
	type tree struct {
		ws          string
		back, forth []fileState
		w           *dirWatcher
		times       []time.Duration
	}
	plain, watched := &tree{ws: b.TempDir()}, &tree{ws: b.TempDir()}
	var dirs []string
	body := make([]byte, 4096)
	for i := range 40 {
		for j := range 33 {
			dir := fmt.Sprintf("d%02d/e%02d", i, j)
			dirs = append(dirs, dir)
			for k := range 9 {
				rel := filepath.Join(dir, fmt.Sprintf("f%d.go", k))
				for n := range body {
					body[n] = byte('a' + (i*31+j*7+k+n)%26)
				}
				pick := (len(dirs)*9+k)%119 == 0
				for _, t := range []*tree{plain, watched} {
					if err := os.MkdirAll(filepath.Join(t.ws, dir), 0o755); err != nil {
						b.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(t.ws, rel), body, 0o644); err != nil {
						b.Fatal(err)
					}
					if pick {
						t.back = append(t.back, fileState{rel: rel, exists: true, data: bytes.Clone(body), mode: 0o644})
						t.forth = append(t.forth, fileState{rel: rel, exists: true, data: []byte("edit of " + rel), mode: 0o644})
					}
				}
			}
		}
	}
	watched.w = watchDirs(b, watched.ws, dirs)
	const workers = 4 // pf restore's pool on two cores
	replace := func(t *tree, files []fileState) time.Duration {
		start := time.Now()
		if _, err := replaceFiles(t.ws, files, workers); err != nil {
			b.Fatal(err)
		}
		if t.w != nil {
			t.w.barrier(b)
		}
		return time.Since(start)
	}
	for _, t := range []*tree{plain, watched} {
		replace(t, t.forth)
	}
	syncAll()
	b.ResetTimer()
	for b.Loop() {
		for _, t := range []*tree{plain, watched} {
			t.times = append(t.times, replace(t, t.back))
			b.StopTimer()
			replace(t, t.forth)
			syncAll()
			b.StartTimer()
		}
	}
	for _, t := range []*tree{plain, watched} {
		slices.Sort(t.times)
		name := "unwatched-ms"
		if t.w != nil {
			name = "watched-ms"
		}
		b.ReportMetric(float64(t.times[len(t.times)/2])/1e6, name)
	}
	b.ReportMetric(float64(len(plain.back)), "files")
}

// A dirWatcher reads the events of an inotify instance on a goroutine,
// and hands on those of its cookie.
type dirWatcher struct {
	fd      int
	cookies string
	next    int
	seen    chan string
}

// watchDirs watches dirs under ws, with fsnotify's mask, and a cookie
// directory outside ws.
func watchDirs(b *testing.B, ws string, dirs []string) *dirWatcher {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	w := &dirWatcher{fd: fd, cookies: b.TempDir(), seen: make(chan string, 1)}
	const mask = unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE | unix.IN_ATTRIB | unix.IN_MODIFY | unix.IN_MOVE_SELF | unix.IN_DELETE | unix.IN_DELETE_SELF
	cookieWD, err := unix.InotifyAddWatch(fd, w.cookies, mask)
	if err != nil {
		b.Fatal(err)
	}
	for _, dir := range append([]string{"."}, dirs...) {
		if _, err := unix.InotifyAddWatch(fd, filepath.Join(ws, dir), mask); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.cookies, "c0"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	go func() {
		var buf [unix.SizeofInotifyEvent * 4096]byte
		for {
			n, err := unix.Read(fd, buf[:])
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if int(ev.Wd) == cookieWD && ev.Mask&unix.IN_MOVED_TO != 0 {
					name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
					w.seen <- string(bytes.TrimRight(name, "\x00"))
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}()
	b.Cleanup(func() { unix.Close(fd) })
	return w
}

// barrier renames the cookie and waits for its event: every event
// queued before has been read.
func (w *dirWatcher) barrier(b *testing.B) {
	old := fmt.Sprintf("c%d", w.next)
	w.next++
	name := fmt.Sprintf("c%d", w.next)
	if err := os.Rename(filepath.Join(w.cookies, old), filepath.Join(w.cookies, name)); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-w.seen:
			if got == name {
				return
			}
		case <-timeout:
			b.Fatal("no event of the cookie")
		}
	}
}
