package schema

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/zpipe/zpipe/format"
)

// CUE's evaluator takes no context and cannot be interrupted
// (cue-lang/cue#1104): a constraint such as list.Range(0, in.n, 1) runs for
// as long as, and grows as large as, the data says, and a goroutine left
// running it keeps burning CPU and memory. So an isolated Schema has CUE
// check records in a child process, one per Validator, which is killed
// when a check's context ends. The fast path stays in this process: it
// decides most records without CUE and always finishes.
//
// The child is this same executable, started with childEnv set: the
// package's init serves the checks and exits before main runs. Any program
// that links this package can therefore isolate its schemas, tests
// included.

const childEnv = "ZPIPE_CUE_EVALUATOR"

func init() {
	if os.Getenv(childEnv) == "1" {
		// A Ctrl-C in the terminal reaches the whole process group; the
		// parent decides what it means, and kills the child when it must.
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
		os.Exit(serveChild(os.Stdin, os.Stdout))
	}
}

// Isolated makes the schema check records that need CUE's evaluator in a
// child process, so that CheckContext can stop a check for real. Close
// the schema to end its children.
func Isolated() Option { return func(s *Schema) { s.isolated = true } }

// childHello is the first message to a child: the schema to compile.
type childHello struct {
	Sources   map[string]string `json:"sources"`
	Spec      Spec              `json:"spec"`
	Transform *Spec             `json:"transform,omitempty"`
	Refs      map[string]string `json:"refs,omitempty"`
	// NativeWhole: the JSON Schema is checked natively alone (in the
	// parent), and CUE sees it as _.
	NativeWhole bool `json:"native_whole,omitempty"`
}

// childReply answers a check, or the hello.
type childReply struct {
	Out        json.RawMessage `json:"out,omitempty"`
	Violations []Violation     `json:"violations,omitempty"`
	Error      string          `json:"error,omitempty"`
	// Cyclic names the child's nodes of recursive values, in the hello's
	// reply (see fastAnalyser.cueNode).
	Cyclic []string `json:"cyclic,omitempty"`
}

// serveChild is the child's side: it compiles the schema it is sent, then
// answers one check per message until its input ends.
func serveChild(in io.Reader, out io.Writer) int {
	// CUE allocates some 30 KB a record and keeps little: collecting less
	// often pays, and the parent watches the child's memory.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// A recursion of CUE's that deep is a bug of CUE's (see trial): it
	// crashes sooner, in a quarter of the memory.
	debug.SetMaxStack(256 << 20)
	r, w := bufio.NewReaderSize(in, 64<<10), bufio.NewWriterSize(out, 64<<10)
	answer := func(rep childReply) int {
		b, _ := json.Marshal(rep)
		if writeFrame(w, b) != nil || w.Flush() != nil {
			return 1
		}
		return 0
	}
	msg, err := readFrame(r)
	if err != nil {
		return 1
	}
	var hello childHello
	if err := json.Unmarshal(msg, &hello); err != nil {
		return answer(childReply{Error: err.Error()})
	}
	s := &Schema{spec: hello.Spec, transform: hello.Transform, refs: hello.Refs, sources: map[string][]byte{}, display: func(p string) string { return p }}
	for f, src := range hello.Sources {
		s.sources[f] = []byte(src)
	}
	if hello.NativeWhole {
		s.native = &nativeCheck{whole: true}
	}
	v, err := s.newValidator()
	if err != nil {
		return answer(childReply{Error: err.Error()})
	}
	var hi childReply
	if v.fast != nil {
		hi.Cyclic = v.fast.cyclicNames()
	}
	if answer(hi) != 0 {
		return 1
	}
	var reply []byte
	for {
		msg, err := readFrame(r)
		if err == io.EOF {
			return 0
		}
		if err != nil {
			return 1
		}
		if len(msg) > 0 && msg[0] == askPrefix {
			reply = answerAsks(v, msg[1:], reply[:0])
			if writeFrame(w, reply) != nil || w.Flush() != nil {
				return 1
			}
			continue
		}
		batch, err := format.ParseJSON(msg)
		recs, ok := batch.([]any)
		if err != nil || !ok {
			reply = appendEntry(reply[:0], entryError, []byte(fmt.Sprintf("reading the records: %v", err)))
		} else {
			reply = reply[:0]
		}
		for _, rec := range recs {
			if o, violations := v.cueCheck(rec); violations != nil {
				b, _ := json.Marshal(violations)
				reply = appendEntry(reply, entryViolations, b)
			} else if b, err := format.AppendJSON(nil, o); err != nil {
				reply = appendEntry(reply, entryError, []byte(err.Error()))
			} else {
				reply = appendEntry(reply, entryOut, b)
			}
		}
		if writeFrame(w, reply) != nil || w.Flush() != nil {
			return 1
		}
	}
}

// A batch's reply is one entry per record: a kind byte, the length of the
// payload and the payload: the record to write as JSON, the violations as
// JSON, or an error's text.
const (
	entryOut byte = iota
	entryViolations
	entryError
)

func appendEntry(dst []byte, kind byte, payload []byte) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// nextEntry splits a reply's first entry from the rest.
func nextEntry(msg []byte) (kind byte, payload, rest []byte, err error) {
	if len(msg) < 5 || len(msg) < 5+int(binary.BigEndian.Uint32(msg[1:5])) {
		return 0, nil, nil, errors.New("the CUE evaluator answered a torn reply")
	}
	n := int(binary.BigEndian.Uint32(msg[1:5]))
	return msg[0], msg[5 : 5+n], msg[5+n:], nil
}

// startError is a failure to start an evaluator.
type startError struct{ err error }

func (e *startError) Error() string { return "starting the CUE evaluator: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// refusedError is an evaluator's refusal of the schema it was sent, as
// opposed to its death.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// child is the parent's hold on one evaluator process.
type child struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	w       *bufio.Writer
	replies chan []byte
	stderr  *tail
	exited  chan struct{} // closed once the process is reaped
	buf     []byte
	cyclic  []string // from its hello's reply
	// sameNodes: the child numbers the nodes of recursive values as the
	// validator that started it does (see fastAnalyser.cueNode).
	sameNodes bool
}

// startChild starts an evaluator for the schema and waits until it has
// compiled it.
func (s *Schema) startChild(ctx context.Context) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, &startError{err}
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = childAttr()
	c := &child{cmd: cmd, replies: make(chan []byte, 1), stderr: &tail{max: 4 << 10}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.in, err = cmd.StdinPipe(); err != nil {
		return nil, &startError{err}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, &startError{err}
	}
	if err := cmd.Start(); err != nil {
		return nil, &startError{err}
	}
	s.track(c, true)
	go c.read(out, s)
	c.w = bufio.NewWriterSize(c.in, 64<<10)
	b, _ := json.Marshal(s.hello())
	msg, err := c.call(ctx, b)
	var rep childReply
	if err == nil {
		err = json.Unmarshal(msg, &rep)
	}
	if err == nil && rep.Error != "" {
		err = &refusedError{rep.Error}
	}
	if err != nil {
		c.kill()
		return nil, err
	}
	c.cyclic = rep.Cyclic
	return c, nil
}

// hello is the first message to the schema's evaluators.
func (s *Schema) hello() childHello {
	hello := childHello{Spec: s.spec, Transform: s.transform, Refs: s.refs, Sources: map[string]string{}, NativeWhole: s.native != nil && s.native.whole}
	for f, src := range s.sources {
		hello.Sources[f] = string(src)
	}
	return hello
}

// read delivers the child's replies until its output ends, then reaps it.
func (c *child) read(out io.Reader, s *Schema) {
	r := bufio.NewReaderSize(out, 64<<10)
	for {
		msg, err := readFrame(r)
		if err != nil {
			break
		}
		c.replies <- msg
	}
	close(c.replies)
	c.cmd.Wait()
	s.track(c, false)
	close(c.exited)
}

// call sends a message and waits for the reply, or for ctx to end, which
// kills the child.
func (c *child) call(ctx context.Context, msg []byte) ([]byte, error) {
	err := writeFrame(c.w, msg)
	if err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		// It cannot take the message; it is dead or about to be.
		c.kill()
		return nil, c.died()
	}
	select {
	case rep, ok := <-c.replies:
		if !ok {
			return nil, c.died()
		}
		return rep, nil
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

// died explains why a child's replies ended.
func (c *child) died() error {
	<-c.exited
	msg := "the CUE evaluator stopped"
	if st := c.cmd.ProcessState; st != nil {
		msg += " (" + st.String() + ")"
	}
	if t := c.stderr.crash(); t != "" {
		// Not the stack's last frame: the reason, and whose fault.
		msg += ": it crashed with " + strings.TrimSuffix(t, " [recovered]") + ", a bug in CUE's evaluator or in zpipe"
	} else if t := c.stderr.last(); t != "" {
		msg += ": " + t
	}
	return errors.New(msg)
}

// gone reports whether the child has exited.
func (c *child) gone() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// kill ends the child and waits until it is reaped.
func (c *child) kill() {
	c.cmd.Process.Kill()
	c.in.Close()
	<-c.exited
}

// rss is the child's resident memory in bytes, or 0 when unknown.
func (c *child) rss() int64 { return processRSS(c.cmd.Process.Pid) }

// check has the child decide a batch of records, in one round trip.
func (c *child) check(ctx context.Context, recs []any) ([]Result, error) {
	var err error
	if c.buf, err = format.AppendJSON(c.buf[:0], recs); err != nil {
		return nil, err
	}
	msg, err := c.call(ctx, c.buf)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(recs))
	for len(msg) > 0 {
		kind, payload, rest, err := nextEntry(msg)
		if err != nil {
			return nil, err
		}
		msg = rest
		var r Result
		switch kind {
		case entryOut:
			if r.Out, err = format.ParseJSON(payload); err != nil {
				return nil, err
			}
		case entryViolations:
			if err := json.Unmarshal(payload, &r.Violations); err != nil {
				return nil, err
			}
		default:
			if len(recs) != 1 && len(out) == 0 && len(msg) == 0 {
				return nil, errors.New(string(payload)) // the batch as a whole
			}
			r.Violations = []Violation{{Msg: string(payload)}}
		}
		out = append(out, r)
	}
	if len(out) != len(recs) {
		return nil, fmt.Errorf("the CUE evaluator answered %d records of %d", len(out), len(recs))
	}
	return out, nil
}

// checkInChild has the validator's evaluator decide records, starting one
// if it has none or its last one was stopped.
func (v *Validator) checkInChild(ctx context.Context, recs []any) ([]Result, error) {
	c, err := v.evaluator(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.check(ctx, recs)
	if err != nil {
		return nil, err
	}
	for i := range res {
		for j := range res[i].Violations {
			res[i].Violations[j].Schema = v.s.displayPos(res[i].Violations[j].Schema)
		}
	}
	return res, nil
}

// evaluator is the validator's evaluator process, started if it has none
// or its last one was stopped.
func (v *Validator) evaluator(ctx context.Context) (*child, error) {
	c := v.child.Load()
	if c != nil && !c.gone() {
		return c, nil
	}
	c, err := v.s.startChild(ctx)
	if err != nil {
		return nil, err
	}
	v.adopt(c)
	return c, nil
}

// adopt makes c the validator's evaluator.
func (v *Validator) adopt(c *child) {
	c.sameNodes = v.fast != nil && slices.Equal(c.cyclic, v.fast.cyclicNames())
	v.child.Store(c)
}

// EvaluatorsRSS is the resident memory of all the schema's evaluator
// processes, in bytes.
func (s *Schema) EvaluatorsRSS() int64 {
	s.childMu.Lock()
	kids := make([]*child, 0, len(s.children))
	for c := range s.children {
		kids = append(kids, c)
	}
	s.childMu.Unlock()
	var n int64
	for _, c := range kids {
		n += c.rss()
	}
	return n
}

// EvaluatorRSS is the resident memory of the validator's evaluator
// process, in bytes; 0 without one.
func (v *Validator) EvaluatorRSS() int64 {
	if c := v.child.Load(); c != nil && !c.gone() {
		return c.rss()
	}
	return 0
}

// displayPos shows the file of a file:line:col position as the schema's
// display function does; the child knows only the full path.
func (s *Schema) displayPos(pos string) string {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return pos
	}
	j := strings.LastIndexByte(pos[:i], ':')
	if j < 0 {
		return pos
	}
	return s.display(pos[:j]) + pos[j:]
}

// track keeps the set of a schema's live children, for Close.
func (s *Schema) track(c *child, live bool) {
	s.childMu.Lock()
	defer s.childMu.Unlock()
	if s.children == nil {
		s.children = map[*child]bool{}
	}
	if live {
		s.children[c] = true
	} else {
		delete(s.children, c)
	}
}

// Close ends the schema's evaluator processes and waits for them. The
// schema can still be used; a check that needs CUE starts a new one.
func (s *Schema) Close() {
	s.childMu.Lock()
	var kids []*child
	for c := range s.children {
		kids = append(kids, c)
	}
	s.childMu.Unlock()
	for _, c := range kids {
		c.kill()
	}
}

// writeFrame writes a message with its length before it.
func writeFrame(w io.Writer, msg []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(msg)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(msg)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// tail keeps the last bytes written to it, for a child's last words.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
	// head is the first bytes written, where a crashing Go program
	// says why before its goroutines' stacks.
	head []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := min(len(p), headMax-len(t.head)); n > 0 {
		t.head = append(t.head, p[:n]...)
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

const headMax = 2 << 10

// crash is the line in which the Go runtime says why the process died,
// such as "fatal error: stack overflow", or "".
func (t *tail) crash() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range strings.Split(string(t.head), "\n") {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// last is the last non-empty line written.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}
