// Package config owns switchboard's configuration: the YAML file given with
// --config (tenants with their API tokens, DNs with their types and settings,
// agents, supervisors, queue and routing-point settings), its strict decoding
// (unknown keys are refused), its validation, and the built-in demo tenant
// used when no file is given (Demo).
//
// Errors name the file, the line where the decoder knows it, the field path
// and what is wrong, for example
//
//	switchboard.yaml:14: tenants[0].dns[3].type: unknown DN type "foo" (want extension, acd-position, acd-queue, routing-point, trunk)
//
// The package only reads and checks configuration. It must not touch engine
// state, the network or Kafka, and it keeps no globals: the engine receives a
// validated *Tenant and builds its own state from it. examples/switchboard.yaml
// is the commented reference of every field; a test loads it.
package config
