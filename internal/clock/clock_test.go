package clock

import (
	"testing"
	"time"
)

func TestReal(t *testing.T) {
	var c Clock = Real{}
	a := c.Now()
	time.Sleep(time.Millisecond)
	b := c.Now()
	if b-a < int64(time.Millisecond) {
		t.Fatalf("clock moved %d ns over a 1 ms sleep", b-a)
	}
}

func TestFake(t *testing.T) {
	f := NewFake(100)
	var c Clock = f
	if c.Now() != 100 {
		t.Fatal(c.Now())
	}
	if got := f.Advance(time.Second); got != 100+int64(time.Second) || c.Now() != got {
		t.Fatal(got, c.Now())
	}
	f.Set(7)
	if c.Now() != 7 {
		t.Fatal(c.Now())
	}
}
