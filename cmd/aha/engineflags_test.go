package main

import (
	"errors"
	"flag"
	"strings"
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

// TestDeviceFlag: --device and -t belong to the engine flags: cpu unless
// told, cuda accepted (the loader falls back to the CPU without a GPU),
// anything else a usage error naming it; both reach the load options.
func TestDeviceFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		device  string
		threads int
		bad     bool
	}{
		{nil, "cpu", 0, false},
		{[]string{"--device", "cuda", "-t", "3"}, "cuda", 3, false},
		{[]string{"--device", "tpu"}, "", 0, true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var ef engineFlags
		ef.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := ef.options()
		var u usageError
		if tc.bad {
			if !errors.As(err, &u) || !strings.Contains(err.Error(), `"tpu"`) {
				t.Errorf("%v: %v, want a usage error naming the device", tc.args, err)
			}
			continue
		}
		if o := ef.load("a", "b"); err != nil || o.Device != tc.device || o.Threads != tc.threads || o.LoRA != "a" || o.Template != "b" {
			t.Errorf("%v: load options %+v, error %v", tc.args, o, err)
		}
	}
}
