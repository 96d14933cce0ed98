// Package memstat reads the memory this process has used and can still
// use.
package memstat

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Available returns the memory this process can still take: the
// kernel's MemAvailable, less where a cgroup (a container's limit) allows
// less. ok is false where neither can be read (not Linux).
func Available() (avail int64, ok bool) {
	avail = math.MaxInt64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if v, found := meminfoField(data, "MemAvailable:"); found {
			avail, ok = v, true
		}
	}
	for _, f := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},                                 // cgroup v2
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}, // v1
	} {
		limit, err1 := readInt(f[0])
		used, err2 := readInt(f[1])
		if err1 == nil && err2 == nil && limit < 1<<60 {
			avail, ok = min(avail, max(limit-used, 0)), true
			break
		}
	}
	return avail, ok
}

// meminfoField returns the value in bytes of a /proc/meminfo field given
// in kB.
func meminfoField(data []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == name {
			v, err := strconv.ParseInt(f[1], 10, 64)
			return v * 1024, err == nil
		}
	}
	return 0, false
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// PeakRSS returns the process's peak resident set in bytes (0 if unknown).
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return ru.Maxrss // bytes there, kB elsewhere
	}
	return ru.Maxrss * 1024
}
