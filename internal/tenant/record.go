package tenant

import (
	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/steprec"
)

// StepEncoder appends step records (package steprec), the command encoded
// in place by an engine.CommandEncoder it keeps: with a reused dst a record
// costs no allocation of its own. The zero value is ready to use; it is not safe
// for concurrent use (a tenant has one, used by its goroutine).
type StepEncoder struct {
	cmd engine.CommandEncoder
}

// Append appends the step record of cmd stepped at at with events evs to
// dst: the same bytes as steprec.Append(dst, at, engine.EncodeCommand(cmd),
// evs). On error dst is returned unchanged.
func (s *StepEncoder) Append(dst []byte, at int64, cmd engine.Command, evs []event.Event) ([]byte, error) {
	return steprec.AppendWith(dst, at, evs, func(b []byte) ([]byte, error) { return s.cmd.Append(b, cmd) })
}
