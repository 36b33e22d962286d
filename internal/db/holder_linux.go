package db

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// holderSuffix names the process holding path's lock, read from
// /proc/locks (bbolt locks with flock, which records no owner in the file).
// It returns "" where that cannot be found out.
func holderSuffix(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return ""
	}
	defer f.Close()
	// A line: "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF".
	inode := fmt.Sprintf(":%d", st.Ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[4] == "-1" {
			continue
		}
		if strings.HasSuffix(fields[5], inode) {
			return fmt.Sprintf(" (held by pid %s)", fields[4])
		}
	}
	return ""
}
