package relay

// CheckpointRounds is how many rounds r's checkpointer has run.
func CheckpointRounds(r *Relay) uint64 { return r.rounds.Load() }
