//! The on-prem side: a device sending its own packet, a packet arriving (inbound SA,
//! rp_filter, connection tracking, destination NAT, local delivery), routing and the
//! filter chains, departing (source NAT, IPsec policy) and the next device on the link.

use crate::engine::cause::Cause;
use crate::engine::decide::*;
use crate::engine::step::{Detail, Note};
use crate::engine::trace::{Disposition, Hop, Packet, Step, StepAction, StepKind};
use crate::engine::walk::{note, At, DeviceSession, Next, Walker};
use crate::graph::region::{member, F};
use crate::input::{Action, IpsecMode, NatAction, Role, RpFilter};
use crate::model::rules::RouteChoice;
use crate::model::ChainKind;

impl<'a> Walker<'a> {
    /// A packet the device sends itself: route (which picks the source address), output
    /// chain, source NAT, IPsec. To one of its own addresses it is delivered locally:
    /// output chain, then input chain, over the loopback (no interface), never routed out.
    pub(super) fn device_send(
        &mut self,
        d: usize,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<Note>,
    ) -> Next {
        self.arrived_sym = self.nw.sym;
        let session = if self.reply {
            self.find_session(d, pkt)
        } else {
            None
        };
        if self.owned(F::Dst, pkt.dst) && self.m.devices[d].owns(pkt.dst) {
            let known = session.is_some();
            if let Err(c) = self.filter(d, ChainKind::Output, None, None, pkt, known, hop) {
                return Next::End(Disposition::Dropped, Some(c));
            }
            return self.deliver_local(d, None, pkt, pkt, known, hop);
        }
        let r = match self.route_and_filter(d, ChainKind::Output, None, pkt, session.is_some(), hop)
        {
            Ok(r) => r,
            Err(end) => return end,
        };
        self.depart(d, pkt, pkt, r, session, hop, notes)
    }

    /// A packet arriving at device `d` (on interface `in_iface`, or out of the tunnel of
    /// connection `tunnel`): inbound SA check, connection tracking and destination NAT,
    /// then local delivery or forwarding, each validating the source (martian source,
    /// rp_filter) where Linux does.
    pub(super) fn device_arrive(
        &mut self,
        d: usize,
        in_iface: Option<usize>,
        tunnel: Option<usize>,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<Note>,
    ) -> Next {
        let dev = &self.m.devices[d];
        // 1. Inbound SA check for a packet that came out of a tunnel.
        if let Some(c) = tunnel {
            if let Some(end) = self.tunnel_arrival(d, c, pkt, hop) {
                return end;
            }
        }
        // 2. Connection tracking: a reply of a known session is reverse-translated; a
        //    new packet gets destination NAT.
        let session = if self.reply {
            self.find_session(d, pkt)
        } else {
            None
        };
        let arrived = pkt;
        self.arrived_sym = self.nw.sym;
        let pkt = match &session {
            Some(s) => self.reverse_on_arrival(s, pkt, hop),
            None => match self.new_on_arrival(d, in_iface, pkt, hop) {
                Ok(p) => p,
                Err(end) => return end,
            },
        };
        // 3. Local delivery, once the source is validated.
        if self.owned(F::Dst, pkt.dst) && dev.owns(pkt.dst) {
            if let Some(c) = self.validate_source(d, in_iface, pkt, hop) {
                return Next::End(Disposition::Dropped, Some(c));
            }
            return self.deliver_local(d, in_iface, arrived, pkt, session.is_some(), hop);
        }
        // 4. Forwarding (ip_forward, route, source validation, forward chain).
        if !dev.forwarding {
            hop.push(|| Step {
                kind: StepKind::Kernel,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::NoForwarding { dev: d },
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::ForwardingDisabled { dev: d }),
            );
        }
        let r = match self.route_and_filter(
            d,
            ChainKind::Forward,
            in_iface,
            pkt,
            session.is_some(),
            hop,
        ) {
            Ok(r) => r,
            Err(end) => return end,
        };
        self.depart(d, arrived, pkt, r, session, hop, notes)
    }

    /// A new packet (no session) arriving at device `d`: a reply Linux connection tracking
    /// marks INVALID passes untranslated (a non-Linux firewall drops it as a session
    /// miss); otherwise destination NAT. The packet as translated, or how the path ends.
    fn new_on_arrival(
        &mut self,
        d: usize,
        in_iface: Option<usize>,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Result<Packet, Next> {
        let dev = &self.m.devices[d];
        let invalid = self.reply && dev.stateful() && self.reply_is_invalid(pkt);
        if invalid {
            if !dev.is_linux() {
                hop.push(|| Step {
                    kind: StepKind::Filter,
                    action: StepAction::Drop,
                    rule: None,
                    detail: Detail::SessionMiss,
                });
                return Err(Next::End(
                    Disposition::Dropped,
                    Some(Cause::SessionMiss { dev: d }),
                ));
            }
            hop.push(|| Step {
                kind: StepKind::Filter,
                action: StepAction::Pass,
                rule: None,
                detail: Detail::ConntrackInvalid,
            });
            return Ok(pkt);
        }
        let Some((rule, after)) = nat_lookup_in(
            dev,
            NatAction::DestinationNat,
            pkt,
            in_iface,
            None,
            &mut self.nw,
        ) else {
            return Ok(pkt);
        };
        self.nw.set_const(F::Dst);
        if after.dst_port != pkt.dst_port {
            self.nw.set_const(F::Dport);
        }
        hop.push(|| Step {
            kind: StepKind::Nat,
            action: StepAction::Translate,
            rule: Some(dev.nat[rule].id.clone()),
            detail: Detail::Dnat { before: pkt, after },
        });
        Ok(after)
    }

    /// Delivery to device `d` itself: its input chain, then the session the reply will
    /// find.
    fn deliver_local(
        &mut self,
        d: usize,
        in_iface: Option<usize>,
        arrived: Packet,
        pkt: Packet,
        known: bool,
        hop: &mut Hop,
    ) -> Next {
        if let Err(c) = self.filter(d, ChainKind::Input, in_iface, None, pkt, known, hop) {
            return Next::End(Disposition::Dropped, Some(c));
        }
        if !self.reply {
            self.sessions.devices.push(DeviceSession {
                dev: d,
                arrived,
                left: pkt,
                arrived_sym: self.arrived_sym,
            });
        }
        hop.push(|| Step {
            kind: StepKind::Deliver,
            action: StepAction::Deliver,
            rule: None,
            detail: Detail::DeliveredDevice {
                dev: d,
                addr: pkt.dst,
            },
        });
        Next::End(Disposition::Delivered, None)
    }

    /// Route `pkt` on device `d` (longest prefix) and run `chain` on it (the output chain
    /// for the device's own packets, forward for transit): the route taken, or how the
    /// path ends.
    pub(super) fn route_and_filter(
        &mut self,
        d: usize,
        chain: ChainKind,
        in_iface: Option<usize>,
        pkt: Packet,
        known: bool,
        hop: &mut Hop,
    ) -> Result<&'a RouteChoice, Next> {
        let Some(r) = self.route(d, F::Dst, pkt.dst) else {
            hop.push(|| Step {
                kind: StepKind::Route,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::DeviceNoRoute { dst: pkt.dst },
            });
            return Err(Next::End(
                Disposition::Dropped,
                Some(Cause::DeviceNoRoute {
                    dev: d,
                    reply: self.reply,
                }),
            ));
        };
        hop.push(|| route_step(d, r, pkt.dst));
        if chain == ChainKind::Forward {
            if let Some(c) = self.validate_source(d, in_iface, pkt, hop) {
                return Err(Next::End(Disposition::Dropped, Some(c)));
            }
        }
        if let Err(c) = self.filter(d, chain, in_iface, r.out_iface, pkt, known, hop) {
            return Err(Next::End(Disposition::Dropped, Some(c)));
        }
        Ok(r)
    }

    /// Leaving a device: source NAT (first packet only), then the IPsec outbound policy
    /// of the outgoing interface, then the next hop.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn depart(
        &mut self,
        d: usize,
        arrived: Packet,
        pkt: Packet,
        r: &RouteChoice,
        session: Option<DeviceSession>,
        hop: &mut Hop,
        notes: &mut Vec<Note>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let mut pkt = pkt;
        let pre_nat = pkt;
        self.pre_nat_sym = self.nw.sym;
        let mut snat_rule = None;
        match &session {
            Some(s) => pkt = self.reverse_on_departure(s, pkt, hop),
            None if !(self.reply && dev.stateful() && self.reply_is_invalid(pkt)) => {
                if let Some((rule, new)) = nat_lookup_in(
                    dev,
                    NatAction::SourceNat,
                    pkt,
                    None,
                    r.out_iface,
                    &mut self.nw,
                ) {
                    let before = pkt;
                    pkt = new;
                    self.nw.set_const(F::Src);
                    snat_rule = Some(rule);
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Translate,
                        rule: Some(dev.nat[rule].id.clone()),
                        detail: Detail::Snat {
                            from: before.src,
                            to: pkt.src,
                        },
                    });
                } else if let Some(rule) = nat_exempt_in(dev, pkt, r.out_iface, &mut self.nw) {
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Pass,
                        rule: Some(dev.nat[rule].id.clone()),
                        detail: Detail::NoNat,
                    });
                }
            }
            None => {}
        }
        if !self.reply && session.is_none() {
            self.sessions.devices.push(DeviceSession {
                dev: d,
                arrived,
                left: pkt,
                arrived_sym: self.arrived_sym,
            });
        }
        // Route-mode tunnel.
        if let Some(c) = r.tunnel {
            return self.enter_tunnel_idc(d, c, pkt, hop, None, pre_nat, snat_rule);
        }
        // Policy-mode IPsec on the outgoing interface, after source NAT.
        if let Some(f) = r.out_iface {
            let entries = dev
                .ipsec
                .iter()
                .enumerate()
                .filter(|(_, e)| e.mode == IpsecMode::Policy && e.interface == Some(f))
                .map(|(i, _)| i);
            let idx = self.idx;
            let mut any = false;
            for e in entries {
                any = true;
                let entry = &dev.ipsec[e];
                if self.sa(&idx.dev_sas[d][e], pkt, true).is_some() {
                    return self.enter_tunnel_idc(
                        d,
                        entry.connection,
                        pkt,
                        hop,
                        Some(e),
                        pre_nat,
                        snat_rule,
                    );
                }
            }
            if any {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Pass,
                    rule: None,
                    detail: Detail::SentInClear {
                        dev: d,
                        iface: f,
                        src: pkt.src,
                        dst: pkt.dst,
                    },
                });
            }
        }
        self.next_device(d, r, pkt, pre_nat, snat_rule, hop, notes)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn next_device(
        &mut self,
        d: usize,
        r: &RouteChoice,
        pkt: Packet,
        pre_nat: Packet,
        snat: Option<usize>,
        hop: &mut Hop,
        notes: &mut Vec<Note>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let target = r.gateway.unwrap_or(pkt.dst);
        let out = r.out_iface;
        // The device on the outgoing subnet that holds the next-hop address.
        if r.gateway.is_none() {
            self.owned(F::Dst, pkt.dst);
        }
        // The graph's one adjacency rule: a device on the outgoing interface's subnet.
        let holder = out.and_then(|o| self.idx.link_holder(d, o, target));
        if let Some((nd, nf)) = holder {
            return Next::Go(
                At::Device {
                    dev: nd,
                    in_iface: Some(nf),
                    tunnel: None,
                },
                pkt,
            );
        }
        // Directly connected destination with no device holding it: an unmodelled host.
        if r.gateway.is_none() {
            if let Some(o) = out {
                if dev.interfaces[o].net.contains(&pkt.dst) {
                    note(
                        self.quiet,
                        notes,
                        Note::UnmodelledOnpremHost {
                            addr: pkt.dst,
                            dev: d,
                            iface: o,
                        },
                    );
                    hop.push(|| Step {
                        kind: StepKind::Deliver,
                        action: StepAction::Deliver,
                        rule: None,
                        detail: Detail::DeliveredOnpremHost {
                            addr: pkt.dst,
                            dev: d,
                            iface: o,
                        },
                    });
                    return Next::End(Disposition::Delivered, None);
                }
            }
        }
        hop.push(|| Step {
            kind: StepKind::Exit,
            action: StepAction::Exit,
            rule: Some(r.id.clone()),
            detail: Detail::LeavesNetwork {
                dev: d,
                gateway: r.gateway,
                out_iface: out,
            },
        });
        if self.exit_expected(d, out, pkt) {
            return Next::End(Disposition::ExitsNetwork, None);
        }
        let cause = self.exit_cause(d, r, pkt, pre_nat, snat);
        Next::End(Disposition::ExitsNetwork, Some(cause))
    }

    /// Leaving is the expected end of a path to a host beyond the model (an address
    /// outside every vSwitch and connected subnet) when it leaves through an `inside`
    /// interface, or when the destination is in neither the VPC nor a connection's
    /// subnets (SPEC "Trace endpoints"); a packet for the VPC or a connection's subnets
    /// leaving through an outside interface is a fault.
    fn exit_expected(&mut self, d: usize, out: Option<usize>, pkt: Packet) -> bool {
        let v = u32::from(pkt.dst);
        if self.owned(F::Dst, pkt.dst) {
            return false;
        }
        let idx = self.idx;
        if idx
            .endpoint_nets
            .lookup_on(&mut self.nw, F::Dst, v)
            .is_some()
        {
            return false;
        }
        if out.is_some_and(|o| self.m.devices[d].interfaces[o].role == Role::Inside) {
            return true;
        }
        if member(&mut self.nw, &idx.vpc_iv, F::Dst, v) {
            return false;
        }
        for (local, remote) in idx.conn_cfg.iter() {
            if member(&mut self.nw, local, F::Dst, v) || member(&mut self.nw, remote, F::Dst, v) {
                return false;
            }
        }
        true
    }

    /// Linux validates an arriving packet's source once its route is known (after
    /// destination NAT, the forwarding check and the route lookup for a packet to
    /// forward; before the input chain for one to deliver): a source that is one of the
    /// device's own addresses is a martian (the packet came back to the device that sent
    /// it), then the reverse-path filter of the arrival interface.
    fn validate_source(
        &mut self,
        d: usize,
        in_iface: Option<usize>,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Option<Cause> {
        let f = in_iface?;
        if self.owned(F::Src, pkt.src) && self.m.devices[d].owns(pkt.src) {
            hop.push(|| Step {
                kind: StepKind::Kernel,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::MartianSource {
                    src: pkt.src,
                    dev: d,
                    iface: f,
                },
            });
            return Some(Cause::MartianSource { dev: d, iface: f });
        }
        self.rp_filter(d, f, pkt, hop)
    }

    /// Linux rp_filter: strict drops a packet whose source would not be routed back out
    /// of the interface it came in on; loose drops it only when the source has no route.
    pub(super) fn rp_filter(
        &mut self,
        d: usize,
        f: usize,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Option<Cause> {
        let dev = &self.m.devices[d];
        if dev.rp_filter == RpFilter::Off {
            return None;
        }
        let back = self.route(d, F::Src, pkt.src);
        let bad = match dev.rp_filter {
            RpFilter::Off => false,
            RpFilter::Loose => back.is_none(),
            RpFilter::Strict => back.as_ref().is_none_or(|r| r.out_iface != Some(f)),
        };
        if bad {
            hop.push(|| Step {
                kind: StepKind::Kernel,
                action: StepAction::Drop,
                rule: None,
                detail: Detail::RpFilter {
                    mode: dev.rp_filter,
                    src: pkt.src,
                    dev: d,
                    iface: f,
                },
            });
            return Some(Cause::RpFilter { dev: d, iface: f });
        }
        None
    }

    /// Ordered first-match filter chain (iptables semantics). A reply of a known session
    /// on a stateful device is accepted as ESTABLISHED before the rules.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn filter(
        &mut self,
        d: usize,
        chain: ChainKind,
        in_iface: Option<usize>,
        out_iface: Option<usize>,
        pkt: Packet,
        known: bool,
        hop: &mut Hop,
    ) -> Result<(), Cause> {
        let dev = &self.m.devices[d];
        let Some(f) = &dev.filter else { return Ok(()) };
        let Some(c) = f.chain(chain) else {
            return Ok(());
        };
        if known && f.stateful {
            hop.push(|| Step {
                kind: StepKind::Filter,
                action: StepAction::Accept,
                rule: None,
                detail: Detail::Established { chain },
            });
            return Ok(());
        }
        if let Some(a) = &self.nw.alike {
            let src = self.nw.range(F::Src, u32::from(pkt.src));
            let dst = self.nw.range(F::Dst, u32::from(pkt.dst));
            if a.chain_tells_apart(d, chain, in_iface, src, dst) {
                self.nw.alike = None;
            }
        }
        let candidates = pkt.protocol.concrete_index().map(|p| {
            let k = crate::graph::index::chain_position(chain);
            let slot = in_iface.map_or(0, |f| f + 1);
            self.idx.chain_rules[d][k][p][slot].as_slice()
        });
        let (rule, action) = filter_decide_in(
            dev,
            chain,
            in_iface,
            out_iface,
            pkt,
            &mut self.nw,
            candidates,
        )
        .expect("chain exists");
        hop.push(|| Step {
            kind: StepKind::Filter,
            action: if action == Action::Accept {
                StepAction::Accept
            } else {
                StepAction::Drop
            },
            rule: rule.map(|r| c.rules[r].id.clone()),
            detail: Detail::Chain {
                chain,
                matched: rule.is_some(),
                action,
            },
        });
        if action == Action::Accept {
            Ok(())
        } else {
            Err(Cause::FilterDrop {
                dev: d,
                chain,
                rule,
                reply: self.reply,
                stateless: !f.stateful,
            })
        }
    }
}
