package cluster

import "time"

// SIPOwner says where the SIP requests of tenant id go: here (local), or
// to the advertised SIP address of the node serving it (from the owners
// topic); ok is false while no node serves it (a handover) or its owner
// has no SIP address.
func (n *Node) SIPOwner(id string) (addr string, local, ok bool) {
	t, o, ok := n.Route(id)
	if t != nil {
		return "", true, true
	}
	return o.SIP, false, ok && o.SIP != ""
}

// SIPPeer reports whether addr (host:port) is the advertised SIP address
// of a node serving shards (the owners topic), of a node that announced
// itself (owning shards or not), or this node's own.
func (n *Node) SIPPeer(addr string) bool {
	if addr == n.cfg.SIP {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range n.table {
		if o.SIP == addr {
			return true
		}
	}
	now := time.Now()
	for _, o := range n.members {
		if o.SIP == addr && !n.down(o, now) {
			return true
		}
	}
	return false
}
