package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// The streams and the bucket every coordinator and worker share.
const (
	workStream   = "ZPIPE_WORK"
	resultStream = "ZPIPE_RESULTS"
	dataBucket   = "ZPIPE_DATA"
)

// levels are the priority levels, most urgent first, each with its
// consumer and the weight with which workers poll it.
var levels = []struct {
	name   string
	weight int
}{{"critical", 8}, {"high", 4}, {"normal", 2}, {"low", 1}}

// level names the level of a stage's priority.
func level(priority int) string {
	switch {
	case priority >= pipeline.PriorityCritical:
		return "critical"
	case priority >= pipeline.PriorityHigh:
		return "high"
	case priority >= pipeline.PriorityNormal:
		return "normal"
	}
	return "low"
}

var unsafeToken = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// token makes a name safe as one subject token.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return unsafeToken.ReplaceAllString(s, "_")
}

func workSubject(ref engine.StageRef, exec string) string {
	return "zpipe.work." + level(ref.Priority) + "." + token(ref.Pipeline) + "." + token(ref.Stage) + "." + exec
}

func resultSubject(exec string) string { return "zpipe.result." + exec }
func cancelSubject(exec string) string { return "zpipe.cancel." + exec }

// workMsg is one attempt at one item, as a worker is sent it.
type workMsg struct {
	// Version is the coordinator's zpipe version; a worker of another
	// refuses the work.
	Version string          `json:"version"`
	Exec    string          `json:"exec"`
	Stage   engine.StageRef `json:"stage"`
	// Bundle holds the manifest and its schemas by content; nil when the
	// workers read the coordinator's paths (a shared file system).
	Bundle *bundle    `json:"bundle,omitempty"`
	Job    engine.Job `json:"job"`
	// Data is the item's bytes when they are small; Input is the object
	// holding them otherwise; Path, with a shared file system, the file
	// the worker reads instead.
	Data  []byte `json:"data,omitempty"`
	Input string `json:"input,omitempty"`
	Path  string `json:"path,omitempty"`
}

// inlineMax is the most bytes of input, and of parts, that travel inside
// a message rather than through the object store: a round trip to the
// bucket costs more than the bytes for small items. Messages stay well
// under the server's default 1 MiB payload limit.
const inlineMax = 256 << 10

// resultMsg is a worker's answer to a workMsg.
type resultMsg struct {
	Exec    string `json:"exec"`
	Item    int    `json:"item"`
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
	// Delivered counts the times the server handed this attempt out:
	// more than once when a worker died with it.
	Delivered int           `json:"delivered"`
	Report    engine.Report `json:"report"`
	// Inline holds the small parts, by name; the others are in the
	// object store.
	Inline map[string][]byte `json:"inline,omitempty"`
	// Refused says why the worker would not run the item; the item
	// waits for another worker.
	Refused string `json:"refused,omitempty"`
}

func inputObject(exec string, item int) string { return fmt.Sprintf("in/%s/%d", exec, item) }
func partObject(exec string, item, attempt int, name string) string {
	return fmt.Sprintf("part/%s/%d/%d/%s", exec, item, attempt, name)
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Config sizes what the coordinator creates on the server.
type Config struct {
	// Replicas of the streams and the bucket: 3 on a cluster keeps a run
	// going when a node dies. 0 means 1.
	Replicas int
	// MaxStreamBytes bounds the work stream; a full stream refuses more
	// work until workers take some (discard new). 0 means 256 MiB.
	MaxStreamBytes int64
	// AckWait is how long a worker may go without a sign of life before
	// its item is given to another; workers report progress every third
	// of it. 0 means 30s.
	AckWait time.Duration
	// MaxDeliver is how often an item whose worker died is handed out
	// before it fails. 0 means 5.
	MaxDeliver int
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxStreamBytes <= 0 {
		c.MaxStreamBytes = 256 << 20
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	return c
}

// leftoverAge is how long messages and objects live: a coordinator
// killed mid-run cannot clean up after itself, and on a long-lived
// cluster its leftovers must not pile up. A run's items are sent a few
// at a time, so none waits this long.
const leftoverAge = 24 * time.Hour

// setup creates the streams, the consumers and the bucket, or brings them
// to c.
func setup(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.ObjectStore, error) {
	c = c.withDefaults()
	var data jetstream.ObjectStore
	err := retry(ctx, func(ctx context.Context) error {
		work, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: workStream, Subjects: []string{"zpipe.work.>"}, Retention: jetstream.WorkQueuePolicy,
			MaxBytes: c.MaxStreamBytes, Discard: jetstream.DiscardNew, Replicas: c.Replicas, Duplicates: 2 * time.Minute,
			MaxAge: leftoverAge,
		})
		if err != nil {
			return err
		}
		for _, l := range levels {
			if _, err := work.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Durable: "work-" + l.name, FilterSubject: "zpipe.work." + l.name + ".>",
				AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.AckWait, MaxDeliver: c.MaxDeliver, MaxAckPending: -1,
			}); err != nil {
				return err
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: resultStream, Subjects: []string{"zpipe.result.>"}, MaxAge: leftoverAge, Replicas: c.Replicas, Duplicates: 2 * time.Minute,
		}); err != nil {
			return err
		}
		data, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: dataBucket, Replicas: c.Replicas, TTL: leftoverAge})
		return err
	})
	return data, err
}

// retry calls f with a deadline of its own until it succeeds or ctx ends,
// so that a call made before a cluster has elected its leaders waits for
// them rather than hanging or failing at once.
func retry(ctx context.Context, f func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
