package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/stats"
)

// startStats runs the statistics consumer in-process (unless --stats=false)
// on the brokers this node publishes to, and mounts its API on the CTI
// API's mux behind the same tokens. The returned stop ends it and waits
// for its last checkpoint; it may be called more than once.
func startStats(c Config, file *config.File, server string, brokers []string, kopts []kgo.Opt, api *ctiapi.Server, set *metrics.Set, log *slog.Logger) (func(), error) {
	// one group per node and topic set: every node reads every
	// partition, and is the group's one (static) member
	svc, stop, err := runStats(c, file, "switchboard-stats."+c.TopicPrefix+server, brokers, kopts, set, log)
	if err != nil || svc == nil {
		return stop, err
	}
	if err := svc.MountAPI(api); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// runStats starts the statistics consumer in the consumer group given,
// with its checkpoint in --data, and registers its metrics; nil with
// --stats=false. The returned stop ends it and waits for its last
// checkpoint; it may be called more than once.
func runStats(c Config, file *config.File, group string, brokers []string, kopts []kgo.Opt, set *metrics.Set, log *slog.Logger) (*stats.Service, func(), error) {
	if !c.Stats {
		return nil, func() {}, nil
	}
	opts, err := stats.OptionsFromConfig(file)
	if err != nil {
		return nil, nil, err
	}
	svc := stats.NewService(stats.Config{
		Brokers: brokers, TopicPrefix: c.TopicPrefix, KafkaOpts: kopts, Group: group,
		Checkpoint: filepath.Join(c.Data, "stats", "checkpoint"),
		Options:    opts, Logger: log.With("component", "stats"),
	})
	svc.RegisterMetrics(set)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("stats consumer stopped", "err", err)
		}
	}()
	var once sync.Once
	return svc, func() { once.Do(func() { cancel(); <-done }) }, nil
}
