package memstat

import (
	"runtime"
	"testing"
)

func TestMeminfoField(t *testing.T) {
	data := []byte("MemTotal:       24683748 kB\nMemFree:  100 kB\nMemAvailable:   23740964 kB\n")
	if v, ok := meminfoField(data, "MemAvailable:"); !ok || v != 23740964*1024 {
		t.Errorf("MemAvailable = %d, %v", v, ok)
	}
	if _, ok := meminfoField(data, "SwapTotal:"); ok {
		t.Error("found a missing field")
	}
}

func TestReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	if p := PeakRSS(); p < int64(len(buf)) {
		t.Errorf("peak resident set %d bytes after touching %d", p, len(buf))
	}
	if a, ok := Available(); !ok || a <= 0 {
		t.Errorf("available memory %d, %v", a, ok)
	}
	runtime.KeepAlive(buf)
}
