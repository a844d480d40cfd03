package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{nil, 2, "switchboard serve"},
		{[]string{"--help"}, 0, "switchboard tail"},
		{[]string{"version"}, 0, "go1."},
		{[]string{"version", "--help"}, 0, "Usage: switchboard version"},
		{[]string{"serve", "--help"}, 0, "--kafka-brokers"},
		{[]string{"serve", "--partitions", "0"}, 2, "--partitions"},
		{[]string{"tail", "--help"}, 0, "kafka-brokers"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"hash-token", "--new"}, 0, "hash:  sha256:"},
		{[]string{"hash-token", "--help"}, 0, "Usage: switchboard hash-token"},
		{[]string{"hash-token", "a-token-as-argument"}, 2, "standard input"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb)
			all := out.String() + errb.String()
			if code != c.code || !strings.Contains(all, c.want) {
				t.Fatalf("exit %d, want %d; output lacks %q:\n%s", code, c.code, c.want, all)
			}
		})
	}
}
