package main

import "testing"

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
