//! The reply: sessions the forward pass left (security groups, connection tracking, NAT)
//! and how a reply finds and reverses them.

use crate::engine::step::Detail;
use crate::engine::trace::{Hop, Packet, Step, StepAction, StepKind};
use crate::engine::walk::{DeviceSession, Walker};
use crate::graph::region::F;
use crate::net::addr::Protocol;

impl<'a> Walker<'a> {
    pub(super) fn find_session(&self, d: usize, reply: Packet) -> Option<DeviceSession> {
        self.sessions
            .devices
            .iter()
            .find(|s| s.dev == d && s.left.reversed() == reply)
            .cloned()
    }

    /// A reply without a session is INVALID to connection tracking for TCP and ICMP;
    /// a UDP (or GRE) reply is simply a new flow. Protocols are told apart here, so no
    /// other protocol is treated alike any more (see `Narrow::alike`).
    pub(super) fn reply_is_invalid(&mut self, pkt: Packet) -> bool {
        self.nw.alike = None;
        matches!(pkt.protocol, Protocol::Tcp | Protocol::Icmp)
    }

    /// A reply of a known session arriving: the reverse of the forward pass's source NAT
    /// happens on arrival (PREROUTING). The forward packet arrived from
    /// `s.arrived.src` (before any source NAT): that is restored as the reply's
    /// destination.
    pub(super) fn reverse_on_arrival(
        &mut self,
        s: &DeviceSession,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Packet {
        let orig = s.arrived.reversed();
        let mut out = pkt;
        out.dst = orig.dst;
        out.dst_port = orig.dst_port;
        self.nw.set(F::Dst, s.arrived_sym[0]);
        self.nw.set(F::Dport, s.arrived_sym[2]);
        if out != pkt {
            hop.push(|| Step {
                kind: StepKind::Nat,
                action: StepAction::Translate,
                rule: None,
                detail: Detail::ReplyDestination {
                    from: pkt.dst,
                    to: out.dst,
                },
            });
        }
        out
    }

    /// A reply of a known session departing: the reverse of the forward pass's
    /// destination NAT (no new NAT lookup).
    pub(super) fn reverse_on_departure(
        &mut self,
        s: &DeviceSession,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Packet {
        let orig = s.arrived.reversed();
        let mut out = pkt;
        out.src = orig.src;
        out.src_port = orig.src_port;
        self.nw.set(F::Src, s.arrived_sym[1]);
        self.nw.set(F::Sport, s.arrived_sym[3]);
        if out != pkt {
            hop.push(|| Step {
                kind: StepKind::Nat,
                action: StepAction::Translate,
                rule: None,
                detail: Detail::ReplySource {
                    from: pkt.src,
                    to: out.src,
                },
            });
        }
        out
    }
}
