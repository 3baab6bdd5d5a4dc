package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/engine"
)

// The rates below bound what one coordinator can hand out: each item
// costs it one work message published, one result taken, and for a large
// item an object put and a part fetched. make bench prints them; the
// README's saturation estimate is made from them.

func benchServer(b *testing.B) (jetstream.JetStream, jetstream.ObjectStore) {
	b.Helper()
	srv, err := StartServer(ServerOptions{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	nc, err := Connect(srv.URL(), ConnOptions{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	data, err := setup(context.Background(), js, Config{})
	if err != nil {
		b.Fatal(err)
	}
	return js, data
}

// BenchmarkWorkMessage sends a typical small item's message (its 200
// bytes of input inline) through the work queue: published with its
// dedup id, fetched by a worker and acked.
func BenchmarkWorkMessage(b *testing.B) {
	js, _ := benchServer(b)
	ctx := context.Background()
	ref := engine.StageRef{Pipeline: "bench", Stage: "users"}
	body, _ := json.Marshal(workMsg{Version: engine.Version(), Exec: "bench", Stage: ref,
		Job:  engine.Job{Name: "data/users/000123.json", Key: "data/users/000123.json", Attempt: 1},
		Data: bytes.Repeat([]byte("x"), 200)})
	cons, err := js.Consumer(ctx, workStream, "work-"+level(ref.Priority))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	const window = 64 // the coordinator's default cap on items in flight
	for i := 0; i < b.N; i += window {
		n := min(window, b.N-i)
		for k := range n {
			if _, err := js.Publish(ctx, workSubject(ref, "bench"), body, jetstream.WithMsgID("bench."+strconv.Itoa(i+k))); err != nil {
				b.Fatal(err)
			}
		}
		batch, err := cons.Fetch(n)
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkObjectStore puts a chunk of input into the bucket, reads it
// back and deletes it, as a large item's input and parts travel.
func BenchmarkObjectStore(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			_, data := benchServer(b)
			ctx := context.Background()
			chunk := bytes.Repeat([]byte(`{"id":1,"name":"ada"}`+"\n"), size/22)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for i := range b.N {
				name := "bench/" + strconv.Itoa(i)
				if _, err := data.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(chunk)); err != nil {
					b.Fatal(err)
				}
				r, err := data.Get(ctx, name)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
				if err := data.Delete(ctx, name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
