package main

import (
	"flag"
	"testing"

	"github.com/aha-inference/aha/quant"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in     string
		tokens int
		bytes  int64
		bad    bool
	}{
		{"32768", 32768, 0, false},
		{"512MiB", 0, 512 << 20, false},
		{"4GB", 0, 4e9, false},
		{"1.5GiB", 0, 3 << 29, false},
		{"100000B", 0, 100000, false},
		{"0", 0, 0, true},
		{"-5", 0, 0, true},
		{"lots", 0, 0, true},
		{"GiB", 0, 0, true},
	} {
		tokens, bytes, err := parseSize(tc.in)
		if (err != nil) != tc.bad || tokens != tc.tokens || bytes != tc.bytes {
			t.Errorf("%q: %d tokens, %d bytes, %v", tc.in, tokens, bytes, err)
		}
	}
}

// TestKVTypeFlag: --kv-type takes the three KV types in any case, f16
// unless told, and refuses the rest.
func TestKVTypeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want quant.Type
		bad  bool
	}{
		{nil, quant.F16, false},
		{[]string{"--kv-type", "f32"}, quant.F32, false},
		{[]string{"--kv-type", "BF16"}, quant.BF16, false},
		{[]string{"--kv-type", "q8_0"}, 0, true},
		{[]string{"--kv-type", "f64"}, 0, true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var ef engineFlags
		ef.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o, err := ef.options()
		if (err != nil) != tc.bad || !tc.bad && o.KVType != tc.want {
			t.Errorf("%v: type %v, error %v", tc.args, o.KVType, err)
		}
	}
}
