package tls

// Lent returns the bytes the engine holds now, for reporting (a card's status): its Footprint
// (struct, handshake state and buffers) and the expanded AEAD state of each direction keyed and
// not shed (aeadStateSize). Objects Go's crypto packages hold only during a handshake (transcript
// hashes, key shares) and a client's parsed certificates are not counted. It allocates nothing.
func (e *Engine) Lent() int {
	n := e.Footprint()
	if e.suite != nil {
		if e.rd.aead != nil {
			n += e.suite.aeadStateSize()
		}
		if e.wr.aead != nil {
			n += e.suite.aeadStateSize()
		}
	}
	return n
}

// HelloRoom returns the largest ClientHello (handshake message, header included) a fresh server
// engine reassembles without growing its buffer under the HandshakeBudget: the ClientHello area of
// its handshake slab. 0 for a client or once the hello was read.
func (e *Engine) HelloRoom() int {
	if e.client || e.hsState == nil || !e.helloArea {
		return 0
	}
	return cap(e.hsBuf)
}
