package verify

import (
	"encoding/json"
	"fmt"
	"os"
)

// Expect is the summary `switchboard sim --expect-out` writes: what the
// simulator did, as counts the stream must show (the Count* names), and
// a few facts about the run for people.
type Expect struct {
	Tenant string `json:"tenant"`
	Seed   uint64 `json:"seed"`
	// Counts must equal Report.Counts of the same names.
	Counts map[string]int `json:"counts"`
	// Info is what sim saw that the stream cannot show (calls that waited
	// in the simulator and left before they were offered, refusals, ...).
	Info map[string]int `json:"info,omitempty"`
}

// ReadExpect reads an Expect from a JSON file.
func ReadExpect(path string) (*Expect, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var e Expect
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("verify: %s: %w", path, err)
	}
	return &e, nil
}

// WriteFile writes e as indented JSON.
func (e *Expect) WriteFile(path string) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
