package publisher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TransactionalID is the transactional id of single-node serve's relay of
// tenant on server (its --server-id), with the topic prefix first as the
// cluster's ids have it. Tenant ids have no '/', so no two (server,
// tenant) pairs share an id, and no cluster id (prefix "sb.") is one.
func TransactionalID(prefix, server, tenant string) string {
	return prefix + "sb-relay/" + server + "/" + tenant
}

// Transactional returns a publisher of the same brokers, topics and
// options whose every flush is one Kafka transaction with transactional
// id id: the records of the batches handed to the client together are
// committed together, or aborted together, and a batch's done is called
// once the commit (or the abort) is answered. Before it returns it
// initialises id (InitProducerID, bounded by ctx): Kafka aborts whatever
// transaction an earlier producer of id left open (a process killed
// mid-batch) and refuses that producer's later writes, also a produce
// request of it still on its way. Consumers reading read_committed see
// each committed record once and no aborted one.
//
// A later initialisation of id by someone else fences this publisher: the
// batch then in a transaction fails with ErrFenced, and so does every
// later Publish. A transaction Kafka aborted itself because it stayed
// open longer than Config.TransactionTimeout (a Kafka outage) also
// surfaces as a fence; it is told apart by its age: a transaction fenced
// younger than the timeout can only have been fenced by another producer,
// an older one fails its batches with the error (the caller publishes
// them again) and the next transaction initialises id afresh.
//
// The returned publisher shares p's figures (p's Stats count its
// records too) and closes with p.
func (p *Publisher) Transactional(ctx context.Context, id string) (*Publisher, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty transactional id", ErrInvalidConfig)
	}
	t := &Publisher{
		log:        p.log.With("transactional_id", id),
		c:          p.c,
		opts:       append(slices.Clip(p.opts), kgo.TransactionalID(id), kgo.TransactionTimeout(p.txnTimeout)),
		txnID:      id,
		txnTimeout: p.txnTimeout,
		agentTopic: p.agentTopic,
		callTopic:  p.callTopic,
		partitions: p.partitions,
		bufLimit:   p.bufLimit,
		linger:     p.linger,
		changed:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	cl, err := t.initClient(ctx)
	if err != nil {
		return nil, err
	}
	t.cl.Store(cl)
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		cl.Close()
		return nil, ErrClosed
	}
	p.children = append(p.children, t)
	p.mu.Unlock()
	go t.run()
	return t, nil
}

// initClient makes a client with the transactional id and initialises it:
// the fence.
func (p *Publisher) initClient(ctx context.Context) (*kgo.Client, error) {
	cl, err := kgo.NewClient(p.opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	t0 := time.Now()
	id, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("%w: initialising transactional id %q: %w", ErrConnect, p.txnID, err)
	}
	p.log.Info("publisher: transactional id initialised; earlier producers of it are fenced",
		"producer_id", id, "epoch", epoch, "took", time.Since(t0).Round(time.Millisecond))
	return cl, nil
}

// transact produces batches in one transaction and finishes them with its
// outcome (run's flush of a transactional publisher).
func (p *Publisher) transact(batches []*batch) {
	err := p.renew()
	began := time.Now()
	if err == nil {
		err = p.commit(batches)
	}
	if err != nil && fencedError(err) {
		if age := time.Since(began); age < p.txnTimeout {
			err = p.fence(err)
		} else {
			// Kafka may have aborted it for its age: not a fence.
			p.renewing = true
			p.log.Warn("publisher: transaction aborted after the transaction timeout; the next one initialises the transactional id again",
				"age", age.Round(time.Millisecond), "err", err)
		}
	}
	if err != nil && errors.Is(err, kgo.ErrClientClosed) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	for _, b := range batches {
		b.end(err)
	}
}

// commit produces batches in a transaction and commits it, or aborts it
// when a record failed or the commit did.
func (p *Publisher) commit(batches []*batch) error {
	cl := p.cl.Load()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	ctx := context.Background()
	var mu sync.Mutex
	var perr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if perr == nil {
				perr = err
			}
			mu.Unlock()
		}
	}
	for _, b := range batches {
		for j := range b.recs {
			cl.Produce(ctx, &b.recs[j], promise)
		}
	}
	// Returns once every record is acknowledged or failed (Close fails
	// them).
	_ = cl.Flush(ctx)
	mu.Lock()
	err := perr
	mu.Unlock()
	if err == nil {
		if err = cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
			return nil
		}
	}
	// franz-go's way out of a failed transaction: fail what is buffered,
	// then abort (which also settles a commit whose outcome is unknown,
	// by initialising the id again at its own epoch).
	actx, cancel := context.WithTimeout(ctx, p.txnTimeout)
	defer cancel()
	if aerr := cl.AbortBufferedRecords(actx); aerr == nil {
		if aerr = cl.EndTransaction(actx, kgo.TryAbort); aerr != nil {
			p.log.Debug("publisher: abort after a failed transaction", "err", aerr)
		}
	}
	return err
}

// renew replaces the client by one that initialises the transactional id
// again, when the last transaction was aborted for its age.
func (p *Publisher) renew() error {
	if !p.renewing {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.txnTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	cl, err := p.initClient(ctx)
	if err != nil {
		return err
	}
	old := p.cl.Swap(cl)
	old.Close()
	p.renewing = false
	if p.closed.Load() {
		cl.Close()
		return ErrClosed
	}
	return nil
}

// fencedError reports whether err is Kafka saying that the producer's
// epoch is no longer the transactional id's.
func fencedError(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.InvalidTxnState)
}

// fence records that another producer took the transactional id and
// returns the error every batch gets from now on.
func (p *Publisher) fence(cause error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fenced == nil {
		p.fenced = fmt.Errorf("%w (transactional id %q): %w", ErrFenced, p.txnID, cause)
		p.log.Error("publisher: fenced: another producer initialised this transactional id (another serve with the same server id and tenant?); nothing more is published here",
			"err", cause)
	}
	return p.fenced
}

func (p *Publisher) fencedErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fenced
}

// end finishes every record of b with err (a transaction's outcome).
func (b *batch) end(err error) {
	n := int64(len(b.recs))
	if err != nil {
		b.p.c.failed.Add(n)
	} else {
		b.p.c.acked.Add(n)
	}
	b.p.c.lastLat.Store(int64(time.Since(b.start)))
	if b.done != nil {
		b.done(err)
	}
	b.p.finished(n)
}
