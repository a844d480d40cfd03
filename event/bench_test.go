package event

import "testing"

// BenchmarkEncodeRinging encodes the typical EventRinging (an inbound ACD
// call with four UserData pairs, one nested) into a reused buffer, as a
// producer does.
func BenchmarkEncodeRinging(b *testing.B) {
	e := ringing()
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(Marshal(&e))))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "encodes/s")
}

// BenchmarkMarshalRinging is the same with a new buffer per event.
func BenchmarkMarshalRinging(b *testing.B) {
	e := ringing()
	b.SetBytes(int64(len(Marshal(&e))))
	b.ReportAllocs()
	for b.Loop() {
		_ = Marshal(&e)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "encodes/s")
}

// BenchmarkDecodeRinging decodes the record value of the typical
// EventRinging into a reused Event, as a consumer does.
func BenchmarkDecodeRinging(b *testing.B) {
	e := ringing()
	data := Marshal(&e)
	var d Event
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Unmarshal(data, &d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}

// BenchmarkValidateRinging measures Validate of a valid event.
func BenchmarkValidateRinging(b *testing.B) {
	e := ringing()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
