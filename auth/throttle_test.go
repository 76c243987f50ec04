package auth

import (
	"fmt"
	"testing"
)

func TestThrottleLocksUserAndAddressTogether(t *testing.T) {
	th := newThrottle()
	for range pairFailures {
		th.fail("x", "10.0.0.1")
	}
	if th.wait("x", "10.0.0.1") <= 0 {
		t.Fatal("the failing address is not locked out of x")
	}
	if w := th.wait("x", "10.0.0.2"); w > 0 {
		t.Fatalf("x is locked out from another address for %v", w)
	}
	if w := th.wait("y", "10.0.0.1"); w > 0 {
		t.Fatalf("the address is locked out of another user for %v", w)
	}
	th.succeed("x", "10.0.0.2")
	if th.wait("x", "10.0.0.1") <= 0 {
		t.Fatal("x's login from elsewhere unlocked the failing address")
	}
}

// Many addresses cannot guess without bound: once failures from userFailures/pairFailures
// addresses add up, the user is locked for everyone. One address alone never gets there.
func TestThrottleBoundsGuessesFromManyAddresses(t *testing.T) {
	th := newThrottle()
	for range 10 * userFailures { // one address failing on and on counts only pairFailures
		th.fail("x", "10.0.0.1")
	}
	if w := th.wait("x", "10.0.0.2"); w > 0 {
		t.Fatalf("one address locked x out everywhere (for %v)", w)
	}
	addrs := userFailures / pairFailures
	for i := range addrs - 2 { // 10.0.0.1 already counted, and one more to go
		for range pairFailures {
			th.fail("x", fmt.Sprintf("10.1.%d.%d", i/256, i%256))
		}
	}
	if w := th.wait("x", "10.0.0.2"); w > 0 {
		t.Fatalf("x locked out everywhere after %d addresses (for %v)", addrs-1, w)
	}
	for range pairFailures {
		th.fail("x", "10.2.0.1")
	}
	if th.wait("x", "10.0.0.2") <= 0 {
		t.Fatalf("%d addresses x %d failures and x is not locked", addrs, pairFailures)
	}
}

// An IPv6 /64 is one address: its 2^64 addresses do not each get a budget.
func TestThrottleCountsIPv6By64(t *testing.T) {
	th := newThrottle()
	for i := range pairFailures {
		th.fail("x", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if th.wait("x", "2001:db8:1:2:ffff::1") <= 0 {
		t.Fatal("another address of the same /64 is not locked")
	}
	if w := th.wait("x", "2001:db8:1:3::1"); w > 0 {
		t.Fatalf("another /64 is locked for %v", w)
	}
	for range pairFailures {
		th.fail("y", "::ffff:10.0.0.1") // IPv4-mapped: the IPv4 address
	}
	if th.wait("y", "10.0.0.1") <= 0 {
		t.Fatal("an IPv4-mapped address counted apart from its IPv4 address")
	}
}
