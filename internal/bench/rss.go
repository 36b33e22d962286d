package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Peak resident memory, per workload: a job runs in a process of its own
// (see Config.Self), which resets the kernel's high-water mark after its
// setup and reads it after the workload. The high-water mark counts the
// pages of files the process maps (bbolt reads its file through a map),
// which the kernel can drop at will; so the meter also samples the
// anonymous part (heap, stacks), the memory the process really needs.
// Linux only; elsewhere nothing is measured.

// rssMeter measures the peak resident size of this process above what it
// held when the meter started.
type rssMeter struct {
	base, baseAnon int64
	peakAnon       atomic.Int64
	stop           chan struct{}
	wg             sync.WaitGroup
}

// rssSample is how often the anonymous resident size is sampled. Every
// 2 ms, the sampler's wakeups slowed the work it measured: pf's 16 KiB
// ingest, whose commit goroutine and hashing keep both cores busy, ran
// 14-29% slower (median rounds) than with 10 ms in 3 alternating pairs of
// runs, and the peak found was the same.
const rssSample = 10 * time.Millisecond

// startRSS resets the high-water mark (writing 5 to /proc/self/clear_refs),
// notes the resident size now (the input, mapped and touched, and the
// runtime) and starts sampling. It returns nil where this cannot be done.
func startRSS() *rssMeter {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return nil
	}
	st, ok := readStatus()
	if !ok {
		return nil
	}
	m := &rssMeter{base: st.rss, baseAnon: st.anon, stop: make(chan struct{})}
	m.peakAnon.Store(st.anon)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(rssSample)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				if st, ok := readStatus(); ok && st.anon > m.peakAnon.Load() {
					m.peakAnon.Store(st.anon)
				}
			}
		}
	}()
	return m
}

// peak stops the meter and returns how far the resident size, and its
// anonymous part, rose above where they stood at the start; ok is false
// where nothing could be measured.
func (m *rssMeter) peak() (total, anon int64, ok bool) {
	if m == nil {
		return 0, 0, false
	}
	close(m.stop)
	m.wg.Wait()
	st, ok := readStatus()
	if !ok {
		return 0, 0, false
	}
	m.peakAnon.Store(max(m.peakAnon.Load(), st.anon))
	return max(0, st.hwm-m.base), max(0, m.peakAnon.Load()-m.baseAnon), true
}

type procStatus struct{ rss, hwm, anon int64 }

// readStatus reads VmRSS, VmHWM and RssAnon from /proc/self/status.
func readStatus() (procStatus, bool) { return readProcStatus("self") }

// readProcStatus reads VmRSS, VmHWM and RssAnon from /proc/PROC/status,
// PROC a process id or "self".
func readProcStatus(proc string) (procStatus, bool) {
	b, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return procStatus{}, false
	}
	var st procStatus
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &st.rss
		case "VmHWM":
			dst = &st.hwm
		case "RssAnon":
			dst = &st.anon
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return procStatus{}, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return procStatus{}, false
		}
		*dst = kb << 10
		found++
	}
	return st, found == 3
}

// processHWM returns the high-water mark of a running process's resident
// size since the last call, and resets it (writing 5 to its clear_refs),
// so that each step of a job counts only what the process held during
// it. ok is false where this cannot be done (not Linux).
func processHWM(pid int) (hwm int64, ok bool) {
	proc := strconv.Itoa(pid)
	st, ok := readProcStatus(proc)
	if !ok {
		return 0, false
	}
	if os.WriteFile("/proc/"+proc+"/clear_refs", []byte("5"), 0) != nil {
		return 0, false
	}
	return st.hwm, true
}
