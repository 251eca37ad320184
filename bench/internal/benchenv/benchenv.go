// Package benchenv is what the benchmark programs share about the machine
// they run on: its load (other engineers share the cores, so a run waits
// for a quiet machine or records the load) and timestamped progress lines
// on stderr.
package benchenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// WaitQuiet waits until the 1-minute load average is below limit, polling
// every 30 s for at most maxWait (other engineers share the cores; the
// brief asks for measurements on a quiet machine, or the load recorded).
// A limit ≤ 0 does not wait.
func WaitQuiet(limit float64, maxWait time.Duration) {
	if limit <= 0 {
		return
	}
	deadline := time.Now().Add(maxWait)
	for {
		la, err := strconv.ParseFloat(LoadAvg(), 64)
		if err != nil || la < limit {
			return
		}
		if time.Now().After(deadline) {
			Logf("load average still %.2f after %v: measuring anyway", la, maxWait)
			return
		}
		Logf("load average %.2f, waiting for < %.2f", la, limit)
		time.Sleep(30 * time.Second)
	}
}

// LoadAvg is the 1-minute load average, or "?" where /proc/loadavg cannot
// be read.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// Logf writes one progress line, prefixed with the time of day, to stderr.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
