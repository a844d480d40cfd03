package engine

// The apply-treatment request: type ApplyTreatment (command.go), handled
// by applyTreatmentCmd (acd.go).

func (ApplyTreatment) Kind() string { return "apply-treatment" }

func init() {
	register(request[ApplyTreatment]{
		step:   func(e *Engine, c ApplyTreatment) error { return e.applyTreatmentCmd(&c) },
		golden: "treatment",
		parse: func(a goldenArgs, q Request) ApplyTreatment {
			return ApplyTreatment{Request: q, ConnID: a.get("conn"), DN: a.get("dn"), Type: a.get("type"), Parms: a.kv("parm.")}
		},
	})
}
