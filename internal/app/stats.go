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
	if !c.Stats {
		return func() {}, nil
	}
	opts, err := stats.OptionsFromConfig(file)
	if err != nil {
		return nil, err
	}
	svc := stats.NewService(stats.Config{
		Brokers: brokers, TopicPrefix: c.TopicPrefix, KafkaOpts: kopts,
		// one group per node and topic set: every node reads every
		// partition, and is the group's one (static) member
		Group:      "switchboard-stats." + c.TopicPrefix + server,
		Checkpoint: filepath.Join(c.Data, "stats", "checkpoint"),
		Options:    opts, Logger: log.With("component", "stats"),
	})
	if err := svc.MountAPI(api); err != nil {
		return nil, err
	}
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
	return func() { once.Do(func() { cancel(); <-done }) }, nil
}
