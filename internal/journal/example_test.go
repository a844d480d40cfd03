package journal_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/switchboard-cc/switchboard/internal/journal"
)

// The runtime appends each engine step and releases its reply from the
// completion function; the publisher tails durable records with a Reader.
func Example() {
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	j, err := journal.Open(dir, journal.Options{}) // defaults: 64 MiB segments, 4 GiB max
	if err != nil {
		log.Fatal(err)
	}
	replied := make(chan string, 3)
	for _, step := range []string{"login 1001", "ready 1001", "make-call 1001"} {
		_, err := j.AppendAsync([]byte(step), func(lsn uint64, err error) {
			if err != nil {
				replied <- "503: " + err.Error()
				return
			}
			replied <- fmt.Sprintf("200: %s (lsn %d)", step, lsn)
		})
		if err != nil { // journal.ErrFull: answer 503, nothing changed
			log.Fatal(err)
		}
	}
	for range 3 {
		fmt.Println(<-replied)
	}

	r, err := j.NewReader(1)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		rec, err := r.Next(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("publish lsn %d: %s\n", rec.LSN, rec.Payload)
	}
	r.Close()
	j.Close()

	j, err = journal.Open(dir, journal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	rec := j.Recovery()
	fmt.Printf("recovered lsn %d..%d, %d bytes cut\n", rec.FirstLSN, rec.LastLSN, rec.BytesCut)
	// Output:
	// 200: login 1001 (lsn 1)
	// 200: ready 1001 (lsn 2)
	// 200: make-call 1001 (lsn 3)
	// publish lsn 1: login 1001
	// publish lsn 2: ready 1001
	// publish lsn 3: make-call 1001
	// recovered lsn 1..3, 0 bytes cut
}
