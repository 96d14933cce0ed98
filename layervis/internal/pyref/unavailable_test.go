package pyref

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped, r.msg = true, fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed, r.msg = true, fmt.Sprintf(f, args...) }

func TestUnavailable(t *testing.T) {
	err := errors.New("no module named torch")
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	unavailable(r, err, []string{"torch", "torchvision"})
	if !r.skipped || r.failed || !strings.Contains(r.msg, "no module named torch") || !strings.Contains(r.msg, "python3-torch") {
		t.Errorf("without CI: %+v", r)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	unavailable(r, err, []string{"torch", "torchvision"})
	if r.skipped || !r.failed || !strings.Contains(r.msg, "CI must run") {
		t.Errorf("with CI: %+v", r)
	}
}
