// Package childproc runs roles of a test binary as child processes, for
// tests that need separate OS processes: two IdPs or two apps sharing one
// database, a process killed with SIGKILL in the middle of its work. It is
// the one copy of that plumbing; it is test support, not an API.
//
// The test binary plays both sides. Its TestMain calls Main with the roles
// it can play. A test calls Start with a role: the binary runs again with
// GATEHOUSE_TEST_CHILD set to the role, and Main runs that role's function
// instead of the tests. The two talk in lines: on stdout the child first
// calls Ready (Start returns what it passed, e.g. its address), then may
// print lines the parent reads with Line (or JSON); on stdin a child that must not
// begin before its siblings waits in AwaitRelease until the parent calls
// Release. Everything else the child needs comes in its environment.
//
// The child's stderr is kept (its last 8 KiB) and attached to the failures
// Start, Line and Wait report; if the test fails and no such failure has
// shown it, the cleanup logs it. Cleanup is
// registered with the test: the child is killed when the test ends.
package childproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RoleEnv is the environment variable that names the role a re-executed
// test binary plays.
const RoleEnv = "GATEHOUSE_TEST_CHILD"

// Timeout bounds each wait on a child: its ready line, its next line, its
// exit. Generous, as a loaded CI machine may take seconds to start a
// process that migrates a database; it only turns a hang into a failure
// that says which child and what it wrote to stderr.
const Timeout = 2 * time.Minute

const (
	readyMarker = "GATEHOUSE_CHILD_READY"
	tailBytes   = 8 << 10
)

// Main is the TestMain of a package whose tests start children: with no
// role in the environment it runs the tests; otherwise it runs the role's
// function and exits, 0 if it returned nil, 2 (with the error on stderr)
// if not.
func Main(m *testing.M, roles map[string]func() error) {
	role := os.Getenv(RoleEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	run := roles[role]
	if run == nil {
		fmt.Fprintf(os.Stderr, "childproc: this test binary has no role %q\n", role)
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		os.Exit(2)
	}
	os.Exit(0)
}

// Ready tells the parent, from the child, that it is ready; info (one line,
// e.g. the address it listens on) is what Start returns as Child.Info.
func Ready(info string) {
	fmt.Println(readyMarker, info)
}

// AwaitRelease blocks the child until the parent calls Release, so that
// children started one after the other begin their work together.
func AwaitRelease() error {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the parent's release: %w", err)
	}
	return nil
}

// Child is a running child process of the test binary.
type Child struct {
	// Info is what the child passed to Ready.
	Info string

	t      testing.TB
	role   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr tail

	lines   chan string   // stdout, line by line; closed at EOF
	readErr error         // why lines closed; written before the close
	stop    chan struct{} // closed at cleanup: stop forwarding lines
	exited  chan struct{} // closed once the process is reaped
	waitErr error         // cmd.Wait's result; written before exited closes
}

// Start runs the test binary again in role, with env added to this
// process's environment, and waits (up to Timeout) for the child's Ready.
// It fails t if the child does not get there, with the child's stderr. The
// child is killed when t ends.
func Start(t testing.TB, role string, env ...string) *Child {
	t.Helper()
	c := &Child{t: t, role: role, lines: make(chan string, 64), stop: make(chan struct{}), exited: make(chan struct{})}
	// -test.run=^$: a binary whose TestMain forgot Main runs no test and
	// exits, which Start reports, rather than running every test again.
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(append(os.Environ(), RoleEnv+"="+role), env...)
	c.cmd.Stderr = &c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatalf("child %s: %v", role, err)
	}
	// Our own pipe rather than StdoutPipe: the lines stay readable after
	// Wait, and Wait does not race with the reader.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("child %s: %v", role, err)
	}
	c.cmd.Stdout = w
	err = c.cmd.Start()
	w.Close() // only the child holds the write end now: EOF when it exits
	if err != nil {
		r.Close()
		t.Fatalf("child %s: start: %v", role, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	go c.read(r)
	t.Cleanup(c.cleanup)

	deadline := time.After(Timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child %s ended before it was ready: %v", role, c.endErr())
			}
			if info, ok := strings.CutPrefix(line, readyMarker); ok {
				c.Info = strings.TrimPrefix(info, " ")
				return c
			}
			t.Logf("child %s: %s", role, line)
		case <-deadline:
			t.Fatalf("child %s not ready within %v%s", role, Timeout, c.stderr.note())
		}
	}
}

// read forwards the child's stdout, line by line, until EOF or cleanup.
func (c *Child) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		select {
		case c.lines <- sc.Text():
		case <-c.stop:
			return
		}
	}
	c.readErr = sc.Err()
	close(c.lines)
}

// Line returns the child's next line on stdout. At the end of its output
// (it exited, or was killed) the error wraps io.EOF and says how it ended.
func (c *Child) Line() (string, error) {
	select {
	case line, ok := <-c.lines:
		if !ok {
			return "", c.endErr()
		}
		return line, nil
	case <-time.After(Timeout):
		return "", fmt.Errorf("child %s printed no line within %v%s", c.role, Timeout, c.stderr.note())
	}
}

// JSON reads the child's next line on stdout (as json.NewEncoder(os.Stdout)
// writes a value: one line) into v.
func (c *Child) JSON(v any) error {
	line, err := c.Line()
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return fmt.Errorf("child %s: %w in %q", c.role, err, line)
	}
	return nil
}

// endErr describes the end of the child's stdout: its exit status and its
// stderr, once the process is gone.
func (c *Child) endErr() error {
	err := c.readErr
	if err == nil {
		err = io.EOF
	}
	select {
	case <-c.exited: // so that stderr is complete
		return fmt.Errorf("end of output (%w), %v%s", err, c.status(), c.stderr.note())
	case <-time.After(time.Second):
		return fmt.Errorf("end of output (%w), still running%s", err, c.stderr.note())
	}
}

func (c *Child) status() string {
	if c.waitErr != nil {
		return c.waitErr.Error()
	}
	return "exit status 0"
}

// Release lets a child waiting in AwaitRelease begin.
func (c *Child) Release() {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		c.t.Fatalf("child %s: release: %v%s", c.role, err, c.stderr.note())
	}
}

// Wait waits (up to Timeout) for the child to exit on its own and returns
// nil if it exited with status 0, else an error with its stderr.
func (c *Child) Wait() error {
	select {
	case <-c.exited:
	case <-time.After(Timeout):
		return fmt.Errorf("child %s still running after %v%s", c.role, Timeout, c.stderr.note())
	}
	if c.waitErr != nil {
		return fmt.Errorf("child %s: %w%s", c.role, c.waitErr, c.stderr.note())
	}
	return nil
}

// Kill kills the child with SIGKILL, so nothing of its own cleanup runs
// (what a crash leaves behind is what the test sees), and returns once it
// is gone.
func (c *Child) Kill() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatalf("child %s: kill: %v", c.role, err)
	}
	<-c.exited
}

func (c *Child) cleanup() {
	_ = c.cmd.Process.Kill()
	<-c.exited
	close(c.stop)
	_ = c.stdin.Close()
	if c.t.Failed() {
		if s := c.stderr.unnoted(); s != "" {
			c.t.Logf("child %s (%s) stderr, last %d bytes at most:\n%s", c.role, c.status(), tailBytes, s)
		}
	}
}

// tail keeps the last tailBytes written to it, and whether they have all
// gone into a failure message already (so the cleanup does not repeat them).
type tail struct {
	mu             sync.Mutex
	buf            []byte
	written, noted int
}

func (b *tail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.written += len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailBytes; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// unnoted returns what no failure message has shown yet ("" if nothing),
// as the whole tail.
func (b *tail) unnoted() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written == b.noted {
		return ""
	}
	return string(b.buf)
}

// note is the stderr to append to a failure message, if any.
func (b *tail) note() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return ""
	}
	b.noted = b.written
	return "\nchild stderr:\n" + string(b.buf)
}
