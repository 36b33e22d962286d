package bench

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Machine is what the report says about where it ran.
type Machine struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Cores  int    `json:"cores"`
	CPU    string `json:"cpu,omitempty"`
	Memory int64  `json:"memory,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// Disk is df's line for the directory the stores were in.
	Disk string `json:"disk,omitempty"`
	// Load is the load average when the run started: the machines are
	// shared, and a busy one slows everything.
	Load   string `json:"load,omitempty"`
	Go     string `json:"go"`
	Git    string `json:"git,omitempty"`
	SQLite string `json:"sqlite,omitempty"`
}

func readMachine(dir string) Machine {
	m := Machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU(), Go: runtime.Version(),
		Git: strings.TrimPrefix(gitVersion(), "git version "), SQLite: sqliteVersion(),
		CPU: cpuModel(), Memory: memTotal(), Disk: dfLine(dir),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Load = loadAverage()
	return m
}

// loadAverage is /proc/loadavg's averages over 1, 5 and 15 minutes, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// cpuModel is /proc/cpuinfo's model name, with its flags' word on SHA
// extensions (which make SHA-256 3.5 times faster).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	var model string
	sha := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(val)
			}
		case "flags":
			sha = sha || slices.Contains(strings.Fields(val), "sha_ni")
		}
	}
	if sha {
		model += " (SHA-NI)"
	}
	return model
}

func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// dfLine is df -hT's line for dir: device, type, size, used, free.
func dfLine(dir string) string {
	out, err := exec.Command("df", "-hT", dir).Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		return ""
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 7 {
		return strings.Join(f, " ")
	}
	return f[0] + " " + f[1] + ", " + f[2] + " (" + f[4] + " free), mounted on " + f[6]
}
