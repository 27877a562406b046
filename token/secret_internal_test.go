package token

import "testing"

// The saved key state is in use with this x/crypto: if a future version changed
// its state format, NewHasher would fall back to plain keyed hashing (still
// correct), and this test says the speed-up is gone.
func TestHasherUsesSavedKeyState(t *testing.T) {
	for _, n := range []int{MinKeyLen, 48, MaxKeyLen} {
		h, err := NewHasher(make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		if h.state == nil {
			t.Fatalf("key of %d bytes: the saved state disagrees with keyed BLAKE2b; Hash runs the slow way", n)
		}
	}
}
