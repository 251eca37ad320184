package childproc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/childproc"
)

// The roles this test binary plays as a child.
func TestMain(m *testing.M) {
	childproc.Main(m, map[string]func() error{
		"echo": func() error {
			fmt.Println("a line before the ready line")
			childproc.Ready(os.Getenv("CHILDPROC_TEST_INFO"))
			fmt.Println("before")
			if err := childproc.AwaitRelease(); err != nil {
				return err
			}
			fmt.Println("after")
			return json.NewEncoder(os.Stdout).Encode(map[string]int{"n": 7})
		},
		"hang": func() error {
			fmt.Fprintln(os.Stderr, "hanging on purpose")
			childproc.Ready("")
			select {}
		},
		"exit-error": func() error {
			childproc.Ready("")
			return errors.New("the role's own error")
		},
		"fail-early": func() error {
			fmt.Fprintln(os.Stderr, "a clue on stderr")
			return errors.New("cannot start")
		},
	})
}

func TestReadyLinesRelease(t *testing.T) {
	c := childproc.Start(t, "echo", "CHILDPROC_TEST_INFO=url http://127.0.0.1:1 x")
	if c.Info != "url http://127.0.0.1:1 x" {
		t.Errorf("Info = %q, want what the child passed to Ready", c.Info)
	}
	if l, err := c.Line(); err != nil || l != "before" {
		t.Fatalf("Line = %q, %v; want before", l, err)
	}
	c.Release()
	if l, err := c.Line(); err != nil || l != "after" {
		t.Fatalf("Line after Release = %q, %v; want after", l, err)
	}
	var v map[string]int
	if err := c.JSON(&v); err != nil || v["n"] != 7 {
		t.Fatalf("JSON = %v, %v; want n: 7", v, err)
	}
	if l, err := c.Line(); !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "exit status 0") {
		t.Errorf("Line at the end = %q, %v; want io.EOF and the exit status", l, err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
}

func TestWaitReportsExitStatusAndStderr(t *testing.T) {
	err := childproc.Start(t, "exit-error").Wait()
	if err == nil || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "the role's own error") {
		t.Errorf("Wait = %v; want exit status 2 and the role's error from stderr", err)
	}
}

func TestKill(t *testing.T) {
	c := childproc.Start(t, "hang")
	c.Kill()
	if _, err := c.Line(); !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Line after Kill = %v; want io.EOF, killed", err)
	}
	if err := c.Wait(); err == nil || !strings.Contains(err.Error(), "signal: killed") || !strings.Contains(err.Error(), "hanging on purpose") {
		t.Errorf("Wait after Kill = %v; want signal: killed with the stderr", err)
	}
	c.Kill() // again: a no-op
}

// fakeT records what Start and the cleanup report to the test.
type fakeT struct {
	testing.TB // nil: any method not below panics
	mu         sync.Mutex
	fatal      string
	logs       []string
	failed     bool
	cleanups   []func()
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Logf(s string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(s, a...))
}

func (f *fakeT) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeT) Fatalf(s string, a ...any) {
	f.mu.Lock()
	f.fatal, f.failed = fmt.Sprintf(s, a...), true
	f.mu.Unlock()
	runtime.Goexit()
}

// start runs Start on f in a goroutine of its own, as Fatalf ends it.
func (f *fakeT) start(role string) *childproc.Child {
	var c *childproc.Child
	done := make(chan struct{})
	go func() {
		defer close(done)
		c = childproc.Start(f, role)
	}()
	<-done
	return c
}

func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestStartFailsWithTheChildsStderr(t *testing.T) {
	f := &fakeT{}
	if c := f.start("fail-early"); c != nil {
		t.Fatal("Start returned for a child that never got ready")
	}
	f.end()
	for _, want := range []string{"ended before it was ready", "exit status 2", "a clue on stderr", "cannot start"} {
		if !strings.Contains(f.fatal, want) {
			t.Errorf("failure %q does not say %q", f.fatal, want)
		}
	}
	if len(f.logs) != 0 {
		t.Errorf("the cleanup repeated the stderr the failure showed: %q", f.logs)
	}
}

func TestUnknownRole(t *testing.T) {
	f := &fakeT{}
	f.start("no-such-role")
	f.end()
	if !strings.Contains(f.fatal, `no role "no-such-role"`) {
		t.Errorf("failure %q does not name the missing role", f.fatal)
	}
}

func TestCleanupKillsAndLogsStderrOnFailure(t *testing.T) {
	f := &fakeT{}
	c := f.start("hang")
	f.failed = true // the test failed: its children's stderr goes to its log
	f.end()
	if err := c.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("after cleanup, Wait = %v; want killed", err)
	}
	if len(f.logs) != 1 || !strings.Contains(f.logs[0], "hanging on purpose") {
		t.Errorf("logs = %q; want the child's stderr", f.logs)
	}

	g := &fakeT{}
	g.start("hang")
	g.end()
	if len(g.logs) != 0 {
		t.Errorf("a passing test logged %q", g.logs)
	}
}
